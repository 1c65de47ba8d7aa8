"""Security sweep across every route (issue 7, "Proof"): each route of the app, requested as a
role allowed to use it, answers with the security headers; public pages for buyers set no
cookie; an unexpected error gives the generic 500 page, never a traceback; debug is off.

The routes and their allowed roles come from the access matrix (tests/test_routes_matrix.py),
which fails when a route has no entry, so a new route is swept as soon as it exists.
"""
from __future__ import annotations

import pytest

from marketplace.security import SECURITY_HEADERS
from tests.conftest import login
from tests.test_routes_matrix import EMAILS, ENTRIES, LOGIN, ROUTES, rich_world  # noqa: F401 (fixture)

PUBLIC_PAGES = ("catalogue.index", "catalogue.product", "catalogue.producer", "scan.stamp", "scan.batch")


def _allowed(endpoint: str, method: str) -> str | None:
    expected = ENTRIES[endpoint][1][method]
    for role in ("anonymous", "producer_a", "coop", "officer", "admin"):
        if expected[role] not in (LOGIN, 401, 403, 404):
            return role
    return None


def test_every_route_answers_with_the_security_headers(rich_world, app, db):
    clients, checked = {}, 0
    for endpoint, method in ROUTES:
        role = _allowed(endpoint, method)
        if role is None:  # pull feeds answer to an exchange token only: checked in test_feeds
            continue
        if role not in clients:
            clients[role] = app.test_client()
            if role != "anonymous":
                login(clients[role], EMAILS[role])  # with the second factor of officers and admins
        url = ENTRIES[endpoint][0](rich_world)
        db.session.commit()  # no transaction of the test's own open during the request
        response = clients[role].open(url, method=method, data={} if method == "POST" else None)
        assert response.status_code < 500, (endpoint, method, response.status_code)
        for name, _value in SECURITY_HEADERS:
            assert name in response.headers, (endpoint, method, name)
        if response.mimetype == "text/html":
            assert "Accept-Language" in response.headers.get("Vary", ""), (endpoint, method)
        checked += 1
    assert checked >= 90  # every route but the token-only feeds (98 when written)


@pytest.mark.parametrize("endpoint", PUBLIC_PAGES)
def test_public_pages_set_no_cookie(endpoint, rich_world, app, db):
    url = ENTRIES[endpoint][0](rich_world)
    db.session.commit()
    response = app.test_client().get(url)
    assert response.status_code == 200, (endpoint, response.status_code)
    assert "Set-Cookie" not in response.headers


def test_an_unexpected_error_shows_the_generic_page(app_factory):
    app = app_factory(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    secret_detail = "KeyError in the guts: /srv/ocop/marketplace/secret_module.py line 42"

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError(secret_detail)

    response = app.test_client().get("/boom-for-test")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and secret_detail not in body and "RuntimeError" not in body
    assert not app.debug and "Content-Security-Policy" in response.headers


def test_hosts_outside_trusted_hosts_are_refused(app_factory):
    app = app_factory(TRUSTED_HOSTS=["cho-ocop.trieuson.vn"])
    client = app.test_client()
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"Host": "cho-ocop.trieuson.vn"}).status_code == 200


def test_complete_headers_keep_the_page_own_and_add_each_default_once(app):
    from marketplace.security import SecureResponse, complete_headers

    own = (("Referrer-Policy", "no-referrer"), ("Vary", "Accept"))
    made = SecureResponse("<p>x</p>", mimetype="text/html", headers=complete_headers(own, html=True))
    names = [name.lower() for name, _ in made.headers.items()]
    assert len(names) == len(set(names))  # nothing twice
    assert made.headers["Referrer-Policy"] == "no-referrer"
    assert made.headers["Vary"] == "Accept, Accept-Language, Cookie"  # a page varies by language too
    for name, value in SECURITY_HEADERS:
        if name != "Referrer-Policy":
            assert made.headers[name] == value
    plain = SecureResponse("{}", mimetype="application/json", headers=complete_headers((), html=False))
    assert "Vary" not in plain.headers and plain.headers["X-Frame-Options"] == "DENY"
