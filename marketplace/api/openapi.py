"""The operations the API declares, and the OpenAPI 3.1 document made from them.

:func:`.framework.operation` records each declaration as an :class:`Operation` in
:data:`OPERATIONS`; :func:`openapi_document` turns them into the document served at
``/api/v1/openapi.json`` (and :func:`schema_text` shortens its schemas for the reference
page).  Nothing here handles a request: that is :mod:`.framework`, which re-exports these
names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..errors import API_CODES, API_MESSAGES

API_PREFIX = "/api/v1"
MAX_ID = 2**31 - 1


# ---- operations -----------------------------------------------------------------------------

@dataclass
class Operation:
    endpoint: str
    rule: str
    method: str
    summary: str
    description: str
    tag: str
    access: str  # "public" | "token" | "producer" | "officer"
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    multipart: dict[str, str] | None = None  # form field → its description
    produces: str | None = None  # a non-JSON answer (application/pdf, text/csv)
    errors: tuple[int, ...] = ()
    path_params: dict[str, dict] = field(default_factory=dict)


OPERATIONS: list[Operation] = []


# ---- the OpenAPI document -----------------------------------------------------------------------

_PARAM = re.compile(r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _path_and_params(op: Operation) -> tuple[str, list[dict]]:
    params = []

    def replace(match):
        name, converter = match["name"], match["converter"] or "string"
        schema = op.path_params.get(name) or (
            {"type": "integer", "minimum": 1, "maximum": MAX_ID} if converter == "int" else {"type": "string"})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _PARAM.sub(replace, op.rule.removeprefix(API_PREFIX)), params


def _error_schema() -> dict:
    return {
        "type": "object", "additionalProperties": False, "required": ["error"],
        "properties": {"error": {
            "type": "object", "additionalProperties": False, "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "description": "stable, for programs: " + ", ".join(sorted(set(API_CODES.values())))},
                "message": {"type": "string", "description": "for people, in the request's language (Accept-Language)"},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                           "description": "the invalid fields (dotted paths) and what is wrong with each"},
            }}},
    }


def openapi_document(*, title: str, version: str, description: str, server_url: str) -> dict:
    """The OpenAPI 3.1 document of every declared operation."""
    wanted = []
    for op in OPERATIONS:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        if op.response is not None:
            wanted.append((op.response, "serialization"))
    refs, defs = models_json_schema(wanted, ref_template="#/components/schemas/{model}") if wanted else ({}, {})
    schemas = dict(defs.get("$defs", {}))
    schemas["Error"] = _error_schema()
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        path, params = _path_and_params(op)
        if op.query is not None:
            query_schema = op.query.model_json_schema(mode="validation")
            required = set(query_schema.get("required", ()))
            for name, schema in query_schema.get("properties", {}).items():
                schema = {k: v for k, v in schema.items() if k != "title"}
                said = schema.pop("description", None)  # (not `description`: that is the document's)
                param = {"name": name, "in": "query", "required": name in required, "schema": schema}
                if said:
                    param["description"] = said
                params.append(param)
        entry: dict[str, Any] = {
            "operationId": op.endpoint.split(".", 1)[1], "summary": op.summary, "tags": [op.tag],
            "parameters": params, "responses": {},
        }
        if op.description:
            entry["description"] = op.description
        if op.access == "public":
            entry["security"] = []
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": refs[(op.body, "validation")]}}}
        elif op.multipart:
            entry["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": list(op.multipart),
                "properties": {name: {"type": "string", "format": "binary", "description": text}
                               for name, text in op.multipart.items()}}}}}
        if op.produces:
            ok = {"description": "OK", "content": {op.produces: {"schema": {"type": "string", "format": "binary"}}}}
        elif op.response is not None:
            ok = {"description": "OK", "content": {"application/json": {"schema": refs[(op.response, "serialization")]}}}
        else:
            ok = {"description": "Done, nothing to return"}
        entry["responses"][str(op.status if op.response or op.produces else 204)] = ok
        statuses = set(op.errors) | {400, 404, 429}  # 400: a NUL character in the URL
        if op.access != "public":
            statuses |= {401}
        if op.access in ("officer", "producer"):
            statuses |= {403}
        if op.body is not None or op.multipart:
            statuses |= {413}
        if op.query is not None or op.body is not None or op.multipart:
            statuses |= {422}
        if op.body is not None:
            statuses |= {415}
        for status in sorted(statuses):
            entry["responses"][str(status)] = {
                "description": str(API_MESSAGES.get(status, "")) or API_CODES.get(status, ""),
                "content": {"application/json": {"schema": _ERROR_REF}}}
        paths.setdefault(path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "A personal access token from the account page (Tài khoản → Mã truy cập API)."}},
        },
    }


def schema_text(schema: dict) -> str:
    """A JSON Schema in a few words for the reference page: ``integer 1…100``, ``list[Batch]``."""
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(schema_text(s) for s in schema["anyOf"])
    if "enum" in schema or "const" in schema:
        return " | ".join(repr(v) for v in schema.get("enum", [schema.get("const")]))
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list[{schema_text(schema.get('items', {}))}]"
    if kind == "object" and "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
        return f"map[string, {schema_text(schema['additionalProperties'])}]"
    text = schema.get("format", kind) if kind == "string" else kind
    low = schema.get("minimum", schema.get("exclusiveMinimum", schema.get("minLength")))
    high = schema.get("maximum", schema.get("maxLength"))
    if low is not None or high is not None:
        text += f" {'' if low is None else low}…{'' if high is None else high}"
    if schema.get("pattern"):
        text += f" /{schema['pattern']}/"
    return text
