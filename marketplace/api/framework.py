"""The JSON API's plumbing.

Each operation is declared once, with :func:`operation`: its path and method, the pydantic
models of its query string, body and answer, who may call it and which errors it gives.
The same declaration routes the request, authenticates the bearer token, validates the
input (422 with the failing fields), shapes the answer, and becomes the operation's entry
in the OpenAPI 3.1 document (:func:`openapi_document`): the document is generated from
the code, never written by hand.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Callable

from flask import Response, current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from sqlalchemy import BigInteger, select

from ..extensions import db, limiter
from ..models import ApiToken, User
from ..models.base import hash_token, utcnow
from ..security import bearer_token

API_PREFIX = "/api/v1"
MAX_ID = 2**31 - 1


class ApiError(Exception):
    """An answer other than success: ``{"error": {"code", "message", "fields"}}``."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(code)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


# HTTP status → the stable code machines switch on.
CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid", 429: "rate_limited", 500: "server_error",
}

MESSAGES = {
    400: _l("Yêu cầu không hợp lệ."),
    401: _l("Cần mã truy cập hợp lệ (Authorization: Bearer …)."),
    403: _l("Mã truy cập này không có quyền thực hiện thao tác."),
    404: _l("Không tìm thấy."),
    405: _l("Phương thức không được hỗ trợ."),
    409: _l("Không thể thực hiện thao tác với trạng thái hiện tại."),
    413: _l("Tệp tải lên quá lớn (tối đa 5 MB)."),
    415: _l("Nội dung phải là JSON (Content-Type: application/json)."),
    422: _l("Dữ liệu không hợp lệ."),
    429: _l("Quá nhiều yêu cầu. Hãy thử lại sau số giây trong Retry-After."),
    500: _l("Đã có lỗi xảy ra. Vui lòng thử lại sau."),
}


def error_body(status: int, message: str | None = None, fields: dict | None = None, code: str | None = None) -> dict:
    return {"error": {"code": code or CODES.get(status, "error"),
                      "message": message or str(MESSAGES.get(status, MESSAGES[500])),
                      "fields": fields or {}}}


def error_response(status: int, message: str | None = None, fields: dict | None = None, code: str | None = None):
    response = jsonify(error_body(status, message, fields, code))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'  # RFC 6750
    return response


def fail(status: int, fields: dict[str, str | list[str]] | None = None, message: str | None = None,
         code: str | None = None):
    """Raise the API error for ``status``; ``fields`` maps a field to its message(s)."""
    fields = {k: [v] if isinstance(v, str) else list(v) for k, v in (fields or {}).items()}
    raise ApiError(status, code or CODES.get(status, "error"), message or str(MESSAGES.get(status, MESSAGES[500])), fields)


# ---- validation messages in the user's language -------------------------------------------

_PYDANTIC_MESSAGES = {
    "missing": _l("Trường bắt buộc."),
    "extra_forbidden": _l("Trường này không được hỗ trợ."),
    "string_too_short": _l("Quá ngắn (tối thiểu %(min_length)s ký tự)."),
    "string_too_long": _l("Quá dài (tối đa %(max_length)s ký tự)."),
    "string_pattern_mismatch": _l("Sai định dạng."),
    "greater_than": _l("Phải lớn hơn %(gt)s."),
    "greater_than_equal": _l("Phải từ %(ge)s trở lên."),
    "less_than": _l("Phải nhỏ hơn %(lt)s."),
    "less_than_equal": _l("Không được quá %(le)s."),
    "literal_error": _l("Giá trị không nằm trong danh sách cho phép: %(expected)s."),
    "enum": _l("Giá trị không nằm trong danh sách cho phép: %(expected)s."),
    "json_invalid": _l("JSON không hợp lệ."),
    "model_type": _l("Nội dung phải là một đối tượng JSON."),
    "model_attributes_type": _l("Nội dung phải là một đối tượng JSON."),
}
_TYPE_MESSAGES = {
    "int": _l("Phải là số nguyên."), "float": _l("Phải là một số."), "string": _l("Phải là chuỗi ký tự."),
    "bool": _l("Phải là true hoặc false."), "date": _l("Phải là ngày dạng YYYY-MM-DD."),
    "datetime": _l("Phải là thời điểm dạng ISO 8601, có múi giờ."), "dict": _l("Phải là một đối tượng JSON."),
    "list": _l("Phải là một danh sách."), "timezone": _l("Thời điểm phải có múi giờ."),
}


def _message(error: dict) -> str:
    kind = error["type"]
    template = _PYDANTIC_MESSAGES.get(kind)
    if template is None:
        for prefix, text in _TYPE_MESSAGES.items():
            if kind.startswith(prefix):
                template = text
                break
    if template is None:
        if kind == "value_error":  # our own validators raise ValueError with a translated text
            return str(error.get("ctx", {}).get("error") or error["msg"])
        return error["msg"]
    try:
        return str(template) % {k: v for k, v in (error.get("ctx") or {}).items()}
    except (KeyError, TypeError, ValueError):
        return str(template)


