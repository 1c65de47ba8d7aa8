"""Authenticity a counterfeiter cannot beat (issue 14): made-up serials on every path, a copy
warning that counts people, test scans that never count, the hotline, GS1's conformance
rules, and the scratch-off code journey.

Requests go through apps of their own (``web``), as in tests/test_scan.py.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import re
from decimal import Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import time_machine
import zxingcpp
from sqlalchemy import func, inspect, select

from marketplace.extensions import db as _db
from marketplace.models import Scan, ScannerKey, SerialProbe, Stamp
from marketplace.printing.layouts import LAYOUTS
from marketplace.resolver.digital_link import compress
from marketplace.scan import answer as scan_answer
from marketplace.stamps import scratch, sheets
from marketplace.stamps.serials import ALPHABET, check_symbol, is_valid
from marketplace.stamps.service import activate_run, issue_run
from marketplace.trace.service import create_batch
from tests.conftest import PG_URL, listed, login
from tests.test_api import bearer, error_of, token_for
from tests.test_products import edit_data, field_errors
from tests.test_scan import ScanClient, bad_check, fresh_stamp, html

BASE = "http://127.0.0.1:5000"
GTIN = "08936045100912"
GTIN_OTHER = "08936045100929"  # another product of ours
LOT = "LOT-P1"
GENUINE, COPIED = "Tem chính hãng", "có thể bị sao chép"
FIRST = "Bạn là người đầu tiên kiểm tra tem này."
VIETNAM = dt.timezone(dt.timedelta(hours=7))
SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "standards" / "gs1-resolver" / "linkset-schema.json"
SCRATCH_KEY = "scratch-key-of-the-tests"
LINK_MEMBERS = {"href", "title", "hreflang", "type", "context", "fwqs", "public"}


@pytest.fixture
def web(app, app_factory):
    def make(**extra):
        config = {"SCAN_NOT_FOUND_RATE": "100000 per minute", "SCRATCH_CODE_KEY": SCRATCH_KEY}
        config.update(extra)
        built = app_factory(**config)
        built.test_client_class = ScanClient
        return built

    scan_answer.day_keys.clear()  # each test's database has its own day keys
    yield make
    scan_answer.day_keys.clear()


@pytest.fixture
def goods(db, world):
    """A listed product with a GTIN, a lot and an activated run of 8 stamps."""
    s = db.session
    world.published_a.gtin = GTIN
    world.product_a.gtin = GTIN_OTHER
    listed(world.product_a)
    batch = create_batch(s, world.published_a, lot_code=LOT, quantity=Decimal("10"), unit="kg",
                         production_date=dt.date(2025, 10, 1))
    s.flush()
    run = issue_run(s, batch, 8)
    activate_run(s, run)
    s.commit()
    serials = list(s.scalars(select(Stamp.serial).where(Stamp.run_id == run.id).order_by(Stamp.position)))
    return batch, run, serials


def made_up(n: int, seed: int = 14) -> list[str]:
    """Half well-formed serials nobody issued, half with a wrong check character."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        body = "".join(rng.choice(ALPHABET) for _ in range(15))
        serial = body + check_symbol(body)
        out.append(serial if i % 2 == 0 else bad_check(serial))
    return out


def forms(serial: str) -> dict[str, str]:
    """Every way of naming a serial: the stamp URL and each Digital Link form."""
    return {
        "s": f"/s/{serial}",
        "lot+serial": f"/01/{GTIN}/10/{LOT}/21/{serial}",
        "serial": f"/01/{GTIN}/21/{serial}",
        "compressed": "/" + compress({"01": GTIN, "10": LOT, "21": serial}),
        "partly compressed": f"/01/{GTIN}/" + compress({"10": LOT, "21": serial}),
    }


SAME_HEADERS = ("Content-Type", "Cache-Control", "Referrer-Policy", "Vary", "Retry-After", "Set-Cookie")


def answer(response) -> tuple:
    """What a client can tell answers apart by (CORS headers aside: every resolver response
    carries them, as GS1 requires)."""
    return response.status_code, response.data, tuple(response.headers.get(h) for h in SAME_HEADERS)


