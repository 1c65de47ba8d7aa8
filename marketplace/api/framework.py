"""The JSON API's plumbing.

Each operation is declared once, with :func:`operation`: its path and method, the pydantic
models of its query string, body and answer, who may call it and which errors it gives.
The same declaration routes the request, authenticates the bearer token, validates the
input (422 with the failing fields), shapes the answer, and becomes the operation's entry
in the OpenAPI 3.1 document (:func:`openapi_document`): the document is generated from
the code, never written by hand.

This module handles requests; the declarations and the document are in :mod:`.openapi`,
the error body in :mod:`marketplace.errors` (the app's error handlers answer ``/api/`` in
it too).  Their names are re-exported here, so an operation module imports everything it
needs from this one.
"""
from __future__ import annotations

import base64
import binascii
import json
from functools import wraps
from typing import Callable

from flask import Response, current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from pydantic import BaseModel, ValidationError
from sqlalchemy import BigInteger, select

from ..errors import API_CODES, API_MESSAGES, error_body, error_response
from ..extensions import db, limiter
from ..models import ApiToken, User
from ..models.base import hash_token, utcnow
from ..security import bearer_token
from .openapi import API_PREFIX, MAX_ID, OPERATIONS, Operation, openapi_document, schema_text

__all__ = [
    "API_CODES", "API_MESSAGES", "API_PREFIX", "MAX_ID", "OPERATIONS", "ApiError", "Operation", "bearer_user",
    "decode_cursor", "encode_cursor", "error_body", "error_response", "fail", "openapi_document", "operation",
    "page", "parse_body", "parse_query", "rate_key", "schema_text", "validation_fields",
]


class ApiError(Exception):
    """An answer other than success: ``{"error": {"code", "message", "fields"}}``."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(code)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


def fail(status: int, fields: dict[str, str | list[str]] | None = None, message: str | None = None,
         code: str | None = None):
    """Raise the API error for ``status``; ``fields`` maps a field to its message(s)."""
    fields = {k: [v] if isinstance(v, str) else list(v) for k, v in (fields or {}).items()}
    raise ApiError(status, code or API_CODES.get(status, "error"),
                   message or str(API_MESSAGES.get(status, API_MESSAGES[500])), fields)


# ---- validation messages in the user's language -------------------------------------------

_PYDANTIC_MESSAGES = {
    "missing": _l("Trường bắt buộc."),
    "extra_forbidden": _l("Trường này không được hỗ trợ."),
    "string_too_short": _l("Quá ngắn (tối thiểu %(min_length)s ký tự)."),
    "string_too_long": _l("Quá dài (tối đa %(max_length)s ký tự)."),
    "too_short": _l("Quá ít (tối thiểu %(min_length)s phần tử)."),
    "too_long": _l("Quá nhiều (tối đa %(max_length)s phần tử)."),
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
