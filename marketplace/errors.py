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

MESSAGES = {
    400: _l("Yêu cầu không hợp lệ."),
    403: _l("Bạn không có quyền truy cập trang này."),
    404: _l("Không tìm thấy trang bạn yêu cầu."),
    405: _l("Phương thức không được hỗ trợ."),
    413: _l("Tệp tải lên quá lớn (tối đa 5 MB)."),
    429: _l("Bạn thao tác quá nhanh. Vui lòng thử lại sau ít phút."),
    500: _l("Đã có lỗi xảy ra. Vui lòng thử lại sau."),
}


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
        # (imported here: the API package registers itself with the factory; loading it from
        # this module, which every app imports first, would load the whole API with it)
        from .api.framework import error_response

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
