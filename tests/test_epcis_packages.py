"""EPCIS at package level (issue 16, point 5): every stamp of a batch is one package in its
EPCIS document, named by the URI its QR carries; voids and recalls name the packages; the
document is streamed, and the streamed text is the dict form's, character for character."""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal

import pytest
from biip import parse as biip_parse
from sqlalchemy import select

from marketplace import audit
from marketplace.models import AuditEntry, Stamp
from marketplace.stamps.service import issue_run, stamp_url, void_stamps
from marketplace.trace import epcis_json, epcis_packages, service
from marketplace.trace.epcis import batch_epcis_document, iter_epcis_json
from marketplace.trace.epcis_json import Streamed, iter_json, materialize
from tests.conftest import login
from tests.test_epcis import BASE_URL, GTIN, NOW, STANDARDS, _errors, make_diary_batch, validator  # noqa: F401

UTC = dt.timezone.utc
STAMP_BASE = "HTTPS://OCOP.EXAMPLE.VN"  # stamp_url writes the host (and, for /S/, the scheme) in capitals


def _at(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2025, 6, day, hour, 0, tzinfo=UTC)


def issue(db, batch, count: int, *, at: dt.datetime):
    run = issue_run(db.session, batch, count)
    run.created_at = at
    db.session.commit()
    return run


def void(db, run, first=None, last=None, *, at: dt.datetime):
    """Void as the producers' page and the API do: the stamps, and the audit entry beside them."""
    n = void_stamps(db.session, run, first=first, last=last)
    entry = audit.record(db.session, "stamps.void", run, summary=str(n),
                         after={"first": first, "last": last, "voided": n})
    entry.at = at
    db.session.commit()
    return entry


def serials_of(db, run, positions=None) -> list[str]:
    query = select(Stamp.serial).where(Stamp.run_id == run.id).order_by(Stamp.position)
    if positions is not None:
        query = query.where(Stamp.position.in_(list(positions)))
    return list(db.session.scalars(query))


def uris(batch, serials, base=BASE_URL) -> list[str]:
    product = batch.product
    return [stamp_url(base, s, gtin=product.gtin, lot=batch.lot_code) for s in serials]


def events(doc, **match) -> list[dict]:
    return [e for e in doc["epcisBody"]["eventList"] if all(e.get(k) == v for k, v in match.items())]


@pytest.fixture
def gtin_batch(db, world):
    world.published_a.gtin = GTIN
    db.session.commit()
    batch, _ = make_diary_batch(db, world, product=world.published_a, lot="NEM-0625")
    return batch


