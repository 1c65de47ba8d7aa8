"""DFC's own JavaScript connector imports our catalogue (issue 16, point 4): the Data Food
Consortium feed (``GET /feeds/dfc.json``) read by ``@datafoodconsortium/connector``, pinned in
tests/dfc_connector/package.json, "imports the catalogue with every price's unit resolved".

A real server on 127.0.0.1 (its own address is PUBLIC_BASE_URL, so every IRI of the feed points
at it) serves the demo data; the test fetches the feed with the exchange's token and hands it
to tests/dfc_connector/import_catalogue.mjs, which imports it with ``Connector.import()`` and
resolves each reference the way the connector does: from what the import made, or else through
its fetch function, which there GETs from our server only.  A price's ``dfc-b:hasUnit`` is such
a reference: our ``<base>/ns/dfc#VND`` must come back as a SKOS concept, from the feed or by
dereferencing ``<base>/ns/dfc``.  The script prints what the connector made of every node.

Needs ``node`` and the connector (``npm ci --prefix tests/dfc_connector``, which .ci/run does
where npm is); skipped, saying which is missing, otherwise.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from marketplace.demo import seed_demo
from marketplace.feeds.service import find_exchange

HERE = Path(__file__).parent / "dfc_connector"
SCRIPT = HERE / "import_catalogue.mjs"
CONNECTOR = HERE / "node_modules" / "@datafoodconsortium" / "connector" / "package.json"
DFC_B = "https://github.com/datafoodconsortium/ontology/releases/latest/download/DFC_BusinessOntology.owl#"
DFC_PT = "https://github.com/datafoodconsortium/taxonomies/releases/latest/download/productTypes.rdf#"
DFC_PREFIXES = {  # the connector's own context (src/context.ts), for a feed whose context is a URL
    "dfc-b": DFC_B, "dfc-pt": DFC_PT,
    "dfc-m": "https://github.com/datafoodconsortium/taxonomies/releases/latest/download/measures.rdf#",
    "dfc-f": "https://github.com/datafoodconsortium/taxonomies/releases/latest/download/facets.rdf#",
    "skos": "http://www.w3.org/2004/02/skos/core#", "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
}
CONTRACT_NODES = ("dfc-b:SuppliedProduct", "dfc-b:CatalogItem", "dfc-b:Offer", "dfc-b:Enterprise")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _need_connector() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: DFC's JavaScript connector cannot run here")
    if not CONNECTOR.is_file():
        pytest.skip("DFC's connector is not installed: run `npm ci --prefix tests/dfc_connector` "
                    "(.ci/run does where npm is)")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # a hundred GETs a run: a failure's report stays readable
        pass


@dataclass
class Served:
    base: str
    token: str


@pytest.fixture
def served(app, db, app_factory):
    """The demo data, served by a real server whose PUBLIC_BASE_URL is its own address."""
    _need_connector()
    seed_demo(db.session, app.config, echo=lambda *_: None)
    token = find_exchange(db.session, "dfc").new_feed_token()
    db.session.commit()
    # The app it serves is built once its port is known: PUBLIC_BASE_URL is its own address.
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    base = f"http://127.0.0.1:{server.server_port}"
    server.app = app_factory(PUBLIC_BASE_URL=base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(base, token)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def fetch_feed(served: Served) -> bytes:
    request = urllib.request.Request(f"{served.base}/feeds/dfc.json",
                                     headers={"Authorization": f"Bearer {served.token}"})
    with NO_PROXY.open(request, timeout=60) as response:
        assert response.status == 200
        return response.read()


def connector_import(served: Served, feed: bytes) -> dict:
    done = subprocess.run(["node", str(SCRIPT), served.base], input=feed, capture_output=True, cwd=HERE,
                          timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return json.loads(done.stdout)


def literal(value) -> str:
    """A JSON-LD literal's lexical value (plain, or ``{"@value": …}``)."""
    value = value[0] if isinstance(value, list) and len(value) == 1 else value
    return str(value["@value"] if isinstance(value, dict) else value)


def expected_nodes(feed: bytes) -> dict[str, dict[str, dict]]:
    """The feed's own nodes: type (``dfc-b:Offer``…) → expanded @id → node."""
    doc = json.loads(feed)
    prefixes = dict(DFC_PREFIXES)
    contexts = doc.get("@context")
    for ctx in contexts if isinstance(contexts, list) else [contexts]:
        if isinstance(ctx, dict):
            prefixes.update({k: v for k, v in ctx.items() if isinstance(v, str) and ":" not in k})

    def expand(term: str) -> str:
        prefix, _, rest = term.partition(":")
        return prefixes[prefix] + rest if prefix in prefixes and not rest.startswith("//") else term

    nodes: dict[str, dict[str, dict]] = defaultdict(dict)
    for node in doc["@graph"]:
        types = node.get("@type", [])
        for t in types if isinstance(types, list) else [types]:
            if expand(t).startswith(DFC_B):
                nodes["dfc-b:" + expand(t)[len(DFC_B):]][expand(node["@id"])] = node
    return nodes


