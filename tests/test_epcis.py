"""EPCIS 2.0 export of a batch: valid against the GS1 JSON Schema, and the right content."""
from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from marketplace.trace import service
from marketplace.trace.epcis import EPCIS_CONTEXT, batch_epcis_document, iter_epcis_json

STANDARDS = Path(__file__).resolve().parents[2] / "shared" / "standards"
SCHEMA_DIR = STANDARDS / "epcis" / "JSON-Schema"
SCHEMA_BASE = "https://gs1.github.io/EPCIS/JSON-Schema/"
BASE_URL = "https://ocop.example.vn"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
GTIN = "08934567890120"  # valid check digit
NOW = dt.datetime(2025, 7, 1, 3, 0, tzinfo=dt.timezone.utc)


# ---- the validator -------------------------------------------------------------------

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _format_checker():
    """Strict ``uri`` and ``date-time`` checks.  jsonschema only checks these formats when
    optional packages are installed; without them every string would pass as a URI, and the
    schema's rule that extension fields are named by URIs (``ocop:place``) would be void."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())

    @checker.checks("uri")
    def is_uri(value):
        if not isinstance(value, str):
            return True
        return bool(_URI.fullmatch(value)) and not re.search(r"%(?![0-9A-Fa-f]{2})", value)

    @checker.checks("date-time")
    def is_date_time(value):
        if not isinstance(value, str):
            return True
        if not _DATE_TIME.fullmatch(value):
            return False
        dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return True

    return checker


@pytest.fixture(scope="module")
def validator():
    if not (SCHEMA_DIR / "EPCIS-JSON-Schema-root.json").is_file():
        pytest.skip(f"GS1 EPCIS JSON Schemas not found at {SCHEMA_DIR} (the shared standards folder is absent)")
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource

    def retrieve(uri: str):
        # The schemas name each other by their $id (https://gs1.github.io/EPCIS/JSON-Schema/…):
        # serve those from the local copy, never from the network.
        if not uri.startswith(SCHEMA_BASE):
            raise NoSuchResource(ref=uri)
        path = SCHEMA_DIR / uri[len(SCHEMA_BASE):]
        if not path.is_file():
            raise NoSuchResource(ref=uri)
        return Resource.from_contents(json.loads(path.read_text(encoding="utf-8")))

    root = json.loads((SCHEMA_DIR / "EPCIS-JSON-Schema-root.json").read_text(encoding="utf-8"))
    Draft7Validator.check_schema(root)
    return Draft7Validator(root, registry=Registry(retrieve=retrieve), format_checker=_format_checker())


def _errors(validator, document) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


# ---- data ----------------------------------------------------------------------------

def _at(day: int, hour: int = 8) -> dt.datetime:
    return dt.datetime(2025, 6, day, hour, 30, tzinfo=VN)


def make_diary_batch(db, world, *, product=None, lot="DT-2025-01"):
    """A batch with one diary event of every kind, then a correction of the input event."""
    s = db.session
    user = world.users["producer_a"]
    batch = service.create_batch(s, product or world.product_a, lot_code=lot, quantity=Decimal("1200.500"),
                                 unit="kg", production_date=dt.date(2025, 6, 20),
                                 expiry_date=dt.date(2026, 6, 20), growing_area="Cánh đồng Đồng Tiến, thửa 12",
                                 user=user)
    s.flush()
    add = lambda kind, day, **kw: service.append_event(s, batch, kind=kind, occurred_at=_at(day), user=user, **kw)  # noqa: E731
    events = {
        "seeding": add("seeding", 1, place="Thửa 12", description="Gieo mạ",
                       details={"input_name": "Giống nếp cái hoa vàng", "supplier": "Trạm giống Thanh Hóa"}),
        "input": add("input", 5, place="Thửa 12", details={
            "input_name": "Phân NPK 16-16-8", "input_quantity": "20 kg", "input_lot": "NPK-2405",
            "supplier": "Đại lý vật tư Hòa Bình"}),
        "care": add("care", 8, place="Thửa 12", description="Làm cỏ"),
        "harvest": add("harvest", 20, place="Thửa 12"),
        "processing": add("processing", 21, place="Xưởng HTX", description="Phơi, xay xát"),
        "packing": add("packing", 22, place="Xưởng HTX"),
        "inspection": add("inspection", 23, description="Mẫu kiểm nghiệm đạt"),
        "shipping": add("shipping", 24, place="Xưởng HTX",
                        details={"counterpart": "Siêu thị Đồng Tiến", "document_no": "PX-0042"}),
        "receiving": add("receiving", 25, place="Kho tổng",
                         details={"counterpart": "HTX Đồng Tiến", "document_no": "PN-0007"}),
    }
    s.flush()
    events["correction"] = add("input", 5, place="Thửa 12", corrects=events["input"], details={
        "input_name": "Phân NPK 16-16-8", "input_quantity": "25 kg", "input_lot": "NPK-2405",
        "supplier": "Đại lý vật tư Hòa Bình"}, description="Sửa lượng phân")
    s.commit()
    return batch, events


def _diary_events(doc):
    return [e for e in doc["epcisBody"]["eventList"] if "ocop:diarySeq" in e and "errorDeclaration" not in e]


# ---- tests ---------------------------------------------------------------------------

def _variant(db, world, variant):
    if variant == "gtin":
        world.published_a.gtin = GTIN
        db.session.commit()
        batch, _ = make_diary_batch(db, world, product=world.published_a, lot="NEM-0625")
    elif variant == "recalled":
        batch, _ = make_diary_batch(db, world)
        service.recall_batch(batch, "Phát hiện dư lượng thuốc", user=world.users["producer_a"])
        db.session.commit()
    elif variant == "no-diary":
        batch = service.create_batch(db.session, world.product_b, lot_code="MO-1", quantity=Decimal("40"),
                                     unit="bottle", production_date=dt.date(2025, 5, 1))
        db.session.commit()
    else:
        batch, _ = make_diary_batch(db, world)
    return batch


@pytest.mark.parametrize("variant", ["diary", "gtin", "recalled", "no-diary"])
def test_document_validates_against_gs1_schema(app, db, world, validator, variant):
    batch = _variant(db, world, variant)
    doc = batch_epcis_document(batch, base_url=BASE_URL, now=NOW)
    assert _errors(validator, doc) == []
    # and survives a JSON round trip unchanged (no Decimal, datetime… left in it)
    assert json.loads(json.dumps(doc, ensure_ascii=False)) == doc


@pytest.mark.parametrize("variant", ["diary", "gtin", "recalled", "no-diary"])
def test_streamed_text_and_one_master_data_form(app, db, world, variant):
    """The streamed writer (routes, CLI) writes the dict form's JSON exactly; the document
    spells CBV master data one way only, ``cbvmda:`` (never ``urn:epcglobal:cbv:mda#…``)."""
    batch = _variant(db, world, variant)
    text = "".join(iter_epcis_json(batch, base_url=BASE_URL, now=NOW))
    assert text == json.dumps(batch_epcis_document(batch, base_url=BASE_URL, now=NOW), ensure_ascii=False)
    assert "urn:epcglobal:cbv:mda" not in text
    assert set(re.findall(r'"([^"]+):(?:lotNumber|itemExpirationDate|name)"', text)) == {"cbvmda"}


def test_validator_is_not_vacuous(app, db, world, validator):
    """The same document, broken in ways the schema forbids, is rejected."""
    batch, _ = make_diary_batch(db, world)
    doc = batch_epcis_document(batch, base_url=BASE_URL, now=NOW)

    broken = copy.deepcopy(doc)
    del broken["epcisBody"]["eventList"][1]["eventTimeZoneOffset"]
    assert _errors(validator, broken)

    broken = copy.deepcopy(doc)
    broken["epcisBody"]["eventList"][1]["place"] = "an extension field not named by a URI"
    assert _errors(validator, broken)

    broken = copy.deepcopy(doc)
    broken["epcisBody"]["eventList"][1]["bizStep"] = "harvesting"  # not a CBV word, not a URI
    assert _errors(validator, broken)

    broken = copy.deepcopy(doc)
    broken["epcisBody"]["eventList"][0]["eventTime"] = "2025-06-20 00:00"
    assert _errors(validator, broken)


def test_required_fields_and_times(app, db, world):
    batch, events = make_diary_batch(db, world)
    doc = batch_epcis_document(batch, base_url=BASE_URL, now=NOW)
    assert doc["@context"][0] == EPCIS_CONTEXT == "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    assert doc["@context"][1] == {"ocop": f"{BASE_URL}/epcis/voc/"}
    assert doc["type"] == "EPCISDocument"
    assert doc["schemaVersion"] == "2.0"
    assert doc["creationDate"] == "2025-07-01T03:00:00Z"
    event_list = doc["epcisBody"]["eventList"]
    for event in event_list:
        assert event["type"] == "ObjectEvent"
        assert event["eventTime"] and event["eventTimeZoneOffset"] == "+07:00"
        assert dt.datetime.fromisoformat(event["eventTime"]).utcoffset() == dt.timedelta(hours=7)
        assert event["eventID"].startswith(f"{BASE_URL}/epcis/event/")
    seeding = next(e for e in event_list if e.get("ocop:diaryKind") == "seeding")
    assert seeding["eventTime"] == "2025-06-01T08:30:00+07:00"
    assert seeding["eventID"] == f"{BASE_URL}/epcis/event/{events['seeding'].entry_hash}"


def test_event_timezone_offset_follows_the_event(app, db, world):
    batch, _ = make_diary_batch(db, world, lot="TZ-1")
    service.append_event(db.session, batch, kind="shipping", timezone="Europe/Paris",
                         occurred_at=dt.datetime(2025, 1, 10, 9, 0, tzinfo=ZoneInfo("Europe/Paris")))
    db.session.commit()
    last = batch_epcis_document(batch, base_url=BASE_URL)["epcisBody"]["eventList"][-1]
    assert (last["eventTime"], last["eventTimeZoneOffset"]) == ("2025-01-10T09:00:00+01:00", "+01:00")


def test_event_order_and_bizsteps(app, db, world):
    batch, events = make_diary_batch(db, world)
    doc = batch_epcis_document(batch, base_url=BASE_URL, now=NOW)
    event_list = doc["epcisBody"]["eventList"]

    first = event_list[0]
    assert (first["action"], first["bizStep"], first["disposition"]) == ("ADD", "commissioning", "active")
    assert first["eventTime"] == "2025-06-20T00:00:00+07:00"
    assert first["quantityList"] == [{"epcClass": f"{BASE_URL}/lot/{batch.id}", "quantity": 1200.5, "uom": "KGM"}]
    assert first["ilmd"] == {"cbvmda:lotNumber": "DT-2025-01", "cbvmda:itemExpirationDate": "2026-06-20"}
    assert first["ocop:productName"] == world.product_a.name

    diary = _diary_events(doc)
    assert [e["ocop:diarySeq"] for e in diary] == list(range(1, 11))
    voc = f"{BASE_URL}/epcis/voc/"
    assert [e["bizStep"] for e in diary] == [
        voc + "BizStep-seeding", voc + "BizStep-applying_inputs", voc + "BizStep-tending",
        voc + "BizStep-harvesting", voc + "BizStep-processing", "packing", "inspecting", "shipping",
        "receiving", voc + "BizStep-applying_inputs",
    ]
    assert all(e["action"] == "OBSERVE" for e in diary)

    shipping = next(e for e in diary if e["bizStep"] == "shipping")
    assert shipping["disposition"] == "in_transit"
    assert shipping["sourceList"] == [{"type": "owning_party", "source": f"{BASE_URL}/producers/{world.a.slug}"}]
    assert (shipping["ocop:counterpart"], shipping["ocop:documentNumber"]) == ("Siêu thị Đồng Tiến", "PX-0042")
    assert "bizLocation" not in shipping and shipping["readPoint"]["id"].startswith(f"{BASE_URL}/epcis/loc/")
    receiving = next(e for e in diary if e["bizStep"] == "receiving")
    assert receiving["destinationList"] == [{"type": "owning_party", "destination": f"{BASE_URL}/producers/{world.a.slug}"}]
    assert receiving["bizLocation"] == receiving["readPoint"]

    inp = diary[1]
    assert (inp["ocop:inputName"], inp["ocop:inputQuantity"], inp["ocop:inputLot"], inp["ocop:supplier"]) == (
        "Phân NPK 16-16-8", "20 kg", "NPK-2405", "Đại lý vật tư Hòa Bình")
    # the same place text gives the same location id, named in the master data
    assert diary[0]["readPoint"] == diary[1]["readPoint"] == diary[3]["readPoint"]
    vocabularies = {v["type"]: v for v in doc["epcisHeader"]["epcisMasterData"]["vocabularyList"]}
    names = {el["id"]: el["attributes"][0]["attribute"]
             for el in vocabularies["urn:epcglobal:epcis:vtype:BusinessLocation"]["vocabularyElementList"]}
    assert names[diary[0]["readPoint"]["id"]] == "Thửa 12"
    assert {a["id"] for v in vocabularies.values() for el in v["vocabularyElementList"] for a in el["attributes"]} == {
        "cbvmda:name"}  # CBV 2.0's urn:epcglobal:cbv:mda:name, as the ILMD's cbvmda:lotNumber
    assert names[first["bizLocation"]["id"]] == "Cánh đồng Đồng Tiến, thửa 12"
    inspection = next(e for e in diary if e["bizStep"] == "inspecting")
    assert "readPoint" not in inspection  # no place recorded


def test_correction_is_an_error_declaration_plus_corrective_event(app, db, world):
    batch, events = make_diary_batch(db, world)
    doc = batch_epcis_document(batch, base_url=BASE_URL, now=NOW)
    event_list = doc["epcisBody"]["eventList"]
    original_id = f"{BASE_URL}/epcis/event/{events['input'].entry_hash}"
    corrective_id = f"{BASE_URL}/epcis/event/{events['correction'].entry_hash}"

    original = next(e for e in event_list if e["eventID"] == original_id and "errorDeclaration" not in e)
    declarations = [e for e in event_list if "errorDeclaration" in e]
    assert len(declarations) == 1
    declaration = declarations[0]
    # a copy of the erroneous event, same id and time, plus the declaration
    assert {k: v for k, v in declaration.items() if k != "errorDeclaration"} == original
    assert declaration["errorDeclaration"]["reason"] == "incorrect_data"
    assert declaration["errorDeclaration"]["correctiveEventIDs"] == [corrective_id]
    declared = dt.datetime.fromisoformat(declaration["errorDeclaration"]["declarationTime"].replace("Z", "+00:00"))
    assert abs(declared - events["correction"].recorded_at) < dt.timedelta(milliseconds=1)

    # the declaration comes right before the corrective event, at the end of the diary
    i = event_list.index(declaration)
    corrective = event_list[i + 1]
    assert corrective["eventID"] == corrective_id
    assert corrective["ocop:corrects"] == original_id
    assert corrective["ocop:inputQuantity"] == "25 kg"
    assert event_list.index(original) < i


def test_gtin_lot_uses_digital_link_and_other_lots_our_uri(app, db, world):
    product = world.published_a
    product.gtin = GTIN
    db.session.commit()
    gtin_batch, _ = make_diary_batch(db, world, product=product, lot="NEM-0625")
    plain_batch, _ = make_diary_batch(db, world, lot="GAO-0625")

    gtin_doc = batch_epcis_document(gtin_batch, base_url=BASE_URL + "/", now=NOW)
    plain_doc = batch_epcis_document(plain_batch, base_url=BASE_URL, now=NOW)

    gtin_classes = {q["epcClass"] for e in gtin_doc["epcisBody"]["eventList"] for q in e["quantityList"]}
    plain_classes = {q["epcClass"] for e in plain_doc["epcisBody"]["eventList"] for q in e["quantityList"]}
    assert gtin_classes == {f"https://id.gs1.org/01/{GTIN}/10/NEM-0625"}
    assert plain_classes == {f"{BASE_URL}/lot/{plain_batch.id}"}
    # a trailing slash on the base URL changes nothing
    assert gtin_doc["@context"][1] == {"ocop": f"{BASE_URL}/epcis/voc/"}


def test_recalled_batch_ends_with_a_recall_event(app, db, world):
    batch = _variant(db, world, "recalled")
    doc = batch_epcis_document(batch, base_url=BASE_URL, now=NOW)
    last = doc["epcisBody"]["eventList"][-1]
    assert last["disposition"] == "recalled"
    assert last["ocop:recallReason"] == "Phát hiện dư lượng thuốc"


def test_batch_without_diary(app, db, world):
    batch = _variant(db, world, "no-diary")
    doc = batch_epcis_document(batch, base_url=BASE_URL, now=NOW)
    (only,) = doc["epcisBody"]["eventList"]
    assert only["quantityList"] == [{"epcClass": f"{BASE_URL}/lot/{batch.id}", "quantity": 40}]  # counted: no uom
    assert "epcisHeader" not in doc and "ilmd" in only