def probes(db) -> list[SerialProbe]:
    db.session.rollback()
    return list(db.session.scalars(select(SerialProbe).order_by(SerialProbe.id)))


# ---- 1. a made-up serial is a made-up serial on every path --------------------------------

def test_a_thousand_made_up_serials_get_one_answer_on_every_path(db, world, goods, web):
    client = web().test_client()
    batch, _, real = goods
    reference = answer(client.get("/s/abc"))
    assert reference[0] == 404 and "Không tìm thấy tem này".encode() in reference[1]
    counts: dict[str, int] = {}
    for serial in made_up(1000):
        for name, path in forms(serial).items():
            got = answer(client.get(path))
            assert got == reference, (name, path)
            counts[name] = counts.get(name, 0) + 1
    assert counts == {name: 1000 for name in forms("X")}
    # the genuine stamps still resolve, and the GTIN and lot without a serial as before
    assert client.get(forms(real[0])["lot+serial"]).headers["Location"] == f"{BASE}/s/{real[0]}"
    assert client.get(forms(real[0])["compressed"]).headers["Location"] == f"{BASE}/s/{real[0]}"
    assert client.get(f"/01/{GTIN}/10/{LOT}").headers["Location"] == f"{BASE}/lot/{batch.id}"
    assert client.get(f"/01/{GTIN}").status_code == 307
    # every probe recorded (the reference's too), with what was asked and never an address
    found = probes(db)
    assert len(found) == 1 + 5000
    by_form = {(p.gtin, p.lot, p.product_id) for p in found}
    assert by_form == {(None, None, None), (GTIN, LOT, world.published_a.id), (GTIN, None, world.published_a.id)}
    assert sum(p.gtin is None for p in found) == 1001
    assert sum(1 for p in found if p.lot is None and p.gtin) == 1000
    columns = {c["name"] for c in inspect(db.session.connection()).get_columns("serial_probe")}
    assert columns == {"id", "gtin", "lot", "product_id", "province_code", "probed_at"}
    assert db.session.scalar(select(func.count()).select_from(Scan)) == 0  # probes are no scans


def test_a_real_serial_under_another_gtin_or_lot_is_made_up(db, world, goods, web):
    client = web().test_client()
    _, _, (serial, *_) = goods
    reference = answer(client.get("/s/abc"))
    for path in (f"/01/{GTIN_OTHER}/10/{LOT}/21/{serial}", f"/01/{GTIN_OTHER}/21/{serial}",
                 f"/01/{GTIN}/10/LOT-X/21/{serial}", f"/01/08936045100936/21/{serial}",
                 "/" + compress({"01": GTIN_OTHER, "21": serial})):
        assert answer(client.get(path)) == reference, path
    assert {(p.gtin, p.lot) for p in probes(db)} >= {(GTIN_OTHER, LOT), (GTIN, "LOT-X"), ("08936045100936", None)}


def test_the_gtin_printed_on_stamps_stays_so_they_keep_scanning(app, db, world, goods, web, client):
    """Every stamp of a product with a GTIN carries it in its Digital Link, which the resolver
    reads as the product's: changing or removing the GTIN turned each printed stamp into the
    counterfeit answer while ``/s/`` still said genuine.  Once stamps exist it stays, on the
    form and in the API; a product without stamps may still change it."""
    scanner = web().test_client()
    _, _, (serial, *_) = goods
    printed = forms(serial)
    product = world.published_a
    login(client, "a@example.vn")
    for gtin in ("08936045100936", ""):  # another valid GTIN, or none
        refused = client.post(f"/dashboard/products/{product.id}/edit", data=edit_data(db, product, gtin=gtin))
        assert refused.status_code == 200 and "tem đã dán" in field_errors(refused)["gtin"]
    kept = client.post(f"/dashboard/products/{product.id}/edit",  # the same GTIN, as printed (GTIN-13)
                       data=edit_data(db, product, gtin=GTIN[1:], price_vnd="99.000"))
    assert kept.status_code == 302, field_errors(kept)
    secret = token_for(db, world.users["producer_a"])
    for gtin in ("08936045100936", None):
        response = client.patch(f"/api/v1/products/{product.id}", json={"gtin": gtin}, headers=bearer(secret))
        assert response.status_code == 422 and "gtin" in error_of(response)["fields"]
    db.session.expire_all()
    assert db.session.get(type(product), product.id).gtin == GTIN
    for form, path in printed.items():
        if form != "s":
            assert scanner.get(path).status_code == 307, form
    assert 'data-verdict="genuine"' in html(scanner.get(printed["s"]))
    # a product with no stamps may still take another GTIN
    other = world.product_a
    changed = client.patch(f"/api/v1/products/{other.id}", json={"gtin": "08936045100936"}, headers=bearer(secret))
    assert changed.status_code == 200 and changed.get_json()["gtin"] == "08936045100936"


