"""Flask extensions, created unbound and attached in :func:`marketplace.create_app`.

Flask-Migrate (with alembic, ~0.12 s of imports) is attached as :class:`DeferredMigrate`:
it is imported, in the methods below, when migrations are used (``flask db …``, or
``flask_migrate.upgrade()`` in tests and benchmarks), not by every worker and command.
"""
from __future__ import annotations

import click
from flask_babel import Babel
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .internals import RouteLimiter

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


class DeferredMigrate:
    """Flask-Migrate's ``Migrate``, imported on first use.

    :meth:`init_app` registers a ``db`` command group whose commands are Flask-Migrate's
    (loaded when one is listed or run), and puts a stand-in at ``app.extensions["migrate"]``
    that attaches the real ``Migrate`` the first time Flask-Migrate reads it.
    """

    def __init__(self, **settings) -> None:
        self.settings = settings

    def init_app(self, app, db, *, directory: str) -> None:
        app.extensions["migrate"] = _PendingMigrate(self, app, db, directory)
        app.cli.add_command(_MigrationCommands(name="db", help="Perform database migrations."))


class _PendingMigrate:
    def __init__(self, deferred: DeferredMigrate, app, db, directory: str) -> None:
        self._args = (deferred, app, db, directory)

    def __getattr__(self, name: str):
        from flask_migrate import Migrate

        deferred, app, db, directory = self._args
        Migrate(**deferred.settings).init_app(app, db, directory=directory)  # replaces this stand-in
        return getattr(app.extensions["migrate"], name)


class _MigrationCommands(click.Group):
    """``flask db``: Flask-Migrate's own command group, imported when it is run or listed
    (click runs the group that :meth:`make_context` puts in the context)."""

    @staticmethod
    def _commands() -> click.Group:
        from flask_migrate.cli import db as commands

        return commands

    def make_context(self, info_name, args, parent=None, **extra):
        return self._commands().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx) -> list[str]:
        return self._commands().list_commands(ctx)

    def get_command(self, ctx, name: str):
        return self._commands().get_command(ctx, name)


migrate = DeferredMigrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


# Flask-Limiter with the limits decorated on views only (internals.RouteLimiter says why)
limiter = RouteLimiter(key_func=get_remote_address, default_limits=[])