def validation_fields(exc: ValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "body"
        fields.setdefault(name, []).append(_message(error))
    return fields


def parse_body(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != "application/json":
        fail(415)
    try:
        return model.model_validate_json(request.get_data(cache=True) or b"")
    except ValidationError as exc:
        fail(422, validation_fields(exc))


def parse_query(model: type[BaseModel]) -> BaseModel:
    repeated = {name: _("Tham số chỉ được gửi một lần.") for name, values in request.args.lists() if len(values) > 1}
    if repeated:
        fail(422, repeated)
    try:
        return model.model_validate(request.args.to_dict(flat=True))
    except ValidationError as exc:
        fail(422, validation_fields(exc))


# ---- authentication ------------------------------------------------------------------------

def bearer_user() -> User | None:
    """The active user behind ``Authorization: Bearer <token>``, or None.  A session cookie
    is never looked at: the API is CSRF-exempt, so only a token may act."""
    secret = bearer_token()
    if not secret or len(secret) > 200:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or not token.is_active or not token.user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        g.api_touch_token = token.id  # written after the answer (api.finish): reads stay reads
    g.api_token_id = token.id
    return token.user


def rate_key() -> str:
    """Per token (a cooperative's software behind a shared address keeps its own budget);
    per address for calls without one."""
    token_id = g.get("api_token_id")
    return f"api-token:{token_id}" if token_id else f"api-ip:{request.remote_addr}"


def _rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


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


def operation(bp, rule: str, method: str = "GET", *, summary: str, tag: str, access: str = "token",
              query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
              response: type[BaseModel] | None = None, status: int = 200,
              multipart: dict[str, str] | None = None, produces: str | None = None,
              errors: tuple[int, ...] = (), path_params: dict[str, dict] | None = None):
    """Declare an API operation on ``bp`` (see the module docstring).

    The view receives the path arguments, plus ``query=`` and ``body=`` (validated models)
    when declared, and returns a pydantic model (sent as JSON with ``status``), a plain
    dict/list, or a ready :class:`flask.Response`.
    """
    assert access in ("public", "token", "producer", "officer")

    def decorator(view: Callable):
        op = Operation(endpoint=f"{bp.name}.{view.__name__}", rule=API_PREFIX + rule, method=method,
                       summary=summary, description=(view.__doc__ or "").strip(), tag=tag, access=access,
                       query=query, body=body, response=response, status=status, multipart=multipart,
                       produces=produces, errors=tuple(errors), path_params=path_params or {})

        @wraps(view)
        def wrapped(**kwargs):
            from flask_login import current_user

            if access != "public" and not current_user.is_authenticated:
                fail(401)
            if access == "officer" and not current_user.is_officer:
                fail(403)
            if access == "producer" and current_user.producer_id is None:
                # officers change producers' data from the admin pages, where it is audited
                fail(403, message=_("Chỉ tài khoản của cơ sở sản xuất làm được thao tác này."))
            if query is not None:
                kwargs["query"] = parse_query(query)
            elif request.args:
                fail(422, {name: _("Tham số không được hỗ trợ.") for name in request.args})
            if body is not None:
                kwargs["body"] = parse_body(body)
            result = view(**kwargs)
            if isinstance(result, Response):
                return result
            if result is None:
                return Response(status=204)
            if response is not None and not isinstance(result, BaseModel):
                result = response.model_validate(result)
            payload = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
            answer = jsonify(payload)
            answer.status_code = status
            return answer

        # one budget per token across every operation (not one per endpoint)
        limited = limiter.shared_limit(_rate_limit, scope="api-v1", key_func=rate_key)(wrapped)
        bp.add_url_rule(rule, view.__name__, limited, methods=[method])
        OPERATIONS.append(op)
        return limited

    return decorator


# ---- cursors ---------------------------------------------------------------------------------

def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id after which the next page starts; 422 (field ``cursor``) for a cursor this API
    did not hand out."""
    if not cursor:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = data["after"]
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= 2**63 - 1:
            raise ValueError
        return after
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        fail(422, {"cursor": _("Con trỏ trang không hợp lệ: dùng next_cursor của trang trước.")})


def _max_id(id_column) -> int:
    return 2**63 - 1 if isinstance(id_column.type, BigInteger) else MAX_ID


def page(stmt, id_column, query, to_item: Callable) -> dict:
    """One page of ``stmt`` by ascending id after the query's cursor:
    ``{"data": [...], "next_cursor": str | None}``."""
    after = decode_cursor(query.cursor)
    if after >= _max_id(id_column):  # beyond any key (PostgreSQL would refuse the parameter)
        return {"data": [], "next_cursor": None}
    rows = db.session.scalars(stmt.where(id_column > after).order_by(id_column).limit(query.limit + 1)).all()
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return {"data": [to_item(row) for row in rows],
            "next_cursor": encode_cursor(rows[-1].id) if more and rows else None}


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
                "code": {"type": "string", "description": "stable, for programs: " + ", ".join(sorted(set(CODES.values())))},
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
                "description": str(MESSAGES.get(status, "")) or CODES.get(status, ""),
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
