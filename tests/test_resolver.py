"""The GS1-Conformant resolver (issue 4, docs/decisions/0007-digital-link-codec.md): Digital Link parsing, compression,
link sets, and every resolver rule through the Flask test client.

Compression vectors are the published examples of GS1's reference code and its Python port:
``gs1/digital-link.js`` ``tests/index.js`` (ARHKVAdpQg, HxHKVAdpQgZzjr-hCDKigI,
DBHKVAdpQgqrCvBv0UMG21W, ARHKVAdpQkIKqwo), ``Trust-Codes-Ltd/gs1-compression`` tests
(AREjalurbiAUO-cgohCz45Z67b8A, AQnYUc1gmiCNV4JGYgYAF6ckaEPg, ABeRcNWtKMPA, QUCO_anbfA,
AQnYUc1gmiERBhQ0ytiyZuAGOLc1TXgpNWCv1) and the comment in ``GS1DigitalLinkToolkit.js``
(``AQnYUc1gmiERBhQ0ytiyZuAGOLc1TXhXsaXbQKHFuaprwUmrBX6g``).

Requests go through a second app built on the test's database (as in test_scan): its client
ends the test session's transaction first, so no SQLite write lock is held during a request.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import string
from decimal import Decimal
from urllib.parse import quote, urlsplit

import pytest
from biip import parse as biip_parse
from flask.testing import FlaskClient

from marketplace.extensions import db as _db
from marketplace.models import Certification
from marketplace.resolver import digital_link as gs1
from marketplace.resolver.digital_link import (CompressionError, DigitalLink, DigitalLinkError, Link, build_linkset,
                                               compress, decompress, parse_path)
from marketplace.stamps.serials import check_symbol, group_serial
from marketplace.stamps.service import issue_run, stamp_url
from marketplace.trace.service import create_batch, recall_batch
from tests.conftest import listed

BASE = "http://127.0.0.1:5000"
GTIN_PUB = "08936045100912"      # the published product (producer A, approved)
GTIN_DRAFT = "08936045100929"    # a draft product: its stamps still resolve
GTIN_UNKNOWN = "08936045100936"  # valid check digit, carried by no product
GTIN_BAD = "08936045100913"      # wrong check digit
LOT = "LOT-P1"
VOC = "https://gs1.org/voc/"
CORS = "Access-Control-Allow-Origin"


# ---- fixtures ----------------------------------------------------------------------------

def with_resolver(app):
    """``create_app`` registers the resolver; kept as the one place tests get their app from."""
    assert "resolver" in app.blueprints
    return app


class WebClient(FlaskClient):
    def open(self, *args, **kwargs):
        _db.session.rollback()  # the test's session: no SQLite write lock held during the request
        return super().open(*args, **kwargs)


@pytest.fixture
def web(app, app_factory):
    built = with_resolver(app_factory(SCAN_NOT_FOUND_RATE="100000 per minute"))
    built.test_client_class = WebClient
    return built


@pytest.fixture
def client(web):
    return web.test_client()


class DL:
    """The items of a test: product, batches, serials."""


@pytest.fixture
def dl(world, db):
    s = db.session
    world.published_a.gtin = GTIN_PUB
    world.product_a.gtin = GTIN_DRAFT
    s.add(Certification(producer=world.a, product=world.published_a, scheme="vietgap", number="VG-9",
                        body="Trung tâm Chứng nhận", verified=True, valid_to=dt.date(2099, 1, 1)))
    batch = create_batch(s, world.published_a, lot_code=LOT, quantity=Decimal("10"), unit="kg",
                         production_date=dt.date(2025, 10, 1))
    other = create_batch(s, world.published_a, lot_code="LOT-P2", quantity=Decimal("5"), unit="kg",
                         production_date=dt.date(2025, 10, 2))
    draft_batch = create_batch(s, world.product_a, lot_code="LOT-A1", quantity=Decimal("5"), unit="kg",
                               production_date=dt.date(2025, 10, 3))
    s.flush()
    listed(world.product_a)  # stamps are issued while a product is listed…
    runs = [issue_run(s, b, 2) for b in (batch, other, draft_batch)]
    world.product_a.status = "draft"  # …and keep answering after it leaves the catalogue
    s.commit()
    d = DL()
    d.world, d.slug, d.producer_slug = world, world.published_a.slug, world.a.slug
    d.batch_id, d.other_id, d.draft_batch_id = batch.id, other.id, draft_batch.id
    d.serial = sorted(st.serial for st in _stamps(s, runs[0]))[0]
    d.other_serial = sorted(st.serial for st in _stamps(s, runs[1]))[0]
    d.draft_serial = sorted(st.serial for st in _stamps(s, runs[2]))[0]
    d.product_page = f"{BASE}/p/{d.slug}"
    d.lot_page = f"{BASE}/lot/{d.batch_id}"
    d.stamp_page = f"{BASE}/s/{d.serial}"
    d.serial_path = f"/01/{GTIN_PUB}/10/{LOT}/21/{d.serial}"
    s.commit()
    return d


def _stamps(session, run):
    from sqlalchemy import select

    from marketplace.models import Stamp

    return session.scalars(select(Stamp).where(Stamp.run_id == run.id)).all()


def location(response) -> str:
    assert response.status_code == 307, (response.status_code, response.get_data(as_text=True)[:300])
    return response.headers["Location"]


def linkset(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/linkset+json"
    body = json.loads(response.get_data(as_text=True))
    assert list(body) == ["linkset"] and len(body["linkset"]) == 1
    return body["linkset"][0]


def hrefs(context: dict, link_type: str) -> list[str]:
    return [t["href"] for t in context.get(VOC + link_type, [])]


# ---- the parser ----------------------------------------------------------------------------

def test_parse_levels_and_gtin_forms():
    assert parse_path(GTIN_PUB) == DigitalLink(gtin=GTIN_PUB)
    assert parse_path(GTIN_PUB[1:]).gtin == GTIN_PUB  # GTIN-13 → GTIN-14
    assert parse_path("96385074").gtin == "00000096385074"  # GTIN-8
    link = parse_path(GTIN_PUB, ["10", "LOT-1", "21", "ABC"])
    assert (link.lot, link.serial, link.cpv) == ("LOT-1", "ABC", None)
    assert parse_path(GTIN_PUB, ["21", "ABC"]).serial == "ABC"
    assert parse_path(GTIN_PUB, ["22", "V1", "10", "L", "21", "S"]).cpv == "V1"


@pytest.mark.parametrize("gtin,segments,reason,field", [
    (GTIN_BAD, [], "gtin_check_digit", "01"),
    ("0893604510091X", [], "gtin_format", "01"),
    ("089360451009", [], "gtin_check_digit", "01"),
    ("12345", [], "gtin_format", "01"),
    ("\u0668\u0669\u0663\u0666\u0660\u0664\u0665\u0661\u0660\u0660\u0669\u0661\u0663", [], "gtin_format", "01"),
    (GTIN_PUB, ["21", "S", "10", "L"], "qualifier_order", "path"),
    (GTIN_PUB, ["10", "L", "22", "V"], "qualifier_order", "path"),
    (GTIN_PUB, ["10", "L", "10", "M"], "repeated_qualifier", "10"),
    (GTIN_PUB, ["17", "250101"], "not_a_qualifier", "path"),
    (GTIN_PUB, ["10"], "missing_value", "path"),
    (GTIN_PUB, ["10", "L", "21", "S", "foo"], "missing_value", "path"),
    (GTIN_PUB, ["10", "A" * 21], "too_long", "10"),
    (GTIN_PUB, ["10", "L", "21", "S" * 21], "too_long", "21"),
    (GTIN_PUB, ["10", "LOT 1"], "bad_characters", "10"),
    (GTIN_PUB, ["10", "LÔ-1"], "bad_characters", "10"),
    (GTIN_PUB, ["10", "L", "21", "A~B"], "bad_characters", "21"),
    (GTIN_PUB, ["10", ""], "empty_value", "10"),
])
def test_parse_syntax_errors(gtin, segments, reason, field):
    with pytest.raises(DigitalLinkError) as caught:
        parse_path(gtin, segments)
    assert (caught.value.reason, caught.value.field) == (reason, field)


def test_character_set_82_and_length_limit():
    assert len(gs1.CSET82) == 82
    every = "".join(sorted(gs1.CSET82))
    for i in range(0, 82, 20):
        assert parse_path(GTIN_PUB, ["10", every[i:i + 20]]).lot == every[i:i + 20]
    assert parse_path(GTIN_PUB, ["10", "A" * 20]).lot == "A" * 20
    for ch in " #$@[\\]^`{|}~\x7f\x00é":
        with pytest.raises(DigitalLinkError):
            parse_path(GTIN_PUB, ["10", f"A{ch}B"])


def test_path_percent_encodes_and_biip_reads_it():
    link = parse_path(GTIN_PUB, ["10", "A/B&C+1", "21", "x\"y%z"])
    assert link.path() == f"/01/{GTIN_PUB}/10/A%2FB%26C%2B1/21/x%22y%25z"
    parsed = biip_parse(BASE + link.path()).gs1_digital_link_uri
    assert [(e.ai.ai, e.value) for e in parsed.element_strings] == [("01", GTIN_PUB), ("10", "A/B&C+1"), ("21", 'x"y%z')]


def test_printed_stamp_urls_parse_with_biip_and_our_parser():
    serial = "K7M2P9QX4RT8W3Z" + check_symbol("K7M2P9QX4RT8W3Z")
    url = stamp_url(BASE, serial, gtin=GTIN_PUB, lot=LOT)
    assert url.lower().startswith(BASE) and urlsplit(url).path == f"/01/{GTIN_PUB}/10/{LOT}/21/{serial}"
    parsed = biip_parse(url)
    assert parsed.gs1_digital_link_uri_error is None
    assert [(e.ai.ai, e.value) for e in parsed.gs1_digital_link_uri.element_strings] == [
        ("01", GTIN_PUB), ("10", LOT), ("21", serial)]
    segments = urlsplit(url).path.split("/")[1:]
    assert parse_path(segments[1], segments[2:]) == DigitalLink(gtin=GTIN_PUB, lot=LOT, serial=serial)


# ---- compression -------------------------------------------------------------------------

VECTORS = [
    # (compressed, optimised?, GS1 pairs in wire order, other pairs)
    ("ARHKVAdpQg", False, [("01", "09780345418913")], []),
    ("HxHKVAdpQgZzjr-hCDKigI", True,
     [("01", "09780345418913"), ("10", "231"), ("15", "120820"), ("21", "345345")], []),
    ("DBHKVAdpQgqrCvBv0UMG21W", True, [("01", "09780345418913"), ("21", "43786")], [("foo", "bar")]),
    ("ARHKVAdpQkIKqwo", False, [("01", "09780345418913"), ("21", "43786")], []),
    ("AREjalurbiAUO-cgohCz45Z67b8A", False,
     [("01", "09421902960055"), ("10", "2010005828"), ("21", "xyz1234")], []),
    ("AQnYUc1gmiERBhQ0ytiyZuAGOLc1TXgpNWCv1", False,
     [("01", "05412345000013"), ("10", "ABC&+123"), ("7003", "1903061658")], [("k1", "v1")]),
    ("AQnYUc1gmiCNV4JGYgYAF6ckaEPg", False,
     [("01", "05412345000013"), ("10", "ABC123"), ("3103", "000189"), ("3923", "2172")], []),
    ("ABeRcNWtKMPA", True, [("00", "106141412345678908")], []),
    ("QUCO_anbfA", True, [("414", "0614141123452")], []),
]


@pytest.mark.parametrize("token,optimise,elements,others", VECTORS, ids=[v[0][:12] for v in VECTORS])
def test_decompress_published_vectors(token, optimise, elements, others):
    assert decompress(token) == (elements, others)


@pytest.mark.parametrize("token,optimise,elements,others", VECTORS, ids=[v[0][:12] for v in VECTORS])
def test_compress_reproduces_published_vectors(token, optimise, elements, others):
    assert compress(dict(elements), optimise=optimise, others=dict(others)) == token


def test_decompress_older_toolkit_vector():
    """Written by an older JS toolkit, which also compressed the short name ``expdt``."""
    elements, others = decompress("AQnYUc1gmiERBhQ0ytiyZuAGOLc1TXhXsaXbQKHFuaprwUmrBX6g")
    assert elements == [("01", "05412345000013"), ("10", "ABC&+123"), ("7003", "1903061658")]
    assert others == [("expdt", "1903061658"), ("k1", "v1")]


def test_optimisation_codes_for_gtin_lot_serial():
    """01+10 → 0B, 01+21 → 0C; 01+10+21 has no code of its own: 0B (first of the longest in
    table order), then AI 21.  1A carries 01, 10, 17, 21 in the reference implementation's
    (sorted) order."""
    def first_byte(token):
        return f"{int(gs1.base64_to_bits(token)[:8], 2):02X}"

    assert first_byte(compress({"01": GTIN_PUB, "10": LOT})) == "0B"
    assert first_byte(compress({"01": GTIN_PUB, "21": "ABC"})) == "0C"
    token = compress({"01": GTIN_PUB, "10": LOT, "21": "ABC"})
    assert first_byte(token) == "0B" and decompress(token)[0] == [("01", GTIN_PUB), ("10", LOT), ("21", "ABC")]
    token = compress({"01": GTIN_PUB, "10": LOT, "21": "ABC", "17": "261231"})
    assert first_byte(token) == "1A"
    assert decompress(token)[0] == [("01", GTIN_PUB), ("10", LOT), ("17", "261231"), ("21", "ABC")]
    assert gs1.TABLE_OPT["1A"] == ["01", "10", "17", "21"] and gs1.TABLE_OPT["9D"] == ["254", "414"]


def test_encodings_and_leading_zeros_round_trip():
    cases = {"10": "0042", "21": "deadbeef"}  # numeric with leading zeros; lower-case hex
    assert decompress(compress({"01": GTIN_PUB, **cases}))[0] == [("01", GTIN_PUB), ("10", "0042"), ("21", "deadbeef")]
    for value, encoding in (("12345", 0), ("0042", 2), ("DEADBEEF", 2), ("deadbeef", 1), ("Lot_9-x", 3),
                            ("A&B+C", 4), ("7", 0)):
        assert gs1.determine_encoding(value) == encoding, value


def test_random_round_trips():
    rng = random.Random(4)
    alphabet = "".join(sorted(gs1.CSET82))
    for _ in range(300):
        elements = {"01": _random_gtin(rng)}
        if rng.random() < 0.8:
            elements["10"] = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
        if rng.random() < 0.8:
            elements["21"] = "".join(rng.choice(rng.choice([alphabet, string.digits, "0123456789ABCDEF"]))
                                     for _ in range(rng.randint(1, 20)))
        if rng.random() < 0.3:
            elements["15"] = f"{rng.randint(20, 40)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        for optimise in (True, False):
            got, others = decompress(compress(elements, optimise=optimise))
            assert dict(got) == elements and others == []


def _random_gtin(rng) -> str:
    from marketplace.demo import gtin13

    return "0" + gtin13(f"893{rng.randrange(10**9):09d}")


@pytest.mark.parametrize("token", ["AAAAAAAAAA", "_________x", "B0000000000", "ARHKVAdp", "ARHKVAdpQg!"])
def test_decompress_rejects_garbage(token):
    with pytest.raises(CompressionError):
        elements, _ = decompress(token)
        if not elements:
            raise CompressionError("empty")


# ---- link sets ----------------------------------------------------------------------------

def test_build_linkset_shape():
    pip = Link("pip", f"{BASE}/p/x", "Thông tin", "Information")
    stamp = Link(None, f"{BASE}/s/ABC", "Tem", "Stamp")
    body = build_linkset(f"{BASE}/01/{GTIN_PUB}/21/ABC", [stamp, pip], stamp, "Gạo")
    (context,) = body["linkset"]
    assert context["anchor"] == f"{BASE}/01/{GTIN_PUB}/21/ABC"
    assert context[VOC + "defaultLink"] == [stamp.target()]
    # only the members GS1's link-set schema allows: no RFC 8288 "title*" (issue 14)
    assert context[VOC + "pip"] == [{"href": f"{BASE}/p/x", "title": "Thông tin", "type": "text/html",
                                     "hreflang": ["vi", "en"]}]
    assert set(context) == {"anchor", "itemDescription", VOC + "defaultLink", VOC + "pip"}
    english = build_linkset(f"{BASE}/01/{GTIN_PUB}/21/ABC", [stamp, pip], stamp, "Gạo", "en")["linkset"][0]
    assert english[VOC + "pip"][0]["title"] == "Information" and english[VOC + "defaultLink"][0]["title"] == "Stamp"


def test_link_type_names():
    for value in ("gs1:pip", "https://gs1.org/voc/pip", "http://gs1.org/voc/pip", "https://ref.gs1.org/voc/pip"):
        assert gs1.link_type_name(value) == "pip"
    for value in ("pip", "gs1:", "gs1:pip/x", "https://example.org/voc/pip", None, ""):
        assert gs1.link_type_name(value) is None


# ---- resolution: redirects ----------------------------------------------------------------

def test_default_links_per_level(client, dl):
    assert location(client.get(f"/01/{GTIN_PUB}")) == dl.product_page
    assert location(client.get(f"/01/{GTIN_PUB}/10/{LOT}")) == dl.lot_page
    assert location(client.get(dl.serial_path)) == dl.stamp_page
    assert location(client.get(f"/01/{GTIN_PUB[1:]}")) == dl.product_page  # GTIN-13 form


def test_head_redirects_like_get(client, dl):
    for path, target in ((f"/01/{GTIN_PUB}", dl.product_page), (dl.serial_path, dl.stamp_page)):
        response = client.head(path)
        assert location(response) == target and response.get_data() == b""
        assert response.headers["Link"] == client.get(path).headers["Link"]


def test_a_printed_link_is_answered_from_the_stamp_facts_as_the_general_way_would(client, dl, monkeypatch):
    """The QR's own link (GET, canonical, no query) is answered without the ORM lookup
    (links.find refuses to run), with the very response of the general path: before Flask
    when it brings no cookie (marketplace.lean), by the view's own fast path when it
    does (an unrelated cookie here), the general way when that fast path is off."""
    from flask import request_started

    from marketplace.resolver import links, routes

    with_cookie = client.application.test_client()
    with_cookie.set_cookie("seen", "1")
    dispatched = []

    def answers(by):
        with request_started.connected_to(lambda sender, **_: dispatched.append(sender)):
            return [by.get(dl.serial_path), by.head(dl.serial_path),
                    by.get(dl.serial_path, headers={"Accept": "application/json", "Accept-Language": "en"})]

    general_find = links.find
    monkeypatch.setattr(links, "find", lambda *a: pytest.fail("the printed link went through links.find"))
    lean = answers(client)
    assert dispatched == []  # answered before Flask
    fast = answers(with_cookie)
    assert len(dispatched) == 3
    monkeypatch.setattr(links, "find", general_find)
    monkeypatch.setattr(routes, "_printed_link", lambda *a: None)
    general = answers(with_cookie)
    for mine, flasks, theirs in zip(lean, fast, general):
        assert mine.status == flasks.status == theirs.status == "307 TEMPORARY REDIRECT"
        assert list(mine.headers.items()) == list(flasks.headers.items())  # in the same order
        assert sorted(mine.headers.items()) == sorted(theirs.headers.items())
        assert mine.get_data() == flasks.get_data() == theirs.get_data()


def test_what_is_not_a_printed_link_goes_the_general_way(client, dl, monkeypatch):
    """A lot or GTIN that does not match the stamp, another spelling of the serial, a query or
    a link set asked for: the general path decides (here: the counterfeit answer, the
    link set, the passed-on query)."""
    wrong_lot = client.get(f"/01/{GTIN_PUB}/10/LOT-P2/21/{dl.serial}")
    assert wrong_lot.status_code == 404 and "Location" not in wrong_lot.headers
    assert client.get(f"/01/{GTIN_DRAFT}/10/{LOT}/21/{dl.serial}").status_code == 404
    lower = client.get(f"/01/{GTIN_PUB}/10/{LOT}/21/{dl.serial.lower()}")
    assert location(lower) == dl.stamp_page
    assert client.get(dl.serial_path, headers={"Accept": "application/linkset+json"}).status_code == 200
    assert location(client.get(dl.serial_path + "?3103=000500")) == dl.stamp_page + "?3103=000500"


def test_link_header_points_to_the_linkset(client, dl):
    response = client.get(dl.serial_path, base_url="http://attacker.example")
    assert location(response) == dl.stamp_page  # absolute, from PUBLIC_BASE_URL
    assert response.headers["Link"].startswith(
        f'<{BASE}{dl.serial_path}?linkType=all>; rel="linkset"; type="application/linkset+json"')


def test_serial_in_lower_case_or_grouped(client, dl):
    lower = f"/01/{GTIN_PUB}/10/{LOT}/21/{dl.serial.lower()}"
    grouped = f"/01/{GTIN_PUB}/10/{LOT}/21/{group_serial(dl.serial)}"
    assert location(client.get(lower)) == dl.stamp_page
    assert location(client.get(grouped)) == dl.stamp_page
    assert location(client.get(f"/01/{GTIN_PUB}/10/{LOT.lower()}")) == dl.lot_page


def test_serial_without_lot(client, dl):
    assert location(client.get(f"/01/{GTIN_PUB}/21/{dl.serial}")) == dl.stamp_page
    context = linkset(client.get(f"/01/{GTIN_PUB}/21/{dl.serial}?linkType=all"))
    assert hrefs(context, "traceability")[0] == dl.lot_page


@pytest.mark.parametrize("link_type", ["gs1:pip", "https://gs1.org/voc/pip", "http://gs1.org/voc/pip"])
def test_requested_pip_from_every_level(client, dl, link_type):
    for path in (f"/01/{GTIN_PUB}", f"/01/{GTIN_PUB}/10/{LOT}", dl.serial_path):
        assert location(client.get(path, query_string={"linkType": link_type})) == dl.product_page


def test_requested_link_types_walk_up(client, dl):
    def go(link_type, **headers):
        return location(client.get(dl.serial_path, query_string={"linkType": link_type}, headers=headers))

    assert go("gs1:traceability") == dl.lot_page
    assert go("gs1:traceability", Accept="application/ld+json") == f"{dl.lot_page}/epcis.json"
    assert go("gs1:recallStatus") == f"{dl.lot_page}#recall"
    assert go("gs1:certificationInfo") == f"{dl.product_page}#certifications"
    assert go("gs1:defaultLink") == dl.stamp_page
    # a link type the item does not have: 404 (GS1's conformance tests), pointing to the link set
    for absent in ("gs1:nutritionalInfo", "gs1:nosuchlt", "nonsense"):
        response = client.get(dl.serial_path, query_string={"linkType": absent})
        assert response.status_code == 404, absent
        assert f'<{BASE}{dl.serial_path}?linkType=all>; rel="linkset"' in response.headers["Link"]


def test_query_string_passed_on(client, dl):
    url = f"{dl.serial_path}?utm_source=zalo&linkType=gs1:recallStatus&x=%C3%A1+b"
    assert location(client.get(url)) == f"{dl.lot_page}?utm_source=zalo&x=%C3%A1+b#recall"
    assert location(client.get(f"/01/{GTIN_PUB}?foo=bar")) == f"{dl.product_page}?foo=bar"
    assert location(client.get(f"/01/{GTIN_PUB}?15=261231&foo")) == f"{dl.product_page}?15=261231&foo"


def test_certification_info_falls_back_to_the_producer_page(client, dl, db):
    """A draft product's producer-wide certification is on the producer page."""
    db.session.add(Certification(producer=dl.world.a, scheme="haccp", number="H-1", body="Cục ATTP",
                                 verified=True))
    db.session.commit()
    url = f"/01/{GTIN_DRAFT}/10/LOT-A1?linkType=gs1:certificationInfo"
    assert location(client.get(url)) == f"{BASE}/producers/{dl.producer_slug}#certifications"


