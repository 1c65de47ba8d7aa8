"""Errors in one place: HTML pages for people, JSON for machine interfaces."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, jsonify, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .extensions import db
from .security import safe_next

MESSAGES = {  # the pages' titles
    400: _l("Yêu cầu không hợp lệ."),
    403: _l("Bạn không có quyền truy cập trang này."),
    404: _l("Không tìm thấy trang bạn yêu cầu."),
    405: _l("Phương thức không được hỗ trợ."),
    413: _l("Tệp tải lên quá lớn (tối đa 5 MB)."),
    429: _l("Bạn thao tác quá nhanh. Vui lòng thử lại sau ít phút."),
    500: _l("Đã có lỗi xảy ra. Vui lòng thử lại sau."),
}


# ---- the JSON API's error body: {"error": {"code", "message", "fields"}} -----------------------
# Here, below the API: the handlers further down answer a failure under /api/ that no API
# view caught (an unknown URL, a 405, a 413…) in the API's shape without loading the API's
# blueprint and operations.  marketplace.api.framework re-exports these names.

# HTTP status → the stable code machines switch on.
API_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid", 429: "rate_limited", 500: "server_error",
}

API_MESSAGES = {
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
    return {"error": {"code": code or API_CODES.get(status, "error"),
                      "message": message or str(API_MESSAGES.get(status, API_MESSAGES[500])),
                      "fields": fields or {}}}


def error_response(status: int, message: str | None = None, fields: dict | None = None, code: str | None = None):
    response = jsonify(error_body(status, message, fields, code))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'  # RFC 6750
    return response


# ---- handlers ----------------------------------------------------------------------------------

def wants_json() -> bool:
    return request.path.startswith(("/api/", "/feeds/")) or (
        request.accept_mimetypes.best == "application/json"
    )


def _render(code: int, message: str | None = None, back: str | None = None):
    title = str(MESSAGES.get(code, MESSAGES[500]))
    if request_ctx.url_adapter is None:
        # The request failed before routing (e.g. a Host not in TRUSTED_HOSTS): no URLs can
        # be built, so answer in plain text.
        return Response(f"{code} {title}\n", status=code, mimetype="text/plain")
    if request.path.startswith("/api/"):
        return error_response(code, message)
    if wants_json():
        return jsonify(error={"code": code, "message": message or title, "fields": {}}), code
    return render_template("errors/error.html", code=code, title=title, message=message, back=back), code


def register_error_handlers(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return _render(400, _("Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ. Vui lòng tải lại trang và thử lại."))

    @app.errorhandler(413)
    def too_large(e):
        return _render(413, _("Ảnh chụp bằng điện thoại thường nhỏ hơn 5 MB. Hãy chọn ảnh khác, "
                              "hoặc chụp lại với độ phân giải thấp hơn, rồi tải lên lại."),
                       back=safe_next(urlsplit(request.referrer or "").path or None))

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if e.code is None or e.code < 400:
            return e
        response = _render(e.code)
        if e.code == 405 and hasattr(e, "valid_methods") and e.valid_methods:
            resp = app.make_response(response)
            resp.headers["Allow"] = ", ".join(e.valid_methods)
            return resp
        return response

    @app.errorhandler(Exception)
    def server_error(e: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _render(500)