@pytest.fixture
def plain_batch(db, world):
    batch, _ = make_diary_batch(db, world, product=world.published_a, lot="NEM-0626")
    return batch


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 7 stamps: every list below spans several pages (the keyset paging is exercised)."""
    monkeypatch.setattr(epcis_packages, "PAGE", 7)


# ---- runs: one entry per issued stamp --------------------------------------------------

def test_each_run_commissions_its_stamps_as_printed_digital_links(app, db, gtin_batch, small_pages):
    first = issue(db, gtin_batch, 30, at=_at(26))
    second = issue(db, gtin_batch, 12, at=_at(27, 14))
    doc = batch_epcis_document(gtin_batch, base_url=BASE_URL, now=NOW)

    runs = [e for e in events(doc, action="ADD", bizStep="commissioning") if "ocop:stampRun" in e]
    assert [e["ocop:stampRun"] for e in runs] == [first.id, second.id]
    for event, run in zip(runs, (first, second)):
        assert (event["disposition"], event["eventTimeZoneOffset"]) == ("active", "+07:00")
        assert dt.datetime.fromisoformat(event["eventTime"]) == run.created_at  # the run's creation time
        assert event["epcList"] == uris(gtin_batch, serials_of(db, run))  # what the QR carries, in print order
        assert "quantityList" not in event  # the URI itself names GTIN and lot
        assert event["ilmd"] == {"cbvmda:lotNumber": "NEM-0625", "cbvmda:itemExpirationDate": "2026-06-20"}

    # exactly one epcList entry per issued stamp, over the whole document's commissionings
    listed = Counter(uri for e in events(doc, action="ADD") for uri in e.get("epcList", []))
    every = uris(gtin_batch, serials_of(db, first) + serials_of(db, second))
    assert len(every) == 42 and listed == Counter(every)

    # an independent GS1 parser reads GTIN + lot + serial from every one of them
    serials = set(serials_of(db, first) + serials_of(db, second))
    for uri in listed:
        assert uri.startswith(f"https://OCOP.EXAMPLE.VN/01/{GTIN}/10/NEM-0625/21/")
        parsed = biip_parse(uri)
        assert parsed.gs1_digital_link_uri_error is None, uri
        elements = parsed.gs1_digital_link_uri.element_strings
        assert [e.ai.ai for e in elements] == ["01", "10", "21"]
        gtin, lot, serial = elements
        assert (gtin.value, gtin.gtin_error, lot.value) == (GTIN, None, "NEM-0625")
        assert serial.value in serials
        serials.discard(serial.value)
    assert serials == set()


def test_without_gtin_the_stamp_urls_and_a_quantity_of_the_lot(app, db, client, plain_batch, small_pages):
    run = issue(db, plain_batch, 15, at=_at(26))
    doc = batch_epcis_document(plain_batch, base_url=BASE_URL, now=NOW)
    (event,) = [e for e in events(doc, action="ADD") if "ocop:stampRun" in e]
    serials = serials_of(db, run)
    assert event["epcList"] == [f"{STAMP_BASE}/S/{s}" for s in serials] == [stamp_url(BASE_URL, s) for s in serials]
    # the same packages counted as instances of the lot: the /S/ URL does not carry the lot
    assert event["quantityList"] == [{"epcClass": f"{BASE_URL}/lot/{plain_batch.id}", "quantity": 15}]
    assert event["ilmd"]["cbvmda:lotNumber"] == "NEM-0626"
    # each is a working stamp page, as printed (path in capitals, served case-insensitively)
    path = event["epcList"][0][len(STAMP_BASE):]
    db.session.commit()  # the page records the scan on its own connection: release the test's writer
    assert client.get(path).status_code == 200


# ---- voids: decommissioning events naming the voided packages --------------------------

def test_each_void_action_is_a_decommissioning_of_the_stamps_it_voided(app, db, gtin_batch, small_pages):
    run = issue(db, gtin_batch, 20, at=_at(26))
    torn = void(db, run, 3, 5, at=_at(27))
    void(db, run, 4, 9, at=_at(28))  # overlaps the first: only 6…9 are voided by this one
    lost = void(db, run, at=_at(29))  # the rest of the roll
    doc = batch_epcis_document(gtin_batch, base_url=BASE_URL, now=NOW)

    voids = events(doc, action="DELETE")
    assert [e["eventTime"] for e in voids] == [
        "2025-06-27T16:00:00+07:00", "2025-06-28T16:00:00+07:00", "2025-06-29T16:00:00+07:00"]
    for event in voids:
        assert (event["bizStep"], event["disposition"], event["ocop:stampRun"]) == (
            "decommissioning", "inactive", run.id)
        assert "quantityList" not in event  # the goods are not decommissioned, the labels' identifiers are
    assert voids[0]["eventID"] == f"{BASE_URL}/epcis/event/run-{run.id}-void-{torn.id}"
    assert voids[0]["epcList"] == uris(gtin_batch, serials_of(db, run, range(3, 6)))
    assert voids[1]["epcList"] == uris(gtin_batch, serials_of(db, run, range(6, 10)))
    assert voids[2]["eventID"] == f"{BASE_URL}/epcis/event/run-{run.id}-void-{lost.id}"
    assert voids[2]["epcList"] == uris(gtin_batch, serials_of(db, run, [1, 2, *range(10, 21)]))
    # every voided package is named once, and the commissioning still lists all 20
    assert Counter(u for e in voids for u in e["epcList"]) == Counter(uris(gtin_batch, serials_of(db, run)))
    (commissioning,) = [e for e in events(doc, action="ADD") if "ocop:stampRun" in e]
    assert len(commissioning["epcList"]) == 20


def test_voids_through_the_producer_page_and_an_officer_alert(app, db, client, world, plain_batch):
    run = issue(db, plain_batch, 12, at=_at(26))
    login(client, "a@example.vn")
    assert client.post(f"/dashboard/runs/{run.id}/void", data={"first": "2", "last": "4"}).status_code == 302
    # an officer voids one copied stamp from its clone alert ("stamp.void" on the stamp)
    copied = db.session.scalars(select(Stamp).where(Stamp.run_id == run.id, Stamp.position == 10)).one()
    void_stamps(db.session, run, first=10, last=10)
    audit.record(db.session, "stamp.void", copied, summary=copied.serial, after={"status": "void"})
    db.session.commit()

    doc = json.loads(client.get(f"/dashboard/batches/{plain_batch.id}/epcis.json").get_data(as_text=True))
    voids = events(doc, action="DELETE")
    base = app.config["PUBLIC_BASE_URL"]
    assert [e["epcList"] for e in voids] == [
        uris(plain_batch, serials_of(db, run, [2, 3, 4]), base), uris(plain_batch, [copied.serial], base)]
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.in_(["stamps.void", "stamp.void"]))
                                 .order_by(AuditEntry.id)).all()
    times = [dt.datetime.fromisoformat(e["eventTime"]) for e in voids]
    assert len(times) == len(entries) and all(abs(t - e.at) < dt.timedelta(milliseconds=1)  # written to the ms
                                              for t, e in zip(times, entries))


def test_a_void_outside_the_audited_paths_is_still_named(app, db, plain_batch):
    run = issue(db, plain_batch, 6, at=_at(26))
    void_stamps(db.session, run, first=5, last=6)  # no audit entry: time unknown
    db.session.commit()
    (event,) = events(batch_epcis_document(plain_batch, base_url=BASE_URL, now=NOW), action="DELETE")
    assert event["epcList"] == uris(plain_batch, serials_of(db, run, [5, 6]))
    assert event["eventTime"] == "2025-07-01T10:00:00+07:00"  # the document's creation time
    assert event["eventID"] == f"{BASE_URL}/epcis/event/run-{run.id}-void"


# ---- recalls: the lot's packages of that moment ----------------------------------------

def test_recall_and_its_lifting_name_the_packages_of_their_moment(app, db, world, gtin_batch, small_pages):
    before = issue(db, gtin_batch, 10, at=_at(26))
    void(db, before, 1, 2, at=_at(27))  # torn before the recall: not a package any more
    service.recall_batch(gtin_batch, "Phát hiện dư lượng thuốc")
    gtin_batch.recalled_at = _at(28)
    db.session.commit()
    void(db, before, 3, 3, at=_at(29))  # destroyed during the recall: it was recalled
    service.lift_recall(gtin_batch, "Kiểm nghiệm lại đạt")
    gtin_batch.recall_lifted_at = _at(30)
    db.session.commit()
    after = issue(db, gtin_batch, 5, at=dt.datetime(2025, 7, 1, 1, 0, tzinfo=UTC))  # after the lifting

    doc = batch_epcis_document(gtin_batch, base_url=BASE_URL, now=NOW)
    recall, lifted = events(doc, disposition="recalled")[0], events(doc, disposition="conformant")[0]
    assert recall["epcList"] == uris(gtin_batch, serials_of(db, before, range(3, 11)))
    assert lifted["epcList"] == uris(gtin_batch, serials_of(db, before, range(4, 11)))
    assert recall["quantityList"] == [{"epcClass": f"https://id.gs1.org/01/{GTIN}/10/NEM-0625"}]  # the whole lot
    assert not set(recall["epcList"]) & set(uris(gtin_batch, serials_of(db, after)))
    assert doc["epcisBody"]["eventList"][-1] is lifted  # the last event tells whether a recall is in force


def test_recall_of_a_lot_without_stamps_names_no_package(app, db, world, plain_batch):
    service.recall_batch(plain_batch, "Bao bì lỗi")
    db.session.commit()
    last = batch_epcis_document(plain_batch, base_url=BASE_URL, now=NOW)["epcisBody"]["eventList"][-1]
    assert last["disposition"] == "recalled" and "epcList" not in last


# ---- the GS1 schema, one master-data form ----------------------------------------------

def _stamped(db, world, variant):
    if variant == "gtin":
        world.published_a.gtin = GTIN
        db.session.commit()
    batch, _ = make_diary_batch(db, world, product=world.published_a, lot="TEM-1")
    run = issue(db, batch, 25, at=_at(26))
    void(db, run, 3, 5, at=_at(27))
    if variant == "recalled":
        service.recall_batch(batch, "Phát hiện dư lượng thuốc")
        db.session.commit()
    return batch


@pytest.mark.parametrize("variant", ["gtin", "no-gtin", "recalled"])
def test_stamped_documents_validate_against_gs1_schema(app, db, world, validator, variant):  # noqa: F811
    batch = _stamped(db, world, variant)
    doc = batch_epcis_document(batch, base_url=BASE_URL, now=NOW)
    assert _errors(validator, doc) == []
    text = json.dumps(doc, ensure_ascii=False)
    assert "urn:epcglobal:cbv:mda" not in text  # neither the CBV 1.x "#name" nor the long form
    attributes = [a["id"] for v in doc["epcisHeader"]["epcisMasterData"]["vocabularyList"]
                  for el in v["vocabularyElementList"] for a in el["attributes"]]
    ilmd_keys = [k for e in doc["epcisBody"]["eventList"] for k in e.get("ilmd", {})]
    assert attributes and ilmd_keys
    assert {name.partition(":")[0] for name in attributes + ilmd_keys} == {"cbvmda"}


def test_cbvmda_is_the_prefix_gs1s_context_binds_to_cbv_2(app):
    context = STANDARDS / "epcis" / "JSON-LD-Context" / "epcis-context-root.jsonld"
    if not context.is_file():
        pytest.skip(f"GS1 EPCIS JSON-LD context not found at {context} (the shared standards folder is absent)")
    assert json.loads(context.read_text(encoding="utf-8"))["@context"]["cbvmda"] == "urn:epcglobal:cbv:mda:"


# ---- streamed: the same JSON, without the list in memory -------------------------------

@pytest.mark.parametrize("variant", ["gtin", "no-gtin", "recalled"])
def test_streamed_text_is_the_dict_forms_json(app, db, world, small_pages, variant):
    batch = _stamped(db, world, variant)
    streamed = "".join(iter_epcis_json(batch, base_url=BASE_URL, now=NOW))
    assert streamed == json.dumps(batch_epcis_document(batch, base_url=BASE_URL, now=NOW), ensure_ascii=False)


def test_the_writer_matches_json_dumps_at_every_buffer_size():
    reads = []

    def pages():
        reads.append(1)
        yield ["a", "b\"é"]
        yield []
        yield [{"x": Streamed(lambda: iter([[1, 2.5], [None]]))}, "c"]

    doc = {"k": [1, {"s": Streamed(pages)}, Streamed(lambda: iter(()))], "ü": {"n": None}, "t": True}
    expected = json.dumps(materialize(doc), ensure_ascii=False)
    for size in (1, 5, 64, 10_000):
        pieces = list(iter_json(doc, buffer_size=size))
        assert "".join(pieces) == expected
        assert all(len(p) >= size for p in pieces[:-1])
    assert len(reads) == 5  # each streamed array is read afresh, once per writing


def test_the_writer_reads_a_page_at_a_time(app, db, gtin_batch, small_pages, monkeypatch):
    """Pieces leave as pages are read: the first stamp URIs are written before the run's
    second page is read, and no read holds more than a page."""
    issue(db, gtin_batch, 70, at=_at(26))
    monkeypatch.setattr(epcis_json, "BUFFER_SIZE", 200)
    pages: list[int] = []
    original = epcis_packages.Packages.uris

    def counting(self, run, *where):
        inner = original(self, run, *where)

        def chunks():
            for page in inner.chunks():
                pages.append(len(page))
                yield page

        return Streamed(chunks)

    monkeypatch.setattr(epcis_packages.Packages, "uris", counting)
    text = ""
    for piece in iter_epcis_json(gtin_batch, base_url=BASE_URL, now=NOW):
        if "/21/" not in text and "/21/" in text + piece:
            assert pages == [7]  # the first URIs leave with the first page only
        text += piece
    assert pages == [7] * 10
    assert len(json.loads(text)["epcisBody"]["eventList"][-1]["epcList"]) == 70


# ---- the routes and the command stream it ----------------------------------------------

def test_routes_and_command_serve_the_streamed_document(app, db, client, runner, world, tmp_path, small_pages):
    batch = _stamped(db, world, "gtin")
    base = app.config["PUBLIC_BASE_URL"]
    expected = batch_epcis_document(batch, base_url=base)
    db.session.commit()

    public = client.get(f"/lot/{batch.id}/epcis.json")
    assert public.is_streamed and public.mimetype == "application/ld+json"
    assert public.headers["Access-Control-Allow-Origin"] == "*"
    got = json.loads(public.get_data(as_text=True))
    assert {k: v for k, v in got.items() if k != "creationDate"} == {
        k: v for k, v in expected.items() if k != "creationDate"}
    head = client.head(f"/lot/{batch.id}/epcis.json")
    assert head.status_code == 200 and head.data == b"" and head.mimetype == "application/ld+json"

    login(client, "a@example.vn")
    private = client.get(f"/dashboard/batches/{batch.id}/epcis.json")
    assert private.is_streamed and "attachment" in private.headers["Content-Disposition"]
    assert json.loads(private.get_data(as_text=True))["epcisBody"] == expected["epcisBody"]

    out = tmp_path / "lot.jsonld"
    result = runner.invoke(args=["trace", "epcis", str(batch.id), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["epcisBody"] == expected["epcisBody"]
    result = runner.invoke(args=["trace", "epcis", str(batch.id)])
    assert json.loads(result.stdout)["epcisBody"] == expected["epcisBody"]
    missing = runner.invoke(args=["trace", "epcis", "999999"])
    assert missing.exit_code == 1 and "no batch" in missing.stderr


def test_the_body_is_read_after_the_views_app_context_ended(app, app_factory, db, world, small_pages):
    """As in production: a streamed body is read once the view has returned and its app
    context (and session) ended; tests otherwise share one pushed context and cannot see it."""
    batch = _stamped(db, world, "no-gtin")
    expected, batch_id = batch_epcis_document(batch, base_url=app.config["PUBLIC_BASE_URL"]), batch.id
    db.session.commit()  # and no more reads here: the other app's requests write (log-in)
    served = app_factory()  # another app: its requests push app contexts of their own
    client = served.test_client()
    public = client.get(f"/lot/{batch_id}/epcis.json")
    assert json.loads(public.get_data(as_text=True))["epcisBody"] == expected["epcisBody"]
    login(client, "a@example.vn")
    private = client.get(f"/dashboard/batches/{batch_id}/epcis.json")
    assert json.loads(private.get_data(as_text=True))["epcisBody"] == expected["epcisBody"]


def test_stamps_of_another_batch_never_appear(app, db, world, gtin_batch, plain_batch):
    issue(db, gtin_batch, 4, at=_at(26))
    other = issue(db, plain_batch, 4, at=_at(26))
    text = "".join(iter_epcis_json(gtin_batch, base_url=BASE_URL, now=NOW))
    assert not any(serial in text for serial in serials_of(db, other))


def test_a_detached_batch_still_exports_its_lot_and_diary(app, db, world):
    batch = service.create_batch(db.session, world.product_b, lot_code="MO-2", quantity=Decimal("4"),
                                 unit="bottle", production_date=dt.date(2025, 5, 1))
    db.session.commit()
    assert batch.events == [] and batch.product.producer.name  # loaded, then the session lets go
    db.session.expunge_all()
    (only,) = batch_epcis_document(batch, base_url=BASE_URL, now=NOW)["epcisBody"]["eventList"]
    assert only["bizStep"] == "commissioning"