def test_redirect_targets_exist(client, web, dl):
    """Following each redirect (the fragment aside) reaches a page of the site."""
    for link_type in ("gs1:pip", "gs1:traceability", "gs1:recallStatus", "gs1:certificationInfo", "gs1:defaultLink"):
        target = location(client.get(dl.serial_path, query_string={"linkType": link_type}))
        path = urlsplit(target).path
        assert client.get(path).status_code == 200, (link_type, path)


def test_printed_qr_resolves_to_the_stamp_page(client, dl):
    """The Digital Link printed in the stamp's QR code, decoded, leads to that stamp's page."""
    zxingcpp = pytest.importorskip("zxingcpp")
    url = stamp_url(BASE, dl.serial, gtin=GTIN_PUB, lot=LOT)
    image = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M").to_image(scale=4)
    (decoded,) = [b.text for b in zxingcpp.read_barcodes(image)]
    assert decoded == url
    response = client.get(decoded)
    assert location(response) == dl.stamp_page
    page = client.get(urlsplit(location(response)).path)
    assert page.status_code == 200 and LOT in page.get_data(as_text=True)


# ---- resolution: link sets ----------------------------------------------------------------

def test_linkset_of_a_serial_includes_the_levels_above(client, dl):
    response = client.get(dl.serial_path, query_string={"linkType": "all"}, base_url="http://attacker.example")
    context = linkset(response)
    assert context["anchor"] == BASE + dl.serial_path
    assert hrefs(context, "defaultLink") == [dl.stamp_page]
    assert hrefs(context, "pip") == [dl.product_page]
    assert hrefs(context, "traceability") == [dl.lot_page, f"{dl.lot_page}/epcis.json"]
    assert hrefs(context, "recallStatus") == [f"{dl.lot_page}#recall"]
    assert hrefs(context, "certificationInfo") == [f"{dl.product_page}#certifications"]
    for key, targets in context.items():
        if key.startswith(VOC):
            for target in targets:
                assert target["href"].startswith(BASE + "/") and target["title"] and target["type"]
                assert set(target) <= {"href", "title", "hreflang", "type", "context", "fwqs", "public"}
    (epcis,) = [t for t in context[VOC + "traceability"] if t["type"] == "application/ld+json"]
    assert "hreflang" not in epcis
    assert "https://ref.gs1.org/standards/resolver/linkset-context" in response.headers["Link"]
    assert response.headers[CORS] == "*"