def imported(report: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for obj in report["objects"]:
        found[obj["type"]].add(obj["id"])
    return found


def test_the_connector_imports_the_catalogue_with_every_price_unit_resolved(served):
    feed = fetch_feed(served)
    report = connector_import(served, feed)
    expected, found = expected_nodes(feed), imported(report)

    for kind in CONTRACT_NODES:
        assert expected[kind], f"the feed has no {kind}"
        assert found[kind] == set(expected[kind]), f"{kind}: the feed's and what the connector imported differ"
    assert {o["id"] for o in report["offers"]} == set(expected["dfc-b:Offer"])
    skus = {literal(n["dfc-b:sku"]) for n in expected["dfc-b:CatalogItem"].values()}
    assert {i["sku"] for i in report["catalogItems"]} == skus
    assert all(i["product"] in expected["dfc-b:SuppliedProduct"] and i["offers"] for i in report["catalogItems"])
    names = {literal(n["dfc-b:name"]) for n in expected["dfc-b:SuppliedProduct"].values()}
    assert {p["name"] for p in report["products"]} == names
    assert all(e["name"] and e["supplies"] for e in report["enterprises"])

    vnd = f"{served.base}/ns/dfc#VND"
    unresolved = []
    for offer in report["offers"]:
        price = offer["price"]
        assert price is not None, f"{offer['id']}: the connector found no price"
        feed_price = expected["dfc-b:Offer"][offer["id"]]["dfc-b:hasPrice"]
        assert price["value"] == float(literal(feed_price["dfc-b:value"])), offer
        unit = price["unit"]
        assert unit is not None, f"{offer['id']}: the connector found no dfc-b:hasUnit on the price"
        if not (unit["resolved"] and unit["iri"] == vnd and unit["id"] == vnd):
            unresolved.append(unit)
    assert not unresolved, (f"{len(unresolved)} of {len(report['offers'])} price units did not resolve to {vnd}, "
                            f"e.g. {unresolved[0]}")

    # The unit's IRI dereferences: a platform that meets it for the first time GETs <base>/ns/dfc.
    (unit,) = report["units"]
    assert unit["resolved"], f"{vnd} does not dereference through our server: {unit}"
    assert {"url": f"{served.base}/ns/dfc", "status": 200} in unit["fetched"], unit
    assert unit["id"] == vnd and unit["type"] == "skos:Concept", unit
    assert "VND" in unit["literals"], f"the concept {vnd} does not give the ISO code VND: {unit}"


def test_the_connector_reads_each_node_of_the_dfc_contract(served):
    """Product types, customer categories, VAT rates and addresses as the connector reads them,
    and each product's, catalog item's, offer's and enterprise's IRI dereferenced through our
    server (<base>/dfc/ocop-<id>, <base>/dfc/enterprises/<slug>) to a node of the same type."""
    feed = fetch_feed(served)
    report = connector_import(served, feed)

    def missing(label: str, found: list) -> str | None:
        return f"{label}: {len(found)}, e.g. {found[0]}" if found else None

    types = {o["id"]: o["type"] for o in report["objects"]}
    problems = [
        missing("products without a DFC product type (dfc-b:hasType → dfc-pt:…)",
                [(p["id"], p["productType"]) for p in report["products"]
                 if not (p["productType"] and p["productType"]["iri"].startswith(DFC_PT))]),
        missing("offers whose dfc-b:offeredTo is no dfc-b:CustomerCategory the connector resolves",
                [(o["id"], o["offeredTo"]) for o in report["offers"]
                 if not (o["offeredTo"] and o["offeredTo"]["resolved"]
                         and o["offeredTo"]["type"] == "dfc-b:CustomerCategory")]),
        missing("prices without a dfc-b:VATrate the connector reads",
                [(o["id"], o["price"] and o["price"]["vatRate"]) for o in report["offers"]
                 if o["price"] is None or o["price"]["vatRate"] is None]),
        missing("enterprises without a dfc-b:hasAddress resolving to a dfc-b:Address with a city",
                [(e["id"], e["addresses"]) for e in report["enterprises"]
                 if not e["addresses"] or not all(a["resolved"] and a["type"] == "dfc-b:Address" and a["city"]
                                                  for a in e["addresses"])]),
        missing("product, catalog item, offer and enterprise IRIs that do not dereference through our server "
                "to a node of their type",
                [d for d in report["dereferenced"] if types[d["iri"]] in CONTRACT_NODES
                 and (not d["resolved"] or d["type"] != types[d["iri"]])]),
    ]
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)
    assert all(r["url"].startswith(served.base + "/") for r in report["requests"] if r["status"] is not None)
