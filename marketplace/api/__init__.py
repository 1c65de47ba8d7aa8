"""The JSON API ``/api/v1`` (see :mod:`.framework` and :mod:`.routes`)."""
from __future__ import annotations

from functools import partial

from flask import Blueprint, current_app, g, request

from ..extensions import csrf, db, short_write
from ..internals import set_request_user
from .framework import ApiError, error_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookies are read here: a bearer token is the only credential


@bp.app_template_filter("api_type")
def api_type(schema):
    from .framework import schema_text

    return schema_text(schema)


@bp.before_request
def authenticate():
    """Token or nobody: Flask-Login's user for this request is the token's user (or
    anonymous), so a browser's session cookie never acts on the API."""
    from flask_login import AnonymousUserMixin

    from .framework import bearer_user

    if request.endpoint == "api.reference":
        return  # a page for people: it only reads who is logged in, to offer the token page
    set_request_user(bearer_user() or AnonymousUserMixin())


@bp.after_request
def finish(response):
    token_id = g.pop("api_touch_token", None)
    if token_id is not None and response.status_code < 500:
        response.call_on_close(partial(touch_token, current_app._get_current_object(), token_id))
    if request.path != "/api/v1/openapi.json":
        response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("Authorization")
    return response


def touch_token(app, token_id: int) -> None:
    """Record when a token was last used (at most once a minute), once the answer is sent:
    in a short transaction of its own that waits at most 1 s for SQLite's write lock, and
    is simply skipped when the database is busy."""
    from sqlalchemy import update

    from ..models import ApiToken
    from ..models.base import utcnow

    try:
        with app.app_context(), short_write(db.engine, 1000) as conn:
            conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))
    except Exception:  # noqa: BLE001 (bookkeeping must never fail an answer already sent)
        app.logger.warning("could not record the use of API token %s", token_id)


@bp.errorhandler(ApiError)
def api_error(e: ApiError):
    db.session.rollback()
    return error_response(e.status, e.message, e.fields, e.code)


from . import batches, products, routes, stamps  # noqa: E402,F401  (each declares its operations on bp)