def test_linkset_per_level(client, dl):
    lot_ctx = linkset(client.get(f"/01/{GTIN_PUB}/10/{LOT}?linkType=all"))
    assert hrefs(lot_ctx, "defaultLink") == [dl.lot_page] and hrefs(lot_ctx, "pip") == [dl.product_page]
    product_ctx = linkset(client.get(f"/01/{GTIN_PUB}?linkType=all"))
    assert hrefs(product_ctx, "defaultLink") == [dl.product_page]
    assert set(product_ctx) == {"anchor", "itemDescription", VOC + "defaultLink", VOC + "pip",
                                VOC + "certificationInfo"}


def test_linkset_by_accept_header_and_linkset_keyword(client, dl):
    by_accept = linkset(client.get(dl.serial_path, headers={"Accept": "application/linkset+json"}))
    by_keyword = linkset(client.get(f"{dl.serial_path}?linkType=linkset"))
    by_all = linkset(client.get(f"{dl.serial_path}?linkType=all"))
    assert by_accept == by_keyword == by_all
    as_json = client.get(f"{dl.serial_path}?linkType=all", headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and as_json.mimetype == "application/json"
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert client.get(dl.serial_path, headers={"Accept": browser}).status_code == 307


def test_every_linkset_link_resolves_by_link_type(client, dl):
    """What GS1's resolver test suite checks: each target of the link set is where
    ``?linkType=`` with its media type and language leads."""
    context = linkset(client.get(f"{dl.serial_path}?linkType=all"))
    for key, targets in context.items():
        if not key.startswith(VOC) or key.endswith("/defaultLink"):
            continue
        for target in targets:
            for language in target.get("hreflang", ["vi"]):
                response = client.get(dl.serial_path, query_string={"linkType": key},
                                      headers={"Accept": target["type"], "Accept-Language": language})
                assert location(response) == target["href"], (key, target)
    assert location(client.get(dl.serial_path)) == context[VOC + "defaultLink"][0]["href"]


# ---- fallbacks and not-found ---------------------------------------------------------------

def test_unknown_lot_falls_back_to_the_product(client, dl):
    assert location(client.get(f"/01/{GTIN_PUB}/10/NO-SUCH-LOT")) == dl.product_page
    # …but a real serial under a lot it does not belong to is no stamp of ours (issue 14)
    response = client.get(f"/01/{GTIN_PUB}/10/NO-SUCH-LOT/21/{dl.serial}")
    assert response.status_code == 404 and response.data == client.get("/s/abc").data


def test_unknown_or_misplaced_serial_is_the_counterfeit_answer(client, dl):
    """Never the walk-up to the genuine lot (issue 14): the one answer of ``/s/<made-up>``."""
    body = dl.serial[:-1]
    wrong_check = body + next(c for c in "0123456789ABCDEFGHJKMNPQRSTVWXYZ" if c != dl.serial[-1])
    valid_unknown = "ZZZZZZZZZZZZZZZ" + check_symbol("ZZZZZZZZZZZZZZZ")
    counterfeit = client.get("/s/abc")
    for serial in (wrong_check, valid_unknown, dl.other_serial, dl.draft_serial, "NOT-A-SERIAL"):
        paths = [f"/01/{GTIN_PUB}/10/{LOT}/21/{serial}", f"/01/{GTIN_PUB}/10/{LOT}/21/{serial}?linkType=all"]
        if serial != dl.other_serial:  # (the product's stamp of another lot: genuine without a lot)
            paths.append(f"/01/{GTIN_PUB}/21/{serial}")
        for path in paths:
            response = client.get(path)
            assert (response.status_code, response.data) == (404, counterfeit.data), path
    assert location(client.get(f"/01/{GTIN_PUB}/10/{LOT}/21/{dl.serial}")) == dl.stamp_page
    assert location(client.get(f"/01/{GTIN_PUB}/21/{dl.other_serial}")) == f"{BASE}/s/{dl.other_serial}"


def test_unknown_gtin_is_404(client, dl):
    response = client.get(f"/01/{GTIN_UNKNOWN}/10/{LOT}")
    assert response.status_code == 404 and response.mimetype == "text/plain"
    # with a serial: the counterfeit answer (the stamp is not under that GTIN)
    response = client.get(f"/01/{GTIN_UNKNOWN}/10/{LOT}/21/{dl.serial}")
    assert response.status_code == 404 and response.data == client.get("/s/abc").data
    response = client.get(f"/01/{GTIN_UNKNOWN}", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == 404 and response.headers[CORS] == "*"


def test_draft_product_resolves_only_through_its_stamps(client, dl):
    assert client.get(f"/01/{GTIN_DRAFT}").status_code == 404
    assert client.get(f"/01/{GTIN_DRAFT}?linkType=all").status_code == 404
    assert location(client.get(f"/01/{GTIN_DRAFT}/10/LOT-A1")) == f"{BASE}/lot/{dl.draft_batch_id}"
    assert location(client.get(f"/01/{GTIN_DRAFT}/10/LOT-A1/21/{dl.draft_serial}")) == f"{BASE}/s/{dl.draft_serial}"
    context = linkset(client.get(f"/01/{GTIN_DRAFT}/10/LOT-A1?linkType=all"))
    assert VOC + "pip" not in context
    # the 404 of a product nobody may see is the 404 of a GTIN nobody carries
    as_json = {"Accept": "application/json"}
    assert client.get(f"/01/{GTIN_DRAFT}", headers=as_json).get_data() == \
        client.get(f"/01/{GTIN_UNKNOWN}", headers=as_json).get_data()
    assert client.get(f"/01/{GTIN_DRAFT}").get_data() == client.get(f"/01/{GTIN_UNKNOWN}").get_data()


def test_suspended_producer_loses_the_product_page_not_its_stamps(client, dl, db):
    dl.world.a.status = "suspended"
    db.session.commit()
    assert client.get(f"/01/{GTIN_PUB}").status_code == 404
    assert client.get(f"/01/{GTIN_PUB}/10/NO-SUCH-LOT").status_code == 404
    assert location(client.get(dl.serial_path)) == dl.stamp_page
    assert client.get(f"{dl.serial_path}?linkType=gs1:pip").status_code == 404  # it has none now
    context = linkset(client.get(f"{dl.serial_path}?linkType=all"))
    assert VOC + "pip" not in context and VOC + "certificationInfo" not in context


def test_recalled_batch_still_resolves(client, dl, db):
    from marketplace.models import Batch

    recall_batch(db.session.get(Batch, dl.batch_id), reason="Nhiễm khuẩn", user=dl.world.users["producer_a"])
    db.session.commit()
    target = location(client.get(f"{dl.serial_path}?linkType=gs1:recallStatus"))
    assert target == f"{dl.lot_page}#recall"
    page = client.get(urlsplit(target).path).get_data(as_text=True)
    assert 'id="recall"' in page and "Nhiễm khuẩn" in page
    assert location(client.get(dl.serial_path)) == dl.stamp_page


# ---- syntax errors ------------------------------------------------------------------------

@pytest.mark.parametrize("path,field", [
    (f"/01/{GTIN_PUB}/21/S/10/L", "path"),
    (f"/01/{GTIN_BAD}", "01"),
    (f"/01/{GTIN_BAD}/10/{LOT}/21/ABC", "01"),
    ("/01/ABCDEFGHIJKLMN", "01"),
    (f"/01/{GTIN_PUB}/10/{'L' * 21}", "10"),
    (f"/01/{GTIN_PUB}/10/{quote('LÔ')}", "10"),
    (f"/01/{GTIN_PUB}/10/{quote('L O')}", "10"),
    (f"/01/{GTIN_PUB}/10/{LOT}/21/{quote('A^B')}", "21"),
    (f"/01/{GTIN_PUB}/10/{LOT}/21/ABC/foo", "path"),
    (f"/01/{GTIN_PUB}/10/{LOT}/10/X", "10"),
    (f"/01/{GTIN_PUB}/17/261231", "path"),
    (f"/01/{GTIN_PUB}/10", "path"),
    (f"/01/{GTIN_PUB}/foo", "path"),
    (f"/01/{GTIN_PUB}?15=999999", "15"),
])
def test_syntax_errors_are_400_with_a_reason(client, dl, path, field):
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 400, path
    error = response.get_json()["error"]
    assert error["code"] == 400 and error["message"] and field in error["fields"]
    assert response.headers[CORS] == "*"
    text = client.get(path)
    assert text.status_code == 400 and text.mimetype == "text/plain" and text.get_data(as_text=True).startswith("400")
    assert client.head(path).status_code == 400


def test_error_message_follows_the_language(client, dl):
    vi = client.get(f"/01/{GTIN_BAD}").get_data(as_text=True)
    en = client.get(f"/01/{GTIN_BAD}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Số kiểm tra" in vi and "check digit" in en


def test_never_200_for_an_error(client, dl):
    for path in (f"/01/{GTIN_BAD}?linkType=all", f"/01/{GTIN_UNKNOWN}?linkType=all",
                 f"/01/{GTIN_PUB}/21/S/10/L?linkType=all"):
        assert client.get(path).status_code in (400, 404)
        assert client.get(path, headers={"Accept": "application/linkset+json"}).status_code in (400, 404)


# ---- trailing slash, CORS, OPTIONS ----------------------------------------------------------

def test_trailing_slash_tolerated(client, dl):
    for path in (f"/01/{GTIN_PUB}", f"/01/{GTIN_PUB}/10/{LOT}", dl.serial_path, f"/01/{GTIN_PUB}/21/{dl.serial}"):
        plain, slash = client.get(path), client.get(path + "/")
        assert (plain.status_code, plain.headers.get("Location")) == (slash.status_code, slash.headers.get("Location"))
        assert plain.status_code == 307
    assert client.get(f"/01/{GTIN_BAD}/").status_code == 400


def test_cors_on_every_resolver_response(client, dl):
    responses = [client.get(dl.serial_path), client.get(f"{dl.serial_path}?linkType=all"),
                 client.get(f"/01/{GTIN_BAD}"), client.get(f"/01/{GTIN_UNKNOWN}"),
                 client.post(dl.serial_path), client.get("/.well-known/gs1resolver"),
                 client.get("/" + compress({"01": GTIN_PUB}))]
    assert [r.status_code for r in responses] == [307, 200, 400, 404, 405, 200, 307]
    for response in responses:
        assert response.headers[CORS] == "*"
        assert "Link" in response.headers["Access-Control-Expose-Headers"]
        assert "Location" in response.headers["Access-Control-Expose-Headers"]
        assert {"GET", "HEAD", "OPTIONS"} <= {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert CORS not in client.get("/").headers  # the rest of the site is unchanged


def test_options_answered(client, dl):
    for path in (dl.serial_path, f"/01/{GTIN_PUB}", f"/01/{GTIN_BAD}/10/x", "/.well-known/gs1resolver",
                 "/" + compress({"01": GTIN_PUB})):
        response = client.options(path, headers={"Origin": "https://app.example",
                                                 "Access-Control-Request-Method": "GET",
                                                 "Access-Control-Request-Headers": "accept-language"})
        assert response.status_code == 204, path
        assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}
        assert response.headers[CORS] == "*"
        assert "accept-language" in response.headers["Access-Control-Allow-Headers"].lower()
        assert response.get_data() == b""


# ---- compressed URIs -----------------------------------------------------------------------

def test_compressed_uri_resolves_like_the_uncompressed_one(client, dl):
    for elements, path in (({"01": GTIN_PUB}, f"/01/{GTIN_PUB}"),
                           ({"01": GTIN_PUB, "10": LOT}, f"/01/{GTIN_PUB}/10/{LOT}"),
                           ({"01": GTIN_PUB, "10": LOT, "21": dl.serial}, dl.serial_path)):
        for optimise in (True, False):
            token = compress(elements, optimise=optimise)
            for query in ("", "?linkType=gs1:pip", "?foo=bar"):
                compressed, plain = client.get(f"/{token}{query}"), client.get(path + query)
                assert location(compressed) == location(plain)
                assert f'<{BASE}{path}>; rel="owl:sameAs"' in compressed.headers["Link"]
            context = linkset(client.get(f"/{token}?linkType=all"))
            assert context["anchor"] == BASE + path
        assert location(client.get(f"/{compress(elements)}/")) == location(client.get(path))


def test_compressed_attributes_are_passed_on(client, dl):
    token = compress({"01": GTIN_PUB, "10": LOT, "15": "261231"}, others={"src": "qr"})
    response = client.get(f"/{token}?x=1")
    assert location(response) == f"{dl.lot_page}?15=261231&src=qr&x=1"
    assert f'<{BASE}/01/{GTIN_PUB}/10/{LOT}?15=261231&src=qr>; rel="owl:sameAs"' in response.headers["Link"]


def test_partially_compressed_uri(client, dl):
    token = compress({"10": LOT, "21": dl.serial})
    assert location(client.get(f"/01/{GTIN_PUB}/{token}")) == dl.stamp_page
    assert client.get(f"/01/{GTIN_BAD}/{token}").status_code == 400


def test_compressed_errors(client, dl):
    assert client.get("/" + compress({"01": GTIN_UNKNOWN})).status_code == 404
    assert client.get("/" + gs1.bits_to_base64("00000001" + f"{int(GTIN_BAD):047b}")).status_code == 400
    bad_lot = compress({"01": GTIN_PUB, "10": "A B"})
    assert client.get("/" + bad_lot, headers={"Accept": "application/json"}).get_json()["error"]["fields"] == {
        "10": "bad_characters"}
    assert client.get("/" + compress({"00": "106141412345678908"})).status_code == 404  # an SSCC: not served
    garbage = client.get("/zzzzzzzzzzzzzzzz")  # not a Digital Link: the site's own 404 page
    assert garbage.status_code == 404 and garbage.mimetype == "text/html"


# ---- routes around the resolver ------------------------------------------------------------

def test_resolver_routes_do_not_shadow_the_site(client, web, dl):
    adapter = web.url_map.bind("127.0.0.1:5000")
    expected = {
        "/": "catalogue.index", f"/p/{dl.slug}": "catalogue.product", "/p/x": "catalogue.product",
        f"/s/{dl.serial}": "scan.stamp", f"/S/{dl.serial}": "scan.stamp", "/s": "scan.lookup",
        "/static/style.css": "static", "/account/login": "auth.login", "/healthz": "catalogue.healthz",
        f"/lot/{dl.batch_id}": "scan.batch", f"/producers/{dl.producer_slug}": "catalogue.producer",
        f"/01/{GTIN_PUB}": "resolver.product", f"/01/{GTIN_PUB}/10/{LOT}": "resolver.lot",
        dl.serial_path: "resolver.serial", f"/01/{GTIN_PUB}/21/{dl.serial}": "resolver.qualified",
        "/" + compress({"01": GTIN_PUB}): "resolver.compressed", "/.well-known/gs1resolver": "resolver.description",
    }
    for path, endpoint in expected.items():
        assert adapter.match(path)[0] == endpoint, path
    for path in ("/", f"/p/{dl.slug}", f"/s/{dl.serial}", "/static/style.css", "/account/login", "/healthz"):
        assert client.get(path).status_code == 200, path
    assert client.get("/dashboard").status_code == 308  # the blueprint prefix still redirects
    # The site's own icon, not a key the resolver would try (issue 17: it used to be 404).
    assert adapter.match("/favicon.ico")[0] == "catalogue.favicon" and client.get("/favicon.ico").status_code == 200


def test_resolver_description(client, dl):
    response = client.get("/.well-known/gs1resolver")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["resolverRoot"] == BASE and body["supportedPrimaryKeys"] == ["01"]
    assert body["linkTypeDefaultCanBeLinkset"] is False and body["name"]
    assert body["supportedLinkType"][0]["namespace"] == VOC
    assert response.headers[CORS] == "*"
    assert client.head("/.well-known/gs1resolver").status_code == 200
