"""schemathesis against the API's own OpenAPI document, through WSGI (issue 7, "Proof").

Every operation gets generated requests, valid and invalid, sent with an officer's token
(officers read everything) and with a cooperative's token (it does producers' work for its
members, and meets other tenants' ids), over a world with real objects whose ids the
generator often hits.  Checks: no 5xx (``not_a_server_error``), every answer matches the document
(``response_schema_conformance``), data the document forbids is refused with a 4xx
(``negative_data_rejection``), and no operation that declares a token works without one
(``ignored_auth``).

``API_FUZZ_EXAMPLES`` sets the examples per operation and mode: 10 in ``make test``, more
in ``.ci/run`` (which says how many).
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection, response_schema_conformance

from marketplace.models import ApiToken
from tests.test_routes_matrix import add_dead_delivery, add_trace  # noqa: F401

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance, negative_data_rejection, ignored_auth]


@pytest.fixture
def app(app_factory):
    # The fuzzer's requests must reach the operations, not the per-token rate limit (tested
    # on its own in test_api.py).
    app = app_factory(API_RATE_LIMIT="1000000 per minute")
    with app.app_context():
        yield app


@pytest.fixture
def tokens(world, app, db):
    add_trace(db.session, world)
    add_dead_delivery(db.session, world)
    secrets = {}
    for role in ("officer", "coop"):
        token, secrets[role] = ApiToken.issue(world.users[role], "fuzz")
        db.session.add(token)
    db.session.commit()
    return secrets


def _operations() -> list[tuple[str, str]]:
    from marketplace import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "TESTING": True})
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    return [(method.upper(), path) for path, methods in document["paths"].items() for method in methods]


OPERATIONS = _operations()


@pytest.mark.parametrize("role", ["officer", "coop"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_conforms_to_its_document(method, path, mode, role, app, tokens, db):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {tokens[role]}"}

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        # A parameter generated with no value at all ([]) is dropped by the HTTP client, so
        # the request on the wire is valid; the fuzzer would still call it a negative case.
        assume(not any(value == [] for value in (case.query or {}).values()))
        db.session.commit()  # SQLite: no transaction of the test's own open during the request
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