def test_one_limit_counts_every_form(db, world, goods, web):
    client = web(SCAN_NOT_FOUND_RATE="6 per minute").test_client()
    _, _, real = goods
    walk = [path for serial in made_up(3, seed=7) for path in forms(serial).values()]
    answers = [client.get(path) for path in walk]
    assert [r.status_code for r in answers[:6]] == [404] * 6
    assert {r.status_code for r in answers[6:]} == {429}
    assert len({r.data for r in answers[6:]}) == 1 and answers[6].headers["Retry-After"]
    # genuine stamps keep answering for the same client; another client is not limited
    assert client.get(forms(real[0])["lot+serial"]).status_code == 307
    assert client.get(f"/s/{real[0]}").status_code == 200
    other = web(SCAN_NOT_FOUND_RATE="6 per minute").test_client()
    assert other.get(walk[0], environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 404
    assert len(probes(db)) == 7  # answered ones only: the limit bounds what one client writes


# ---- 2. a copy warning that counts people -------------------------------------------------

def test_one_phone_reloading_twenty_times_is_one_scanner(db, world, goods, web):
    client = web().test_client()
    _, _, (serial, *_) = goods
    for n in range(20):
        page = html(client.get(f"/s/{serial}", environ_base={"REMOTE_ADDR": "203.0.113.7"}))
        assert GENUINE in page and COPIED not in page and FIRST in page, n
    stamp = fresh_stamp(db, serial)
    assert (stamp.scanner_count, stamp.scan_count) == (1, 20)
    # another address of the same network and browser is the same scanner; the JSON agrees
    body = client.get(f"/s/{serial}", headers={"Accept": "application/json"},
                      environ_base={"REMOTE_ADDR": "203.0.113.200"}).get_json()
    assert body["stamp"]["scanners"] == 1 and body["stamp"]["verdict"] == "genuine"


def test_a_client_scanner_is_worked_out_once_a_day_per_process(db, monkeypatch):
    """Clients behind one address (a carrier's NAT) are hashed once a day, not per scan; the
    memo is the same answer, and a new day starts it over (no older day kept in memory)."""
    from marketplace.scan import scanner

    keys, real, computed = scanner.DayKeys(), scanner.scanner_id, []
    monkeypatch.setattr(scanner, "scanner_id", lambda *args: computed.append(args) or real(*args))
    morning = dt.datetime(2026, 12, 7, 1, 0, tzinfo=VIETNAM)
    first = scanner.candidates(keys, db.engine, morning, "203.0.113.0/24", "zalo")
    assert first == (real(keys.get(db.engine, morning.date()), "203.0.113.0/24", "zalo"),) * 2  # no key of yesterday
    assert scanner.candidates(keys, db.engine, morning + dt.timedelta(hours=20), "203.0.113.0/24", "zalo") == first
    assert len(computed) == 1
    assert scanner.candidates(keys, db.engine, morning, "203.0.113.0/24", "chrome") != first and len(computed) == 2
    tomorrow = scanner.candidates(keys, db.engine, morning + dt.timedelta(days=1), "203.0.113.0/24", "zalo")
    assert tomorrow[1] == first[0] != tomorrow[0] and len(computed) == 4  # today's key and yesterday's
    assert keys._memo[0] == dt.date(2026, 12, 8) and list(keys._memo[1]) == [("203.0.113.0/24", "zalo")]


def test_six_scanners_raise_the_warning(db, world, goods, web):
    client = web().test_client()
    _, _, (serial, *_) = goods
    for n in range(1, 6):
        page = html(client.get(f"/s/{serial}", environ_base={"REMOTE_ADDR": f"198.51.{n}.20"}))
        assert GENUINE in page and COPIED not in page, n
        if n > 1:
            assert f"Đã có {n} người kiểm tra tem này, lần đầu ngày" in page
    page = html(client.get(f"/s/{serial}", environ_base={"REMOTE_ADDR": "2001:db8:6::1"}))
    assert COPIED in page and GENUINE not in page and 'data-scanners="6"' in page
    assert "Đã có 6 người khác nhau kiểm tra tem này" in page
    assert 'class="button" href="/report?s=' + serial in page  # prominent with the warning
    assert fresh_stamp(db, serial).scanner_count == 6
    # an IPv6 /48 is one network
    page = html(client.get(f"/s/{serial}", environ_base={"REMOTE_ADDR": "2001:db8:6:ffff::2"}))
    assert fresh_stamp(db, serial).scanner_count == 6


@pytest.mark.parametrize("who", ["producer_a", "coop", "officer", "admin"])
def test_the_producers_and_officers_scans_never_count(db, world, goods, web, who):
    app = web()
    staff = app.test_client()
    login(staff, world.users[who].email)
    _, _, (serial, *_) = goods
    for n in range(10):
        response = staff.get(f"/s/{serial}")
        page = html(response)
        assert GENUINE in page and COPIED not in page, n
        assert "Lượt quét thử" in page and "Chưa có người mua nào kiểm tra tem này." in page
    stamp = fresh_stamp(db, serial)
    assert (stamp.scanner_count, stamp.scan_count, stamp.first_scan_at) == (0, 0, None)
    rows = list(db.session.scalars(select(Scan).where(Scan.stamp_id == stamp.id)))
    assert len(rows) == 10 and all(r.test and r.scanner is None for r in rows)
    # a buyer afterwards is still the first
    assert FIRST in html(app.test_client().get(f"/s/{serial}", environ_base={"REMOTE_ADDR": "10.1.1.1"}))


def test_another_producers_scans_count(db, world, goods, web):
    app = web()
    other = app.test_client()
    login(other, world.users["producer_b"].email)
    _, _, (serial, *_) = goods
    assert FIRST in html(other.get(f"/s/{serial}"))
    assert fresh_stamp(db, serial).scanner_count == 1


def test_the_stamp_page_of_a_logged_in_scan_sets_no_new_cookie_for_buyers(db, world, goods, web):
    client = web().test_client()
    _, _, (serial, *_) = goods
    response = client.get(f"/s/{serial}")
    assert "Set-Cookie" not in response.headers and "<script" not in html(response)
    assert len(response.data) <= 30 * 1024


def test_reloads_across_midnight_stay_one_scanner(db, world, goods, web):
    client = web().test_client()
    _, _, (serial, *_) = goods
    day = dt.datetime(2026, 12, 6, tzinfo=VIETNAM)

    def scan_at(hour, minute, day_offset=0, addr="203.0.113.7"):
        moment = day + dt.timedelta(days=day_offset, hours=hour, minutes=minute)
        with time_machine.travel(moment, tick=False):
            return html(client.get(f"/s/{serial}", environ_base={"REMOTE_ADDR": addr}))

    scan_at(23, 40)
    scan_at(0, 5, 1)    # after midnight: a new key, the same person
    scan_at(0, 30, 1)   # 25 minutes later, still the same chain
    scan_at(0, 55, 1)
    assert fresh_stamp(db, serial).scanner_count == 1
    scan_at(3, 0, 1)    # the same phone hours later, under today's key: once more, then never again today
    scan_at(9, 0, 1)
    assert fresh_stamp(db, serial).scanner_count == 2
    # keys: only today's and yesterday's are kept; older ones are deleted (hashes unlinkable)
    scan_at(9, 0, 3)
    db.session.rollback()
    assert sorted(db.session.scalars(select(ScannerKey.day))) == [dt.date(2026, 12, 9)]
    scan_at(9, 0, 4)
    db.session.rollback()
    assert sorted(db.session.scalars(select(ScannerKey.day))) == [dt.date(2026, 12, 9), dt.date(2026, 12, 10)]
    rows = list(db.session.scalars(select(Scan.scanner)))
    assert all(re.fullmatch(r"[0-9a-f]{16}", r) for r in rows)


# ---- 3. the hotline -------------------------------------------------------------------------

def test_hotline_on_the_counterfeit_and_warning_pages_only_when_set(db, world, goods, web):
    _, _, (serial, *_) = goods
    plain = web(SCAN_CLONE_THRESHOLD=0).test_client()
    for page in (html(plain.get("/s/abc")), html(plain.get(f"/s/{serial}"))):
        assert "Đường dây nóng" not in page and "tel:0237" not in page
        assert "Báo cáo sản phẩm đáng ngờ" in page
    hot = web(SCAN_CLONE_THRESHOLD=0, REPORT_HOTLINE="0237 3852 491").test_client()
    for page in (html(hot.get("/s/abc")), html(hot.get(f"/s/{serial}"))):
        assert 'Đường dây nóng: <a href="tel:02373852491">0237 3852 491</a>' in page
    assert COPIED in html(hot.get(f"/s/{serial}"))
    calm = web(REPORT_HOTLINE="0237 3852 491").test_client()  # a genuine stamp: no hotline, a quiet link
    page = html(calm.get(f"/s/{serial}", environ_base={"REMOTE_ADDR": "10.7.7.7"}))
    assert GENUINE in page and "Đường dây nóng" not in page and 'class="report"' in page


# ---- 5. GS1 conformance ---------------------------------------------------------------------

def _validator():
    if not SCHEMA.exists():
        pytest.skip(f"GS1's link-set schema is not here ({SCHEMA}): ../shared/standards/ is absent")
    from jsonschema import Draft7Validator

    schema = json.loads(SCHEMA.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def test_every_linkset_validates_against_gs1s_schema(db, world, goods, web):
    from marketplace.trace.service import recall_batch

    validator = _validator()
    client = web().test_client()
    batch, _, (serial, *_) = goods
    paths = [f"/01/{GTIN}", f"/01/{GTIN}/10/{LOT}", f"/01/{GTIN}/10/{LOT}/21/{serial}", f"/01/{GTIN}/21/{serial}",
             f"/01/{GTIN_OTHER}", "/" + compress({"01": GTIN, "10": LOT, "21": serial}),
             f"/01/{GTIN}/10/NO-SUCH-LOT"]

    def check_all():
        seen = 0
        for path in paths:
            for language in ("vi", "en"):
                response = client.get(path, query_string={"linkType": "all"}, headers={"Accept-Language": language})
                assert response.status_code == 200, path
                body = json.loads(response.data)
                errors = [e.message for e in validator.iter_errors(body)]
                assert not errors, (path, errors)
                for key, targets in body["linkset"][0].items():
                    if key.startswith("https://gs1.org/voc/"):
                        assert all(set(t) <= LINK_MEMBERS for t in targets), (path, key)
                seen += 1
        return seen

    assert check_all() == 2 * len(paths)
    english = json.loads(client.get(f"/01/{GTIN}/10/{LOT}?linkType=all", headers={"Accept-Language": "en"}).data)
    assert english["linkset"][0]["https://gs1.org/voc/traceability"][0]["title"] == f"Traceability of lot {LOT}"
    recall_batch(db.session.get(type(batch), batch.id), reason="Nấm mốc", user=world.users["officer"])
    db.session.commit()
    assert check_all() == 2 * len(paths)  # a recalled lot's link set too


def test_the_description_file_names_primary_keys_by_ai(web, db):
    body = web().test_client().get("/.well-known/gs1resolver").get_json()
    assert body["supportedPrimaryKeys"] == ["01"]
    assert all(re.fullmatch(r"\d{2,4}", key) or key == "all" for key in body["supportedPrimaryKeys"])


def test_an_absent_link_type_is_404_with_the_linkset_link(db, world, goods, web):
    client = web().test_client()
    _, _, (serial, *_) = goods
    for path in (f"/01/{GTIN}", f"/01/{GTIN}/10/{LOT}", f"/01/{GTIN}/10/{LOT}/21/{serial}",
                 "/" + compress({"01": GTIN, "10": LOT})):
        for link_type in ("gs1:nosuchlt", "https://gs1.org/voc/nosuchlt", "gs1:nutritionalInfo"):
            response = client.get(path, query_string={"linkType": link_type})
            assert response.status_code == 404, (path, link_type)
            assert 'rel="linkset"' in response.headers["Link"] and "?linkType=all>" in response.headers["Link"]
            assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert client.get(path, query_string={"linkType": "gs1:pip"}).status_code == 307
        assert client.get(path, query_string={"linkType": "gs1:defaultLink"}).status_code == 307


# ---- 4. the scratch-off code journey ---------------------------------------------------------

CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")


def printed_codes(db, run, layout: str) -> dict[str, str]:
    """{serial: code} as read back from the rendered label sheets: one sheet per stamp, its
    QR decoded by zxing-cpp (the serial) and its text layer read by pdfium (the code)."""
    key = scratch.key_from_config({"SCRATCH_CODE_KEY": SCRATCH_KEY})  # the printer's and the site's
    found = {}
    for position in range(1, run.count + 1):
        pdf = pdfium.PdfDocument(sheets.render_pdf(db.session, run, LAYOUTS[layout], BASE, first=position,
                                                   last=position, scratch_key=key))
        try:
            text = pdf[0].get_textpage().get_text_range()
            image = pdf[0].render(scale=300 / 72).to_pil()
        finally:
            pdf.close()
        (decoded,) = [b.text for b in zxingcpp.read_barcodes(image)]
        (code,) = CODE.findall(text)
        serial = decoded.rstrip("/").rsplit("/", 1)[-1].upper()
        assert is_valid(serial), decoded
        found[serial] = code
    return found


def test_scratch_code_journey(db, world, goods, web):
    batch, _, _ = goods
    run = issue_run(db.session, batch, 3, scratch=True)
    activate_run(db.session, run)
    db.session.commit()
    codes = printed_codes(db, run, "a4-3x8")
    assert len(codes) == 3
    serial, code = next(iter(codes.items()))
    client = web().test_client()
    page = html(client.get(f"/s/{serial}"))
    assert "Cào lớp phủ và nhập mã" in page and f'action="/s/{serial}/code"' in page and "<script" not in page
    first = client.post(f"/s/{serial}/code", data={"code": code.lower().replace("-", " ")})
    assert first.status_code == 200 and 'data-result="verified"' in html(first)
    assert "Set-Cookie" not in first.headers
    stamp = fresh_stamp(db, serial)
    assert stamp.scratch_verified_at is not None
    again = client.post(f"/s/{serial}/code", data={"code": code})
    assert again.status_code == 200 and 'data-result="already"' in html(again)
    assert "có thể là hàng sao chép" in html(again)
    assert fresh_stamp(db, serial).scratch_verified_at == stamp.scratch_verified_at
    # a stamp of a run without codes offers none
    _, _, (plain, *_) = goods
    assert "Cào lớp phủ" not in html(client.get(f"/s/{plain}"))
    assert client.post(f"/s/{plain}/code", data={"code": code}).status_code == 404


def test_wrong_scratch_codes_are_limited_per_stamp_and_per_client(db, world, goods, web):
    batch, _, _ = goods
    run = issue_run(db.session, batch, 3, scratch=True)
    activate_run(db.session, run)
    db.session.commit()
    (a, code_a), (b, code_b), (c, code_c) = printed_codes(db, run, "a4-5x13").items()
    client = web(SCRATCH_CLIENT_RATE="7 per hour").test_client()
    for n in range(5):
        wrong = client.post(f"/s/{a}/code", data={"code": "0000-0000"}, environ_base={"REMOTE_ADDR": f"10.0.{n}.1"})
        assert wrong.status_code == 422 and 'data-result="wrong"' in html(wrong)
    # the stamp's five wrong entries of the hour are spent, whoever tries next
    limited = client.post(f"/s/{a}/code", data={"code": code_a}, environ_base={"REMOTE_ADDR": "10.0.9.1"})
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert fresh_stamp(db, a).scratch_verified_at is None
    # per client: 7 wrong entries an hour over all stamps
    for stamp_serial in (b, b):
        assert client.post(f"/s/{stamp_serial}/code", data={"code": "junk!"}).status_code == 422
    for stamp_serial in (c,) * 5:
        assert client.post(f"/s/{stamp_serial}/code", data={"code": "1111-1111"}).status_code == 422
    assert client.post(f"/s/{b}/code", data={"code": code_b}).status_code == 429
    assert client.post(f"/s/{b}/code", data={"code": code_b},
                       environ_base={"REMOTE_ADDR": "10.3.3.3"}).status_code == 200
    assert client.post("/s/abc/code", data={"code": code_b}).status_code == 404


def test_more_ways_of_asking_get_the_same_answer(db, world, goods, web):
    """HEAD, link sets, JSON, a trailing slash, lower case: a made-up serial stays made up."""
    client = web().test_client()
    reference = answer(client.get("/s/abc"))
    head_reference = client.head("/s/abc")
    for serial in made_up(40, seed=3):
        for path in forms(serial).values():
            for variant in (path + "/", path + "?linkType=all", path + "?linkType=gs1:pip", path.lower()
                            if path.startswith("/s/") else path):
                assert answer(client.get(variant)) == reference, variant
            for accept in ("application/json", "application/linkset+json"):
                assert answer(client.get(path, headers={"Accept": accept})) == reference, (path, accept)
            head = client.head(path)
            assert (head.status_code, head.data) == (head_reference.status_code, b""), path
    # and a serial is never taken from the query string (GS1: key qualifiers go in the path)
    _, _, (serial, *_) = goods
    assert client.get(f"/01/{GTIN}/10/{LOT}?21={made_up(1)[0]}").status_code == 400
    assert client.get(f"/01/{GTIN}?10={LOT}").status_code == 400


def test_an_ipv6_subscriber_cannot_rotate_past_the_limit(db, world, goods, web):
    client = web(SCAN_NOT_FOUND_RATE="3 per minute").test_client()
    codes = [client.get(f"/s/{serial}", environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{n}"}).status_code
             for n, serial in enumerate(made_up(5, seed=5), start=1)]
    assert codes == [404, 404, 404, 429, 429]
    assert client.get("/s/abc", environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 404  # another /64


def test_old_scanner_keys_go_even_on_days_nobody_scans(db, world, runner):
    from marketplace.scan.scanner import forget_old_keys

    for day in (1, 2, 3, 4):
        db.session.add(ScannerKey(day=dt.date(2026, 12, day), key="ab" * 32))
    db.session.commit()
    assert forget_old_keys(db.session, dt.date(2026, 12, 10)) == 4
    db.session.add(ScannerKey(day=dt.date(2026, 12, 9), key="cd" * 32))
    db.session.commit()
    with time_machine.travel(dt.datetime(2026, 12, 11, 8, 0, tzinfo=VIETNAM), tick=False):
        assert runner.invoke(args=["expire"]).exit_code == 0  # the daily job (the worker runs it too)
    db.session.rollback()
    assert list(db.session.scalars(select(ScannerKey.day))) == []


def test_a_buyer_carrying_a_session_cookie_gets_no_cookie_from_the_stamp_page(db, world, goods, web):
    client = web().test_client()
    _, _, (serial, *_) = goods
    form = client.get(f"/report?s={serial}")  # the report form sets the session (its CSRF token)
    assert form.status_code == 200
    response = client.get(f"/s/{serial}")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert fresh_stamp(db, serial).scanner_count == 1  # a buyer, counted


def test_the_largest_stamp_page_stays_small_and_script_free(db, world, goods, web):
    batch, _, _ = goods
    run = issue_run(db.session, batch, 1, scratch=True)
    activate_run(db.session, run)
    db.session.commit()
    serial = db.session.scalar(select(Stamp.serial).where(Stamp.run_id == run.id))
    client = web(SCAN_CLONE_THRESHOLD=0, REPORT_HOTLINE="0237 3852 491").test_client()
    response = client.get(f"/s/{serial}")
    page = html(response)
    assert COPIED in page and "Cào lớp phủ và nhập mã" in page and "tel:" in page
    assert len(response.data) <= 30 * 1024 and "<script" not in page and "Set-Cookie" not in response.headers


def scratch_run(db, batch, count=1):
    run = issue_run(db.session, batch, count, scratch=True)
    activate_run(db.session, run)
    db.session.commit()
    return run


def test_scratch_post_needs_no_csrf_token_and_sets_no_cookie(db, world, goods, web):
    batch, _, _ = goods
    ((serial, code),) = printed_codes(db, scratch_run(db, batch), "roll-50x30").items()
    client = web(WTF_CSRF_ENABLED=True).test_client()
    response = client.post(f"/s/{serial}/code", data={"code": code})
    assert response.status_code == 200 and 'data-result="verified"' in html(response)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("who", ["producer_a", "coop", "officer"])
def test_the_producers_own_check_of_a_code_is_not_recorded(db, world, goods, web, who):
    batch, _, _ = goods
    ((serial, code),) = printed_codes(db, scratch_run(db, batch), "roll-40x25").items()
    app = web()
    staff = app.test_client()
    login(staff, world.users[who].email)
    response = staff.post(f"/s/{serial}/code", data={"code": code})
    assert response.status_code == 200 and 'data-result="test"' in html(response)
    assert staff.post(f"/s/{serial}/code", data={"code": "0000-0000"}).status_code == 422
    assert fresh_stamp(db, serial).scratch_verified_at is None
    buyer = app.test_client().post(f"/s/{serial}/code", data={"code": code}, environ_base={"REMOTE_ADDR": "10.4.4.4"})
    assert 'data-result="verified"' in html(buyer)  # the buyer is still the first


def test_a_code_being_guessed_warns_the_next_buyer(db, world, goods, web):
    batch, _, _ = goods
    ((serial, code),) = printed_codes(db, scratch_run(db, batch), "a4-3x8").items()
    client = web().test_client()
    for n in range(5):
        client.post(f"/s/{serial}/code", data={"code": "ZZZZ-ZZZZ"}, environ_base={"REMOTE_ADDR": f"10.5.{n}.1"})
    locked = client.post(f"/s/{serial}/code", data={"code": code}, environ_base={"REMOTE_ADDR": "10.6.6.6"})
    page = html(locked)
    assert locked.status_code == 429 and 'data-result="locked"' in page and "có thể đang bị sao chép" in page
    assert f'href="/report?s={serial}"' in page


def test_a_right_code_on_a_recalled_lot_is_no_green_tick(db, world, goods, web):
    from marketplace.trace.service import recall_batch

    batch, _, _ = goods
    ((serial, code),) = printed_codes(db, scratch_run(db, batch), "a4-3x8").items()
    recall_batch(batch, reason="Nấm mốc", user=world.users["officer"])
    db.session.commit()
    page = html(web().test_client().post(f"/s/{serial}/code", data={"code": code}))
    assert 'data-result="verified"' in page and 'data-verdict="recalled"' in page and "✓" not in page
