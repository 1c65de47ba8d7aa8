"""Settings read from the environment (marketplace/config.py)."""
from __future__ import annotations

import pytest

from marketplace import create_app


@pytest.mark.parametrize("value, enabled", [("0", False), ("false", False), ("1", True), ("", True)])
def test_rate_limits_can_be_turned_off_from_the_environment(monkeypatch, tmp_path, value, enabled):
    """For load tests only; an unset or empty variable leaves the limits on."""
    monkeypatch.setenv("RATELIMIT_ENABLED", value)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "x"})
    assert app.config.get("RATELIMIT_ENABLED", True) is enabled


def test_a_server_database_pool_is_not_pinged_and_is_recycled(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none", "SECRET_KEY": "x"})
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_pre_ping"] is False and options["pool_recycle"] == 300
    sqlite = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'y.db'}", "SECRET_KEY": "x"})
    assert "pool_pre_ping" not in sqlite.config["SQLALCHEMY_ENGINE_OPTIONS"]
