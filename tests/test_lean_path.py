"""The lean public path (issue 19, point 1; docs/decisions/0008-lean-public-path.md): the
stamp page and the Digital Link resolver run only the hooks that apply to them, and every
response still carries the security headers."""
from __future__ import annotations

from marketplace import LEAN_BLUEPRINTS
from marketplace.security import SECURITY_HEADERS

HOOKS = ("before_request_funcs", "after_request_funcs", "teardown_request_funcs")


def _names(functions) -> set[str]:
    return {getattr(f, "__qualname__", repr(f)) for f in functions}


def test_only_the_transaction_bookkeeping_runs_for_every_request(app):
    for registry in HOOKS:
        for function in getattr(app, registry)[None]:
            if function.__module__ == "tests.conftest":  # the tests' fresh g per request
                continue
            assert function.__module__ == "marketplace.transactions", (registry, function)


def test_the_site_hooks_run_on_the_site_blueprints_only(app):
    site = [name for name in app.blueprints if name not in LEAN_BLUEPRINTS]
    before = {name: _names(app.before_request_funcs[name]) for name in site}
    assert all(any("csrf_protect" in n for n in names) for names in before.values())  # CSRF
    assert all(any("refuse_nul_bytes" in n for n in names) for names in before.values())
    assert all(any("_check_request_limit" in n for n in names) for names in before.values())  # Flask-Limiter
    assert all(any("_update_remember_cookie" in n for n in _names(app.after_request_funcs[name]))
               for name in site)  # Flask-Login
    for lean in LEAN_BLUEPRINTS:
        own = set().union(*(_names(getattr(app, registry)[lean]) for registry in HOOKS))
        assert not any(word in n for n in own for word in ("csrf", "limit", "remember", "nul_bytes")), (lean, own)
    assert _names(app.after_request_funcs["resolver"]) == {"_cors"}  # its own, nobody else's


def test_a_site_hook_keeps_its_place_before_the_blueprint_own(app):
    """The API's own before-request hook (the token) runs after the moved ones, as it did
    after the app-wide ones."""
    functions = app.before_request_funcs["api"]
    names = [getattr(f, "__qualname__", "") for f in functions]
    first_own = next(i for i, f in enumerate(functions) if f.__module__.startswith("marketplace.api"))
    assert any("csrf_protect" in n for n in names[:first_own])


def test_responses_outside_every_blueprint_carry_the_security_headers(app):
    client = app.test_client()
    for response in (client.get("/no-such-page"), client.get("/static/css/site.css"),
                     client.post("/01/08936045100912"), client.get("/favicon.ico")):
        for name, _value in SECURITY_HEADERS:
            assert name in response.headers, (response.request.path, name)


def test_a_nul_in_a_public_path_is_still_refused(app):
    client = app.test_client()
    assert client.get("/s/AB%00CD").status_code == 400
    assert client.get("/s", query_string={"serial": "AB\x00CD"}).status_code == 400
    assert client.get("/p/x", query_string={"q": "a\x00"}).status_code == 400  # a site page: the hook


def test_the_api_models_are_built_on_first_use_or_before_forking():
    """Start-up does not build the API's pydantic models (defer_build); build_models, which
    the gunicorn master runs before forking, builds every one of them."""
    from pydantic import BaseModel

    from marketplace.api import answers, build_models, schemas

    models = [v for m in (answers, schemas) for v in vars(m).values()
              if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == m.__name__]
    assert len(models) > 20 and all(m.model_config.get("defer_build") for m in models)
    assert build_models() == len(models)
    assert all(m.__pydantic_complete__ for m in models)
