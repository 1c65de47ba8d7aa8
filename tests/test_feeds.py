"""Pull feeds for the exchanges (issue 5, "Pull"): the canonical catalogue item, exchange
profiles and pre-flight, ``GET /feeds/<exchange>.<format>`` (tokens, errors, ETag, streaming),
each format read back with a real parser (json, csv, openpyxl, ElementTree, rdflib) and the
``feed export`` / ``exchange token`` commands.

Requests go through a second app built on the test's database (``web``), as in test_scan:
each request then has its own context and session, as in production.  The test's own
session ends its transaction before every request (on SQLite it would hold the write lock).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import openpyxl
import pytest
import time_machine
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import insert, select, update

from marketplace.catalogue.service import (archive_product, create_product, publish_product, review_producer,
                                           submit_product, update_product)
from marketplace.extensions import db as _db
from marketplace.feeds import canonical, profiles
from marketplace.feeds.profiles import ProfileError, Reason
from marketplace.feeds.service import find_exchange
from marketplace.models import (Certification, OcopRecognition, Producer, Product, ProductGroup, ProductPhoto)
from marketplace.models.base import LOCAL_TZ, local_today, utcnow
from marketplace.trace.service import create_batch
from marketplace.validators import normalize_gtin
from tests.conftest import make_producer

BASE = "http://127.0.0.1:5000"
NOON = dt.datetime(2027, 3, 10, 5, 0, tzinfo=dt.timezone.utc)  # 12:00 in Vietnam
BOM = b"\xef\xbb\xbf"
G = "{http://base.google.com/ns/1.0}"
DFC_PT = "https://github.com/datafoodconsortium/taxonomies/releases/latest/download/productTypes.rdf#"
DFC_B = "https://github.com/datafoodconsortium/ontology/releases/latest/download/DFC_BusinessOntology.owl#"
CODES = ("thanhhoa", "postmart", "google", "dfc")

RICE = "Gạo nếp cái hoa vàng Đồng Tiến"
RICE_HTML = ("<p>Gạo nếp <b>cái hoa vàng</b> &amp; thơm dẻo</p>\n"
             "<ul><li>Vụ mùa 2025</li><li>Đóng túi 1&nbsp;kg</li></ul>")
RICE_TEXT_WORDS = "Gạo nếp cái hoa vàng & thơm dẻo Vụ mùa 2025 Đóng túi 1 kg"
HONEY = "Mật ong hoa vải & hoa nhãn <Thọ Bình>"
TEA = "Chè lam Phủ Quảng"
LONG = ("Bánh chưng lá dong nhân đậu xanh thịt ba chỉ gói tay truyền thống Đồng Tiến, "
        "luộc mười hai giờ bằng củi, đóng hộp quà Tết kèm lạt giang, giao tận nơi toàn tỉnh")
PERSONAL_ID = "038190012345"  # a household registered with its owner's citizen ID
TAX_CODE = "2801234567"
ORIGIN_WARD = 17479  # Xã An Châu, Nghệ An: not the producer's province


def with_check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


GTIN14 = normalize_gtin(with_check_digit("893604512345"))


# ---- fixtures and helpers ---------------------------------------------------------------

class FeedClient(FlaskClient):
    def open(self, *args, **kwargs):
        _db.session.rollback()  # the test's session: no open transaction (nor SQLite lock) during requests
        return super().open(*args, **kwargs)


@pytest.fixture
def web(app, app_factory):
    built = app_factory()
    built.test_client_class = FeedClient
    return built


@pytest.fixture
def http(web):
    return web.test_client()


@pytest.fixture
def tokens(db):
    made = {code: find_exchange(db.session, code).new_feed_token() for code in CODES}
    db.session.commit()
    return made


def fetch(http, code, fmt, token=None, *, headers=None, **query):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return http.get(f"/feeds/{code}.{fmt}", headers=headers, query_string=query or None)


def feed_json(http, tokens, code, **query) -> dict:
    response = fetch(http, code, "json", tokens[code], **query)
    assert response.status_code == 200, response.data[:500]
    return json.loads(response.data)


def csv_rows(data: bytes) -> list[dict]:
    assert data.startswith(BOM)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def group(session, code="1.2") -> ProductGroup:
    return session.scalars(select(ProductGroup).where(ProductGroup.code == code)).one()


def add_photo(session, product, position, upload_dir: Path) -> str:
    stem = secrets.token_urlsafe(12)
    Image.new("RGB", (16, 12), (200, 160, 40)).save(upload_dir / f"{stem}.jpg", "JPEG")
    session.add(ProductPhoto(product=product, stem=stem, width=16, height=12, position=position))
    return stem


def add_product(session, producer, name, upload_dir, *, description="Đặc sản xứ Thanh.", price=120000, stock=10,
                gtin=None, origin=None, photos=1, publish=True, net=Decimal("1"), unit="kg",
                packed=(1080, "30", "20", "6.5")):
    product = create_product(session, producer, {
        "name": name, "group_id": group(session).id, "description": description, "net_quantity": net,
        "unit": unit, "price_vnd": price, "stock": stock, "gtin": gtin, "origin_ward_code": origin,
        **dict(zip(("packed_weight_g", "package_length_cm", "package_width_cm", "package_height_cm"), packed)),
    })
    session.flush()
    stems = [add_photo(session, product, n, upload_dir) for n in range(photos)]
    if publish:
        submit_product(product)
        publish_product(product)
    return product, stems


def recognise(session, product, stars, valid_until, *, revoked=False, certificate_no="GCN-OCOP-38-0042"):
    rec = OcopRecognition(product=product, stars=stars, decision_no="1234/QĐ-UBND",
                          decision_date=valid_until - dt.timedelta(days=3 * 365), certificate_no=certificate_no,
                          issuer_level="provincial", issuer_name="UBND tỉnh Thanh Hóa", valid_until=valid_until,
                          revoked=revoked)
    session.add(rec)
    return rec


def certify(session, producer, scheme, number, *, product=None, verified=True, valid_from=None, valid_to=None):
    cert = Certification(producer=producer, product=product, scheme=scheme, number=number,
                         body="Trung tâm Chứng nhận Phù hợp QUACERT", valid_from=valid_from, valid_to=valid_to,
                         verified=verified, verified_at=utcnow() if verified else None)
    session.add(cert)
    return cert


@dataclass
class Catalogue:
    today: dt.date
    coop: Producer
    household: Producer
    waiting: Producer
    rice: Product
    honey: Product
    tea: Product
    long: Product
    draft: Product
    pending: Product
    withdrawn: Product
    hidden: Product
    photos: dict
    batch: object

    def ids(self, *products) -> list[str]:
        return sorted((f"ocop-{p.id}" for p in products), key=lambda i: int(i[5:]))


@pytest.fixture
def catalogue(app, db) -> Catalogue:
    """Two approved producers (a cooperative with a tax code, a household with a personal
    ID) and one still pending; published, draft, pending, withdrawn and hidden products."""
    s = db.session
    upload_dir = Path(app.config["UPLOAD_DIR"])
    upload_dir.mkdir(parents=True, exist_ok=True)
    today = local_today()
    coop = make_producer(s, "HTX Nông nghiệp Đồng Tiến", kind="cooperative")
    coop.tax_code, coop.address_line = TAX_CODE, "Thôn Đông Tiến 3"
    household = make_producer(s, "Hộ kinh doanh Lê Thị Bình", ward=15667)
    household.tax_code, household.phone = PERSONAL_ID, "0987654321"
    waiting = make_producer(s, "Hộ Trần Văn Chờ", status="pending")
    s.flush()
    photos = {}
    rice, photos["rice"] = add_product(s, coop, RICE, upload_dir, description=RICE_HTML, stock=25, gtin=GTIN14,
                                       origin=ORIGIN_WARD, photos=3)
    honey, photos["honey"] = add_product(s, household, HONEY, upload_dir, price=250000, stock=0,
                                         description="Mật ong nguyên chất, thu hoạch tháng 3.", unit="bottle",
                                         net=Decimal("0.5"))
    tea, _ = add_product(s, coop, TEA, upload_dir, price=45000, photos=0, description="Chè lam truyền thống.")
    long, _ = add_product(s, coop, LONG, upload_dir, price=80000, description="Bánh chưng gói tay.")
    draft, _ = add_product(s, coop, "Nem chua Thanh Hóa (bản nháp)", upload_dir, publish=False)
    pending, _ = add_product(s, coop, "Giò bò Thiệu Hóa", upload_dir, publish=False)
    submit_product(pending)
    withdrawn, _ = add_product(s, coop, "Bánh gai Tứ Trụ", upload_dir)
    archive_product(withdrawn)
    hidden, _ = add_product(s, waiting, "Mắm tép Hà Yên", upload_dir)
    s.flush()
    batch = create_batch(s, honey, lot_code="MO-2025-03", quantity=Decimal("50"), unit="bottle",
                         production_date=dt.date(2025, 3, 15))
    recognise(s, rice, 4, today + dt.timedelta(days=400))
    recognise(s, rice, 5, today - dt.timedelta(days=1), certificate_no="GCN-CU")  # lapsed yesterday
    recognise(s, honey, 5, today + dt.timedelta(days=100), revoked=True)
    certify(s, coop, "vietgap", "VG-38-0012", valid_from=today - dt.timedelta(days=100),
            valid_to=today + dt.timedelta(days=300))
    certify(s, coop, "organic", "TCVN11041-0007", product=rice)
    certify(s, coop, "haccp", "HACCP-UNVERIFIED", verified=False)
    certify(s, coop, "iso22000", "ISO-EXPIRED", valid_to=today - dt.timedelta(days=1))
    certify(s, coop, "food_safety", "ATTP-NOT-YET", valid_from=today + dt.timedelta(days=10))
    certify(s, coop, "globalgap", "GG-LONG-ONLY", product=long)
    s.commit()
    return Catalogue(today, coop, household, waiting, rice, honey, tea, long, draft, pending, withdrawn, hidden,
                     photos, batch)


def items(db, today, updated_since=None, chunk=canonical.CHUNK) -> list[dict]:
    return list(canonical.iter_items(db.session, base_url=BASE, today=today, updated_since=updated_since,
                                     chunk=chunk))


def by_id(found: list[dict]) -> dict[str, dict]:
    return {i["id"]: i for i in found}


def resolves(http, url: str, hops: int = 3) -> bool:
    """GET an absolute URL of ours through the test client, following our own redirects."""
    for _ in range(hops):
        response = http.get(urlsplit(url).path)
        if response.status_code not in (301, 302, 303, 307, 308):
            return response.status_code == 200
        url = response.headers["Location"]
        assert urlsplit(url).netloc in ("", "127.0.0.1:5000"), url
    return False


def aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


# ---- 1. the canonical item ---------------------------------------------------------------

def test_canonical_item_describes_the_product_for_every_exchange(db, catalogue, http):
    cat, s = catalogue, db.session
    found = items(db, cat.today)
    rice = by_id(found)[f"ocop-{cat.rice.id}"]
    honey = by_id(found)[f"ocop-{cat.honey.id}"]
    tea = by_id(found)[f"ocop-{cat.tea.id}"]

    for item in found:
        assert item["id"] == f"ocop-{int(item['id'][5:])}" and len(item["id"]) <= 50
    assert rice["title"] == RICE
    assert "<" not in rice["description"] and "&amp;" not in rice["description"]
    assert " ".join(rice["description"].split()) == RICE_TEXT_WORDS
    assert rice["category"] == group(s).name_vi and rice["category_code"] == "1.2"
    assert (rice["gtin"], rice["identifier_exists"]) == (GTIN14, "yes")
    assert (honey["gtin"], honey["identifier_exists"]) == (None, "no")
    assert rice["price"] == 120000 and type(rice["price"]) is int and rice["currency"] == "VND"
    assert (rice["stock"], rice["availability"]) == (25, "in_stock")
    assert (honey["stock"], honey["availability"]) == (0, "out_of_stock")
    assert (honey["net_quantity"], honey["unit"]) == ("0.5", "bottle")

    assert rice["images"] == [f"{BASE}/media/{stem}.jpg" for stem in cat.photos["rice"]]
    assert tea["images"] == []
    assert rice["link"] == f"{BASE}/p/{cat.rice.slug}"
    for url in (rice["link"], rice["images"][0], rice["traceability_url"], honey["traceability_url"]):
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("http", "127.0.0.1:5000"), url
        assert resolves(http, url), url  # the links lead somewhere
    assert RICE in http.get(urlsplit(rice["link"]).path).get_data(as_text=True)

    assert rice["producer"] == {
        "name": "HTX Nông nghiệp Đồng Tiến", "kind": "cooperative", "slug": cat.coop.slug,
        "link": f"{BASE}/producers/{cat.coop.slug}",
        "tax_code": TAX_CODE, "phone": "0912345678",
        "address": {"line": "Thôn Đông Tiến 3", "province_code": 38, "province_name": "Tỉnh Thanh Hóa",
                    "commune_code": 15724, "commune_name": "Xã Đồng Tiến"}}
    assert honey["producer"]["tax_code"] == ""  # a 12-digit personal ID is never published
    # The package as shipped, beside the label's net quantity; VAT from the group (1.2: 5 %).
    assert rice["shipping"] == {"weight_g": 1080, "length_cm": "30", "width_cm": "20", "height_cm": "6.5"}
    assert (rice["net_quantity"], rice["unit"]) == ("1", "kg")
    assert rice["vat_rate"] == 5 and rice["short_title"] == ""
    assert PERSONAL_ID not in json.dumps(found)
    assert honey["producer"]["address"]["commune_name"] == "Xã Thọ Bình"
    assert rice["origin"] == {"province_code": 40, "province_name": "Tỉnh Nghệ An", "commune_code": ORIGIN_WARD,
                              "commune_name": "Xã An Châu"}
    assert honey["origin"] == {"province_code": 38, "province_name": "Tỉnh Thanh Hóa", "commune_code": 15667,
                               "commune_name": "Xã Thọ Bình"}

    # The valid recognition with most stars; the lapsed 5-star and the revoked one do not count.
    assert rice["ocop"] == {"stars": 4, "certificate_no": "GCN-OCOP-38-0042", "issuer": "UBND tỉnh Thanh Hóa",
                            "valid_until": (cat.today + dt.timedelta(days=400)).isoformat()}
    assert honey["ocop"] is None and tea["ocop"] is None

    # Verified, valid today, and the producer's or this product's own.
    assert sorted(c["number"] for c in rice["certifications"]) == ["TCVN11041-0007", "VG-38-0012"]
    assert sorted(c["number"] for c in tea["certifications"]) == ["VG-38-0012"]
    assert sorted(c["number"] for c in by_id(found)[f"ocop-{cat.long.id}"]["certifications"]) == [
        "GG-LONG-ONLY", "VG-38-0012"]
    vietgap = next(c for c in rice["certifications"] if c["scheme"] == "vietgap")
    assert vietgap["valid_to"] == (cat.today + dt.timedelta(days=300)).isoformat()
    assert honey["certifications"] == []

    assert rice["traceability_url"] == f"{BASE}/01/{GTIN14}"
    assert honey["traceability_url"] == f"{BASE}/lot/{cat.batch.id}"
    assert tea["traceability_url"] is None

    s.rollback()
    for item, product in ((rice, cat.rice), (honey, cat.honey)):
        assert item["version"] == product.version
        moment = dt.datetime.fromisoformat(item["updated_at"])
        assert moment.tzinfo is not None
        assert aware(product.updated_at) <= moment <= utcnow()
    assert rice["version"] == 1  # made, published and recognised in one transaction: its first version


def test_full_feed_lists_published_products_of_approved_producers_in_id_order(db, catalogue):
    cat = catalogue
    found = items(db, cat.today)
    assert [i["id"] for i in found] == cat.ids(cat.rice, cat.honey, cat.tea, cat.long)
    assert not any(i.get("deleted") for i in found)
    # Small chunks give the same items (related rows are fetched per chunk).
    assert items(db, cat.today, chunk=1) == found


def test_delta_carries_changes_and_tombstones_never_drafts(app, db, catalogue):
    cat, s = catalogue, db.session
    _backdate_catalogue(s, utcnow() - dt.timedelta(hours=1))  # (a delta reaches a minute back: base.SETTLE)
    mark = utcnow()
    update_product(s, cat.rice, {"price_vnd": 125000})
    archive_product(cat.long)
    uploads = Path(app.config["UPLOAD_DIR"])
    late_draft, _ = add_product(s, cat.coop, "Bánh gai mới (nháp)", uploads, publish=False)
    late_pending, _ = add_product(s, cat.coop, "Chè lam gừng (chờ duyệt)", uploads, publish=False)
    submit_product(late_pending)
    archive_product(cat.draft)  # never published: nothing to withdraw
    s.commit()

    delta = items(db, cat.today, updated_since=mark)
    assert [i["id"] for i in delta] == cat.ids(cat.rice, cat.long)
    changed, gone = by_id(delta)[f"ocop-{cat.rice.id}"], by_id(delta)[f"ocop-{cat.long.id}"]
    assert changed["price"] == 125000 and not changed.get("deleted")
    s.rollback()
    assert {k: gone[k] for k in ("id", "deleted", "version")} == {
        "id": f"ocop-{cat.long.id}", "deleted": True, "version": cat.long.version}
    assert "title" not in gone and "price" not in gone
    assert cat.long.version == 2  # withdrawal is a new version exchanges compare

    # The full feed drops the withdrawn product; the product withdrawn before `mark` is in a
    # delta from before its withdrawal only; drafts and pending products never appear.
    assert f"ocop-{cat.long.id}" not in by_id(items(db, cat.today))
    since_start = items(db, cat.today, updated_since=mark - dt.timedelta(hours=1))
    assert by_id(since_start)[f"ocop-{cat.withdrawn.id}"]["deleted"] is True
    never = {f"ocop-{p.id}" for p in (cat.draft, cat.pending, late_draft, late_pending)}
    assert never.isdisjoint(by_id(since_start))
    # A product of a producer not (yet) approved was never public: at most an empty tombstone.
    hidden = by_id(since_start).get(f"ocop-{cat.hidden.id}")
    assert hidden is None or set(hidden) == {"id", "deleted", "version", "updated_at"}


def test_suspended_producer_leaves_as_tombstones(db, catalogue):
    cat, s = catalogue, db.session
    _backdate_catalogue(s, utcnow() - dt.timedelta(hours=1))
    mark = utcnow()
    review_producer(cat.household, "suspend", "Hồ sơ hết hạn")
    s.commit()
    delta = items(db, cat.today, updated_since=mark)
    assert delta == [{"id": f"ocop-{cat.honey.id}", "deleted": True, "version": cat.honey.version,
                      "updated_at": delta[0]["updated_at"]}]
    assert f"ocop-{cat.honey.id}" not in by_id(items(db, cat.today))


def test_a_delta_never_misses_a_change_committed_after_the_poll_it_predates(db, catalogue):
    """A change is stamped before its transaction commits (and by its own server's clock):
    one stamped 0.4 s before an exchange's poll but committed after it was in no delta the
    exchange would ask next, from the moment of that poll.  A delta reaches a minute back."""
    cat, s = catalogue, db.session
    with time_machine.travel(NOON - dt.timedelta(hours=1), tick=False):
        _backdate_catalogue(s, NOON - dt.timedelta(hours=1))
    with time_machine.travel(NOON - dt.timedelta(seconds=0.4), tick=False):
        update_product(s, s.merge(cat.rice), {"stock": 0})
        s.commit()  # (as if it committed after the poll at NOON)
    with time_machine.travel(NOON - dt.timedelta(seconds=90), tick=False):
        update_product(s, s.merge(cat.tea), {"stock": 1})
        s.commit()
    with time_machine.travel(NOON + dt.timedelta(seconds=5), tick=False):
        delta = by_id(items(db, cat.today, updated_since=NOON))
    assert delta[f"ocop-{cat.rice.id}"]["stock"] == 0
    assert f"ocop-{cat.tea.id}" not in delta  # older than the minute: the previous poll's


def test_ocop_stars_leave_the_item_the_day_after_valid_until(db, catalogue):
    cat, s = catalogue, db.session
    until = cat.today + dt.timedelta(days=30)
    recognise(s, cat.honey, 3, until)
    s.commit()
    honey = f"ocop-{cat.honey.id}"

    def one(today, since=None):
        return by_id(items(db, today, updated_since=since)).get(honey)

    assert one(cat.today)["ocop"]["stars"] == 3
    assert one(until)["ocop"]["stars"] == 3  # valid through its last day
    lapsed = one(until + dt.timedelta(days=1))
    assert lapsed["ocop"] is None
    lapse = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), LOCAL_TZ)
    assert dt.datetime.fromisoformat(lapsed["updated_at"]) == lapse

    # A delta asked for after the last change but before the lapse carries the product…
    before = dt.datetime.combine(until, dt.time(12), LOCAL_TZ)
    delta = items(db, until + dt.timedelta(days=1), updated_since=before)
    assert [i["id"] for i in delta] == [honey] and delta[0]["ocop"] is None
    # …with updated_since in UTC too (noon in Vietnam is 05:00 UTC)…
    assert [i["id"] for i in items(db, until + dt.timedelta(days=1),
                                   updated_since=before.astimezone(dt.timezone.utc))] == [honey]
    # …not before the lapse has happened, nor once it is older than updated_since.
    assert items(db, until, updated_since=before) == []
    after = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(12), LOCAL_TZ)
    assert items(db, until + dt.timedelta(days=2), updated_since=after) == []


# ---- 2. profiles and pre-flight ----------------------------------------------------------

VALID = {"formats": ["json", "csv"], "fields": [["ma", "id"], ["ten", "title"]], "required": ["title"],
         "limits": {"title": 100}}


@pytest.mark.parametrize("change, field", [
    ({"fields": [["ma", "id"], ["ten", "ten_san_pham"]]}, "fields"),  # not a canonical field
    ({"fields": [["ma", "id"], ["ma", "title"]]}, "fields"),           # exchange field twice
    ({"fields": [["ma"]]}, "fields"),
    ({"formats": ["pdf"]}, "formats"),
    ({"formats": []}, "formats"),
    ({"limits": {"title": -1}}, "limits"),
    ({"limits": {"title": "150"}}, "limits"),
    ({"limits": {"title": True}}, "limits"),
    ({"limits": {"weight": 3}}, "limits"),
    ({"required": ["image"]}, "required"),
])
def test_parse_refuses_broken_profiles(change, field):
    with pytest.raises(ProfileError) as refused:
        profiles.parse(dict(VALID, **change))
    assert refused.value.field == field


def test_shipped_profiles_parse(app):
    for code in CODES:
        profile = profiles.parse(profiles.shipped(code))
        assert profile.code == code and profile.formats
    assert profiles.parse(VALID).columns == ["ma", "ten"]


def test_profile_of_uses_the_officers_edit(db, catalogue, tokens, http):
    s = db.session
    exchange = find_exchange(s, "thanhhoa")
    assert profiles.profile_of(exchange).columns[:2] == ["ma_san_pham", "ten_san_pham"]
    exchange.profile = dict(VALID, code="somewhere-else", limits={"title": 200})
    s.commit()
    profile = profiles.profile_of(exchange)
    assert (profile.code, profile.name, profile.columns) == ("thanhhoa", exchange.name, ["ma", "ten"])

    body = feed_json(http, tokens, "thanhhoa")
    # Only the edited profile's fields; the no-photo tea is in (the edit requires a title only).
    assert body["items"] and all(list(item) == ["ma", "ten"] for item in body["items"])
    assert {i["ma"] for i in body["items"]} == set(catalogue.ids(catalogue.rice, catalogue.honey, catalogue.tea,
                                                                 catalogue.long))
    assert csv_rows(fetch(http, "thanhhoa", "csv", tokens["thanhhoa"]).data)[0].keys() == {"ma", "ten"}
    refused = fetch(http, "thanhhoa", "xlsx", tokens["thanhhoa"])  # no longer one of its formats
    assert refused.status_code == 404 and refused.json["error"]["code"] == "unknown_format"


def test_preflight_reasons(db, catalogue):
    cat = catalogue
    found = by_id(items(db, cat.today))
    tea, long, rice = (found[f"ocop-{p.id}"] for p in (cat.tea, cat.long, cat.rice))
    shipped = {code: profiles.profile_of(find_exchange(db.session, code)) for code in CODES}

    for code in ("postmart", "google", "thanhhoa"):
        reasons = profiles.reasons(shipped[code], tea)
        assert Reason(code, "image_link", "missing") in reasons
        assert all(str(r).startswith(profiles.exchange_short_name(code) + ": ") for r in reasons)
    assert profiles.reasons(shipped["dfc"], tea) == []

    assert len(LONG) > 150
    google = profiles.reasons(shipped["google"], long)
    assert google == [Reason("google", "title", "too_long", 150)]
    assert str(google[0]).startswith("Google: ") and "150" in str(google[0])  # a sentence, naming it once
    assert profiles.reasons(shipped["thanhhoa"], long) == []  # its limit is 200
    assert all(profiles.reasons(shipped[code], rice) == [] for code in CODES)


def test_refused_items_are_left_out_of_that_exchange_only(catalogue, tokens, http):
    cat = catalogue

    def ids(code, key):
        return [i[key] for i in feed_json(http, tokens, code)["items"]]

    assert ids("thanhhoa", "ma_san_pham") == cat.ids(cat.rice, cat.honey, cat.long)   # tea has no photo
    assert ids("postmart", "product_id") == cat.ids(cat.rice, cat.honey)              # title over 120, no photo
    assert ids("google", "g:id") == cat.ids(cat.rice, cat.honey)                      # title over 150, no photo
    xml = ET.fromstring(fetch(http, "google", "xml", tokens["google"]).data)
    assert [e.findtext(f"{G}id") for e in xml.iter("item")] == cat.ids(cat.rice, cat.honey)
    graph = json.loads(fetch(http, "dfc", "json", tokens["dfc"]).data)["@graph"]
    skus = [n["dfc-b:sku"] for n in graph if n["@type"] == "dfc-b:CatalogItem"]
    assert skus == [f"OCOP-{p.id}" for p in sorted((cat.rice, cat.honey, cat.tea, cat.long), key=lambda p: p.id)]


# ---- 3. the pull route -------------------------------------------------------------------

def test_unknown_exchange_is_404_json(http, tokens):
    response = fetch(http, "shopee", "json", tokens["thanhhoa"])
    assert response.status_code == 404
    assert response.json["error"]["code"] == "unknown_exchange"
    assert response.mimetype == "application/json"


def test_feed_token_is_required(db, catalogue, http, tokens):
    for headers in ({}, {"Authorization": "Bearer feed_wrong"}, {"Authorization": f"Basic {tokens['postmart']}"},
                    {"Authorization": f"Bearer {tokens['thanhhoa']}"}, {"Authorization": "Bearer "}):
        response = http.get("/feeds/postmart.json", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json["error"]["code"] == "unauthorized"
        assert RICE.encode() not in response.data
    assert fetch(http, "postmart", "json", tokens["postmart"]).status_code == 200

    exchange = find_exchange(db.session, "postmart")
    fresh = exchange.new_feed_token()
    db.session.commit()
    assert fresh.startswith("feed_") and fresh != tokens["postmart"]
    assert fetch(http, "postmart", "json", tokens["postmart"]).status_code == 401  # the old one stops working
    assert fetch(http, "postmart", "json", fresh).status_code == 200


def test_exchange_without_a_token_refuses_everyone(db, http):
    assert find_exchange(db.session, "google").feed_token_hash is None
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        assert http.get("/feeds/google.xml", headers=headers).status_code == 401


@pytest.mark.parametrize("path", ["/feeds/thanhhoa.pdf", "/feeds/thanhhoa.xml", "/feeds/dfc.csv",
                                  "/feeds/postmart.xml", "/feeds/google.xlsx"])
def test_unknown_format_is_404(http, tokens, path):
    code = path.split("/")[2].split(".")[0]
    response = http.get(path, headers={"Authorization": f"Bearer {tokens[code]}"})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "unknown_format"


@pytest.mark.parametrize("value", ["garbage", "2025-13-01", "2025-11-31T10:00:00", "yesterday", "1730419200"])
def test_malformed_updated_since_is_400(catalogue, http, tokens, value):
    response = fetch(http, "thanhhoa", "json", tokens["thanhhoa"], updated_since=value)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "updated_since"
    assert response.json["error"]["code"] == "invalid_updated_since"


def test_updated_since_accepts_dates_and_offsets(catalogue, http, tokens):
    cat = catalogue
    for value in ("2020-01-01", "2020-01-01T00:00:00+07:00", "2020-01-01T00:00:00Z"):
        body = feed_json(http, tokens, "thanhhoa", updated_since=value)
        ids = [i["ma_san_pham"] for i in body["items"]]
        assert f"ocop-{cat.withdrawn.id}" in ids and f"ocop-{cat.rice.id}" in ids
    future = (utcnow() + dt.timedelta(days=1)).isoformat()
    assert feed_json(http, tokens, "thanhhoa", updated_since=future)["items"] == []


def test_etag_last_modified_and_304(db, catalogue, http, tokens):
    cat, s = catalogue, db.session
    first = fetch(http, "thanhhoa", "json", tokens["thanhhoa"])
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag and "Last-Modified" not in first.headers  # (the catalogue changed under a minute ago)
    assert "Set-Cookie" not in first.headers
    assert "Authorization" in first.headers.get("Vary", "")

    again = fetch(http, "thanhhoa", "json", tokens["thanhhoa"], headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag and "Set-Cookie" not in again.headers
    assert fetch(http, "thanhhoa", "csv", tokens["thanhhoa"]).headers["ETag"] != etag  # another representation

    update_product(s, cat.rice, {"price_vnd": 99000})
    s.commit()
    changed = fetch(http, "thanhhoa", "json", tokens["thanhhoa"], headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    rice = next(i for i in json.loads(changed.data)["items"] if i["ma_san_pham"] == f"ocop-{cat.rice.id}")
    assert rice["gia_ban_vnd"] == 99000

    archive_product(cat.honey)
    s.commit()
    withdrawn = fetch(http, "thanhhoa", "json", tokens["thanhhoa"], headers={"If-None-Match": changed.headers["ETag"]})
    assert withdrawn.status_code == 200
    assert f"ocop-{cat.honey.id}" not in {i["ma_san_pham"] for i in json.loads(withdrawn.data)["items"]}


def _backdate_catalogue(s, moment):
    """As if nothing had changed since ``moment`` (so second-resolution dates can differ)."""
    s.execute(update(Product).values(updated_at=moment))
    s.execute(update(Producer).values(updated_at=moment))
    s.execute(update(OcopRecognition).values(created_at=moment))
    s.execute(update(Certification).where(Certification.verified.is_(True)).values(verified_at=moment))
    s.commit()


def test_last_modified_is_the_latest_change_once_settled(db, catalogue, http, tokens):
    """Last-Modified is the newest change, given once no change still to commit can share
    its second (a change is stamped before it commits, by its own server's clock)."""
    with time_machine.travel(NOON, tick=False):
        _backdate_catalogue(db.session, NOON - dt.timedelta(hours=1))
        response = fetch(http, "thanhhoa", "csv", tokens["thanhhoa"])
        assert parsedate_to_datetime(response.headers["Last-Modified"]) == NOON - dt.timedelta(hours=1)
    changed = NOON + dt.timedelta(seconds=0.1)
    with time_machine.travel(changed, tick=False):
        update_product(db.session, db.session.merge(catalogue.rice), {"stock": 3})
        db.session.commit()
    for seconds, given in ((0.4, False), (60.9, False), (61.0, True)):  # past NOON: its second ends, + SETTLE
        with time_machine.travel(NOON + dt.timedelta(seconds=seconds), tick=False):
            response = fetch(http, "thanhhoa", "csv", tokens["thanhhoa"])
        assert ("Last-Modified" in response.headers) is given, seconds
    assert parsedate_to_datetime(response.headers["Last-Modified"]) == NOON


def test_if_modified_since_never_hides_a_change_in_the_same_second(db, catalogue, http, tokens):
    """A client that revalidates with the date alone is told 304 only when nothing changed:
    two changes in one second, polled between them, were answered 304 (the date is cut to
    the second), so an exchange kept selling a product the site showed out of stock."""
    with time_machine.travel(NOON, tick=False):
        _backdate_catalogue(db.session, NOON - dt.timedelta(hours=1))
    with time_machine.travel(NOON + dt.timedelta(seconds=0.1), tick=False):
        update_product(db.session, db.session.merge(catalogue.rice), {"price_vnd": 150000})
        db.session.commit()
    with time_machine.travel(NOON + dt.timedelta(seconds=0.4), tick=False):
        between = fetch(http, "thanhhoa", "json", tokens["thanhhoa"])
    assert "Last-Modified" not in between.headers  # its ETag is the validator
    with time_machine.travel(NOON + dt.timedelta(seconds=0.8), tick=False):
        update_product(db.session, db.session.merge(catalogue.rice), {"stock": 0})
        db.session.commit()
    with time_machine.travel(NOON + dt.timedelta(minutes=2), tick=False):
        settled = fetch(http, "thanhhoa", "json", tokens["thanhhoa"])
        since = settled.headers["Last-Modified"]
        assert fetch(http, "thanhhoa", "json", tokens["thanhhoa"],
                     headers={"If-Modified-Since": since}).status_code == 304
        stale = fetch(http, "thanhhoa", "json", tokens["thanhhoa"], headers={"If-None-Match": between.headers["ETag"]})
        assert stale.status_code == 200
        rice = next(i for i in json.loads(stale.data)["items"] if i["ma_san_pham"] == f"ocop-{catalogue.rice.id}")
        assert rice["ton_kho"] == 0 and rice["gia_ban_vnd"] == 150000


def test_last_modified_moves_at_midnight(db, catalogue, http, tokens):
    """The feed changes by the date too (an OCOP recognition or certificate lapses
    overnight): a client that last saw it yesterday is not told 304 today."""
    yesterday = dt.datetime(2027, 3, 9, 3, 0, tzinfo=dt.timezone.utc)  # 10:00 on 9/3 in Vietnam
    with time_machine.travel(yesterday + dt.timedelta(hours=1), tick=False):
        _backdate_catalogue(db.session, yesterday)
        since = fetch(http, "thanhhoa", "json", tokens["thanhhoa"]).headers["Last-Modified"]
    assert parsedate_to_datetime(since) == yesterday
    with time_machine.travel(NOON, tick=False):
        today = fetch(http, "thanhhoa", "json", tokens["thanhhoa"], headers={"If-Modified-Since": since})
    assert today.status_code == 200
    assert parsedate_to_datetime(today.headers["Last-Modified"]) == dt.datetime(2027, 3, 10, 0, 0, tzinfo=LOCAL_TZ)


def test_if_modified_since_sees_a_withdrawal(db, catalogue, http, tokens):
    # (at noon in Vietnam: an hour before is the same day, so the date is the newest change)
    with time_machine.travel(NOON, tick=False):
        _backdate_catalogue(db.session, NOON - dt.timedelta(hours=1))
        first = fetch(http, "thanhhoa", "json", tokens["thanhhoa"])
        since = first.headers["Last-Modified"]
        assert fetch(http, "thanhhoa", "json", tokens["thanhhoa"],
                     headers={"If-Modified-Since": since}).status_code == 304
    with time_machine.travel(NOON + dt.timedelta(seconds=10), tick=False):
        archive_product(db.session.merge(catalogue.honey))
        db.session.commit()
        after = fetch(http, "thanhhoa", "json", tokens["thanhhoa"], headers={"If-Modified-Since": since})
    assert after.status_code == 200, "the feed lost an item but the client was told nothing changed"
    assert "Last-Modified" not in after.headers  # (the withdrawal is under a minute old)


# ---- 4. formats, read back with real parsers ---------------------------------------------

def test_json_feed_in_the_profiles_field_names(catalogue, http, tokens):
    cat = catalogue
    response = fetch(http, "thanhhoa", "json", tokens["thanhhoa"])
    assert response.mimetype == "application/json"
    assert RICE.encode("utf-8") in response.data  # Vietnamese as UTF-8, not \u escapes
    body = json.loads(response.data)
    assert body["exchange"] == "thanhhoa"
    dt.datetime.fromisoformat(body["generated_at"])
    columns = profiles.parse(profiles.shipped("thanhhoa")).columns
    assert all(list(item) == columns for item in body["items"])
    rice = next(i for i in body["items"] if i["ma_san_pham"] == f"ocop-{cat.rice.id}")
    honey = next(i for i in body["items"] if i["ma_san_pham"] == f"ocop-{cat.honey.id}")
    assert rice["ten_san_pham"] == RICE and rice["gia_ban_vnd"] == 120000
    assert rice["anh_dai_dien"] == f"{BASE}/media/{cat.photos['rice'][0]}.jpg"
    assert rice["anh_khac"] == [f"{BASE}/media/{stem}.jpg" for stem in cat.photos["rice"][1:]]
    assert (rice["sao_ocop"], rice["ma_so_thue"], rice["tinh"]) == (4, TAX_CODE, "Tỉnh Nghệ An")
    assert (honey["ten_san_pham"], honey["ma_so_thue"], honey["sao_ocop"]) == (HONEY, "", None)
    assert "VG-38-0012" in rice["chung_nhan"]
    assert PERSONAL_ID.encode() not in response.data


def test_csv_feed_has_a_bom_and_round_trips_vietnamese(catalogue, http, tokens):
    cat = catalogue
    response = fetch(http, "thanhhoa", "csv", tokens["thanhhoa"])
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith(BOM)
    rows = csv_rows(response.data)
    columns = profiles.parse(profiles.shipped("thanhhoa")).columns
    assert list(rows[0]) == columns and "deleted" not in rows[0]
    assert [r["ma_san_pham"] for r in rows] == cat.ids(cat.rice, cat.honey, cat.long)
    rice, honey, long = rows
    assert rice["ten_san_pham"] == RICE and honey["ten_san_pham"] == HONEY and long["ten_san_pham"] == LONG
    assert " ".join(rice["mo_ta"].split()) == RICE_TEXT_WORDS  # a multi-line cell survives
    assert rice["anh_khac"] == " | ".join(f"{BASE}/media/{stem}.jpg" for stem in cat.photos["rice"][1:])
    assert (rice["gia_ban_vnd"], rice["ton_kho"], rice["sao_ocop"]) == ("120000", "25", "4")
    assert rice["dia_chi"] == "Thôn Đông Tiến 3, Xã Đồng Tiến, Tỉnh Thanh Hóa"
    assert (honey["ma_so_thue"], honey["sao_ocop"], honey["tinh_trang"]) == ("", "", "out_of_stock")
    assert PERSONAL_ID.encode() not in response.data


def test_delta_csv_marks_tombstones(db, catalogue, http, tokens):
    cat, s = catalogue, db.session
    _backdate_catalogue(s, utcnow() - dt.timedelta(hours=1))
    mark = utcnow()
    update_product(s, cat.rice, {"name": RICE + " (túi 2 kg)"})
    archive_product(cat.honey)
    s.commit()
    response = fetch(http, "postmart", "csv", tokens["postmart"], updated_since=mark.isoformat())
    rows = csv_rows(response.data)
    assert list(rows[0]) == profiles.parse(profiles.shipped("postmart")).columns + ["deleted"]
    assert [(r["product_id"], r["deleted"]) for r in rows] == [
        (f"ocop-{cat.rice.id}", "no"), (f"ocop-{cat.honey.id}", "yes")]
    changed, gone = rows
    assert changed["name"] == RICE + " (túi 2 kg)"
    s.rollback()
    assert gone["version"] == str(cat.honey.version) and gone["name"] == "" and gone["price"] == ""

    body = feed_json(http, tokens, "postmart", updated_since=mark.isoformat())
    assert body["items"][1] == {"product_id": f"ocop-{cat.honey.id}", "deleted": True,
                                "version": cat.honey.version}


def test_xlsx_feed_opens_in_openpyxl(catalogue, http, tokens):
    cat = catalogue
    response = fetch(http, "thanhhoa", "xlsx", tokens["thanhhoa"])
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    columns = profiles.parse(profiles.shipped("thanhhoa")).columns
    assert rows[0] == columns
    assert sheet.freeze_panes == "A2"
    table = [dict(zip(columns, row)) for row in rows[1:]]
    assert [r["ma_san_pham"] for r in table] == cat.ids(cat.rice, cat.honey, cat.long)
    assert [r["ten_san_pham"] for r in table] == [RICE, HONEY, LONG]
    assert table[0]["gia_ban_vnd"] == 120000 and table[0]["sao_ocop"] == 4
    assert table[0]["anh_khac"] == " | ".join(f"{BASE}/media/{s}.jpg" for s in cat.photos["rice"][1:])


def test_google_xml_is_merchant_rss(catalogue, http, tokens):
    cat = catalogue
    response = fetch(http, "google", "xml", tokens["google"])
    assert response.status_code == 200 and response.mimetype == "application/rss+xml"
    root = ET.fromstring(response.data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    found = {e.findtext(f"{G}id"): e for e in root.find("channel").iter("item")}
    rice, honey = found[f"ocop-{cat.rice.id}"], found[f"ocop-{cat.honey.id}"]
    assert rice.findtext(f"{G}title") == RICE
    assert honey.findtext(f"{G}title") == HONEY  # & and < escaped, read back whole
    assert rice.findtext(f"{G}price") == "120000 VND" and honey.findtext(f"{G}price") == "250000 VND"
    assert (rice.findtext(f"{G}gtin"), rice.findtext(f"{G}identifier_exists")) == (GTIN14, "yes")
    assert (honey.find(f"{G}gtin"), honey.findtext(f"{G}identifier_exists")) == (None, "no")
    assert rice.findtext(f"{G}image_link") == f"{BASE}/media/{cat.photos['rice'][0]}.jpg"
    assert [e.text for e in rice.findall(f"{G}additional_image_link")] == [
        f"{BASE}/media/{stem}.jpg" for stem in cat.photos["rice"][1:]]
    assert rice.findtext(f"{G}link") == f"{BASE}/p/{cat.rice.slug}"
    assert honey.findtext(f"{G}availability") == "out_of_stock"
    assert rice.findtext(f"{G}brand") == "HTX Nông nghiệp Đồng Tiến"
    assert all(child.tag.startswith(G) for item in found.values() for child in item)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib")  # rdflib's own ConjunctiveGraph use
def test_dfc_catalogue_is_json_ld(catalogue, http, tokens):
    rdflib = pytest.importorskip("rdflib")
    from rdflib.namespace import RDF

    cat = catalogue
    response = fetch(http, "dfc", "json", tokens["dfc"])
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    doc = json.loads(response.data)
    offers = [n for n in doc["@graph"] if n["@type"] == "dfc-b:Offer"]
    assert len(offers) == 4
    assert all(o["dfc-b:hasPrice"]["dfc-b:hasUnit"] == "ocop:VND" for o in offers)
    assert all(o["dfc-b:hasPrice"]["dfc-b:VATrate"] == 5 and o["dfc-b:offeredTo"] == "ocop:every-buyer"
               for o in offers)

    graph = rdflib.Graph().parse(data=response.data.decode("utf-8"), format="json-ld")
    dfc = rdflib.Namespace(DFC_B)
    products = set(graph.subjects(RDF.type, dfc.SuppliedProduct))
    catalog_items = set(graph.subjects(RDF.type, dfc.CatalogItem))
    offer_nodes = set(graph.subjects(RDF.type, dfc.Offer))
    assert len(products) == len(catalog_items) == len(offer_nodes) == 4
    names = {str(graph.value(p, dfc.name)) for p in products}
    assert names == {RICE, HONEY, TEA, LONG}
    vnd = rdflib.URIRef(f"{BASE}/ns/dfc#VND")
    prices = set()
    for item in catalog_items:
        assert graph.value(item, dfc.references) in products
        offer = graph.value(item, dfc.offeredThrough)
        assert offer in offer_nodes
        price = graph.value(offer, dfc.hasPrice)
        assert graph.value(price, dfc.hasUnit) == vnd
        prices.add((str(graph.value(item, dfc.sku)), graph.value(price, dfc.value).toPython()))
    assert prices == {(f"OCOP-{cat.rice.id}", 120000), (f"OCOP-{cat.honey.id}", 250000),
                      (f"OCOP-{cat.tea.id}", 45000), (f"OCOP-{cat.long.id}", 80000)}
    enterprises = set(graph.subjects(RDF.type, dfc.Enterprise))
    assert {str(graph.value(e, dfc.name)) for e in enterprises} == {"HTX Nông nghiệp Đồng Tiến",
                                                                   "Hộ kinh doanh Lê Thị Bình"}
    assert {o for e in enterprises for o in graph.objects(e, dfc.supplies)} == products
    # Named by the producer's slug, so every feed (and a delta) agrees on who is who; the
    # IRI dereferences (tests/test_dfc_connector.py fetches every node through a server).
    assert {str(e) for e in enterprises} == {f"{BASE}/dfc/enterprises/{cat.coop.slug}",
                                             f"{BASE}/dfc/enterprises/{cat.household.slug}"}
    coop = rdflib.URIRef(f"{BASE}/dfc/enterprises/{cat.coop.slug}")
    address = graph.value(coop, dfc.hasAddress)
    assert str(graph.value(address, dfc.hasCity)) == "Xã Đồng Tiến" and str(graph.value(coop, dfc.VATnumber)) == TAX_CODE
    kinds = {str(graph.value(p, dfc.name)): str(graph.value(p, dfc.hasType)) for p in products}
    assert kinds[RICE] == DFC_PT + "dried_goods"  # the DFC profile's product type of group 1.2


def test_xlsx_survives_a_pasted_line_break(db, catalogue, http, tokens):
    update_product(db.session, catalogue.rice, {"description": "Gạo thơm\x0bdẻo, nấu xôi ngon"})
    db.session.commit()
    response = fetch(http, "thanhhoa", "xlsx", tokens["thanhhoa"])
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    description = rows[1][rows[0].index("mo_ta")]
    assert "Gạo thơm" in description and "dẻo, nấu xôi ngon" in description


def test_google_xml_survives_a_pasted_line_break(db, catalogue, http, tokens):
    update_product(db.session, catalogue.rice, {"description": "Gạo thơm\x0bdẻo, nấu xôi ngon"})
    db.session.commit()
    root = ET.fromstring(fetch(http, "google", "xml", tokens["google"]).data)
    rice = next(e for e in root.iter("item") if e.findtext(f"{G}id") == f"ocop-{catalogue.rice.id}")
    assert "dẻo, nấu xôi ngon" in rice.findtext(f"{G}description")


def test_xlsx_keeps_text_that_starts_with_an_equals_sign(db, catalogue, http, tokens):
    text = "=== Gạo nếp cái hoa vàng: đạt OCOP 4 sao ==="
    update_product(db.session, catalogue.rice, {"description": text})
    db.session.commit()
    response = fetch(http, "thanhhoa", "xlsx", tokens["thanhhoa"])
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("mo_ta") + 1)
    assert cell.data_type == "s" and cell.value == text


# ---- 5. the command line -----------------------------------------------------------------

def cli(db, runner, *args):
    db.session.rollback()  # the command writes with its own session
    return runner.invoke(args=list(args))


def test_feed_export_writes_a_bom_csv(db, catalogue, runner, tmp_path):
    out = tmp_path / "thanhhoa.csv"
    result = cli(db, runner, "feed", "export", "thanhhoa", "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    rows = csv_rows(data)
    assert [r["ten_san_pham"] for r in rows] == [RICE, HONEY, LONG]

    out = tmp_path / "google.xml"
    assert cli(db, runner, "feed", "export", "google", "--format", "xml", "-o", str(out)).exit_code == 0
    assert len(ET.parse(out).getroot().find("channel").findall("item")) == 2


def test_feed_export_refuses_bad_input(db, catalogue, runner, tmp_path):
    out = tmp_path / "x.csv"
    result = cli(db, runner, "feed", "export", "thanhhoa", "--format", "csv", "-o", str(out),
                 "--updated-since", "garbage")
    assert result.exit_code != 0
    assert "updated_since" in result.output and "ISO 8601" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()

    result = cli(db, runner, "feed", "export", "nowhere", "-o", str(out))
    assert result.exit_code != 0 and "nowhere" in result.output
    result = cli(db, runner, "feed", "export", "dfc", "--format", "csv", "-o", str(out))
    assert result.exit_code != 0 and "json" in result.output
    assert cli(db, runner, "exchange", "token", "nowhere").exit_code != 0


def test_feed_export_delta(db, catalogue, runner, tmp_path):
    _backdate_catalogue(db.session, utcnow() - dt.timedelta(hours=1))
    mark = utcnow()
    archive_product(catalogue.rice)
    db.session.commit()
    out = tmp_path / "delta.csv"
    result = cli(db, runner, "feed", "export", "thanhhoa", "--format", "csv", "-o", str(out),
                 "--updated-since", mark.isoformat())
    assert result.exit_code == 0, result.output
    assert [(r["ma_san_pham"], r["deleted"]) for r in csv_rows(out.read_bytes())] == [
        (f"ocop-{catalogue.rice.id}", "yes")]


def test_exchange_token_prints_a_working_bearer_token(db, catalogue, runner, http):
    result = cli(db, runner, "exchange", "token", "postmart")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("feed_") and len(token) > 30 and "\n" not in token
    response = http.get("/feeds/postmart.json", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert json.loads(response.data)["exchange"] == "postmart"
    assert http.get("/feeds/thanhhoa.json", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    second = cli(db, runner, "exchange", "token", "postmart").stdout.strip()
    assert second != token
    assert http.get("/feeds/postmart.json", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert http.get("/feeds/postmart.json", headers={"Authorization": f"Bearer {second}"}).status_code == 200


# ---- 6. streaming ------------------------------------------------------------------------

MANY = 2000


def bulk_catalogue(db, count=MANY) -> list[int]:
    """``count`` published products of an approved producer, each with a photo, inserted in bulk."""
    s = db.session
    producer = make_producer(s, "HTX Sản xuất Lớn Quảng Xương", kind="cooperative")
    s.flush()
    now = utcnow()
    gid = group(s).id
    s.execute(insert(Product), [{
        "producer_id": producer.id, "name": f"Sản phẩm OCOP số {n:04d}", "slug": f"san-pham-ocop-so-{n:04d}",
        "group_id": gid, "description": f"Mô tả sản phẩm số {n}", "ingredients": "", "net_quantity": Decimal("0.5"),
        "unit": "kg", "price_vnd": 10000 + n, "stock": n % 5, "storage_instructions": "", "usage_instructions": "",
        "warnings": "", "status": "published", "review_note": "", "search_text": f"san pham ocop so {n}",
        "version": 2, "created_at": now, "updated_at": now, "published_at": now} for n in range(count)])
    ids = list(s.scalars(select(Product.id).where(Product.producer_id == producer.id).order_by(Product.id)))
    s.execute(insert(ProductPhoto), [{"product_id": pid, "stem": f"bulk{pid}x", "width": 800, "height": 600,
                                      "position": 0, "created_at": now} for pid in ids])
    s.commit()
    return ids


def test_feed_response_is_streamed(catalogue, web, http, tokens):
    headers = {"Authorization": f"Bearer {tokens['thanhhoa']}"}
    _db.session.rollback()
    with web.test_request_context("/feeds/thanhhoa.json", headers=headers):
        response = web.full_dispatch_request()  # the response as it leaves the app, before the WSGI server
        assert response.status_code == 200
        streamed = response.is_streamed
        response.close()
    assert streamed
    assert "Content-Length" not in fetch(http, "thanhhoa", "csv", tokens["thanhhoa"]).headers


def test_large_feed_is_complete_and_in_id_order(db, http, tokens):
    ids = bulk_catalogue(db)
    assert len(ids) == MANY
    expected = [f"ocop-{pid}" for pid in ids]

    body = feed_json(http, tokens, "thanhhoa")
    assert [i["ma_san_pham"] for i in body["items"]] == expected
    assert body["items"][-1]["gia_ban_vnd"] == 10000 + MANY - 1

    rows = csv_rows(fetch(http, "thanhhoa", "csv", tokens["thanhhoa"]).data)
    assert [r["ma_san_pham"] for r in rows] == expected
    assert rows[1234]["ten_san_pham"] == "Sản phẩm OCOP số 1234"

    graph = json.loads(fetch(http, "dfc", "json", tokens["dfc"]).data)["@graph"]
    assert [n["dfc-b:sku"] for n in graph if n["@type"] == "dfc-b:CatalogItem"] == [f"OCOP-{pid}" for pid in ids]


def test_machine_csv_carries_values_verbatim(db, catalogue, http, tokens):
    """Issue 16, point 7: a feed is read by a machine, so a value that starts like a
    spreadsheet formula is sent as it is (CSV quoting keeps it one cell); the guard belongs
    to files people open (tests/test_spreadsheet_guard.py)."""
    cat, s = catalogue, db.session
    update_product(s, cat.rice, {"name": '=HYPERLINK("http://x.example")', "description": "-giảm giá +10%"})
    s.commit()
    rice = csv_rows(fetch(http, "thanhhoa", "csv", tokens["thanhhoa"]).data)[0]
    assert rice["mo_ta"] == "-giảm giá +10%"
    assert rice["ten_san_pham"] == '=HYPERLINK("http://x.example")'
