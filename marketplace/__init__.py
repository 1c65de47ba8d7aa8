"""OCOP Marketplace: farm products of a district online, each package traceable."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from .config import is_loopback_url
from .internals import LazyBuildRule
from .security import SecureResponse
from .transactions import dispatch_again_on_disconnect

ROOT = Path(__file__).resolve().parent.parent


class BoundedInt(IntegerConverter):
    """``<int:id>`` within the database's INTEGER range: larger numbers are simply not found."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


class Marketplace(Flask):
    url_rule_class = LazyBuildRule
    response_class = SecureResponse

    def dispatch_request(self):
        return dispatch_again_on_disconnect(super().dispatch_request, self.extensions["sqlalchemy"].session)


# The public lean path: a buyer's scan (``/s/``) and the Digital Link printed on stamps
# (``/01/…``), the requests the service answers most.  They read no form, set no login and
# have no rate limit of Flask-Limiter's, so the hooks for those never run there
# (:func:`site_hooks`).
LEAN_BLUEPRINTS = ("scan", "resolver")


def create_app(config: dict | None = None) -> Flask:
    """Application factory: config → extensions → blueprints → error handlers → CLI.

    It only wires things together: no migrations, no network, no data work.
    """
    app = Marketplace(
        __name__,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from .config import load_config

    load_config(app, config)
    from .sessions import CookieSessionInterface

    app.session_interface = CookieSessionInterface()
    app.url_map.converters["int"] = BoundedInt
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    register_database(app)  # its hooks run for every request
    with site_hooks(app) as scope:
        register_extensions(app)
    register_blueprints(app)
    scope([name for name in app.blueprints if name not in LEAN_BLUEPRINTS])
    from .errors import register_error_handlers

    register_error_handlers(app)
    from .cli import register_cli

    register_cli(app)
    from .logs import configure as configure_logs

    configure_logs(app)
    from .lean import LeanScans

    app.wsgi_app = LeanScans(app, app.wsgi_app)  # a buyer's plain scan, answered before Flask
    if app.config["PROXY_COUNT"]:
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)
    return app


def register_database(app: Flask) -> None:
    """The database session, and each request's transactions ended with the request."""
    from . import models  # noqa: F401  (models must be imported before migrate/login)
    from .extensions import db
    from .transactions import install as install_transactions

    db.init_app(app)
    install_transactions(app, db.session)


def register_extensions(app: Flask) -> None:
    from .extensions import babel, csrf, db, limiter, login_manager, migrate
    from .i18n import register_filters, locale_selector
    from .security import refuse_nul_bytes

    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=locale_selector, default_translation_directories=str(ROOT / "marketplace" / "translations"))
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Vui lòng đăng nhập để tiếp tục.")

    @login_manager.user_loader
    def load_user(token: str):
        from sqlalchemy import select

        from .models import User

        return db.session.scalars(select(User).where(User.session_token == token)).first()

    register_filters(app)
    from .vocab import register_labels

    register_labels(app)
    from .feeds.profiles import register_template_globals

    register_template_globals(app)
    # Stamp pages warn when the links they print would open on this computer only.
    app.jinja_env.globals["loopback_base"] = is_loopback_url(app.config["PUBLIC_BASE_URL"])
    from . import changes

    changes.register()  # versions, search text and deliveries follow every change by themselves
    app.before_request(refuse_nul_bytes)


_HOOKS = ("before_request_funcs", "after_request_funcs", "teardown_request_funcs")


@contextmanager
def site_hooks(app: Flask):
    """Request hooks registered app-wide inside this block (CSRF, Flask-Limiter's three,
    Flask-Login's remember cookie, the NUL check…) are moved, once the block ends, to the
    blueprints passed to the function it yields, and run only for their requests; hooks
    registered before it (the database's) stay app-wide.  Moved hooks keep their place:
    they run before the blueprint's own before-request hooks and after its after-request
    hooks, as app-wide hooks did.  Requests outside every blueprint (static files, routing
    errors) need none of them."""
    before = _app_wide(app)
    moved: dict[str, list] = {}
    yield lambda blueprints: _confine(app, moved, blueprints)
    moved.update({name: [f for f in functions if f not in before[name]] for name, functions in _app_wide(app).items()})


def _app_wide(app: Flask) -> dict[str, list]:
    return {name: list(getattr(app, name)[None]) for name in _HOOKS}


def _confine(app: Flask, moved: dict[str, list], blueprints: list[str]) -> None:
    for name, functions in moved.items():
        registry = getattr(app, name)
        registry[None] = [f for f in registry[None] if f not in functions]
        for blueprint in blueprints:
            registry[blueprint] = functions + registry[blueprint]


def register_blueprints(app: Flask) -> None:
    """Each blueprint carries its own URL prefix and all its routes (its package imports its
    page modules); the factory only registers them."""
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .catalogue.routes import bp as catalogue_bp
    from .dashboard import bp as dashboard_bp
    from .feeds.routes import bp as feeds_bp
    from .reports.routes import bp as reports_bp
    from .resolver import bp as resolver_bp
    from .scan.routes import bp as scan_bp
    from .stamps.routes import bp as stamps_bp
    from .trace.routes import bp as trace_bp

    for blueprint in (catalogue_bp, auth_bp, dashboard_bp, admin_bp, trace_bp, stamps_bp, scan_bp, feeds_bp,
                      reports_bp, resolver_bp, api_bp):
        app.register_blueprint(blueprint)
