"""What an officer may type into an exchange profile (the JSON editor of the exchange page):
every malformed value is refused with the form's "invalid profile" message (422), never a
500; names and labels carry no control characters (they would break the XLSX feed mid-stream
and reach the exchange raw in CSV); and a recall's date in the feeds is the date in Vietnam,
as every other channel writes it."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import lxml.html
import pytest
import time_machine

from marketplace.feeds import canonical, profiles
from marketplace.feeds.profiles import ProfileError, shipped
from marketplace.feeds.service import find_exchange
from marketplace.trace.service import create_batch, recall_batch
from tests.test_exchange_admin import officer  # noqa: F401 (fixture)
from tests.test_feeds import catalogue, csv_rows, fetch, feed_json, http, tokens, web  # noqa: F401 (fixtures)

INVALID = "Hồ sơ không hợp lệ"
UTC = dt.timezone.utc


def shipped_with(**change) -> dict:
    """The shipped Thanh Hóa profile (as the editor shows it, less its code) with ``change``."""
    return {**{k: v for k, v in shipped("thanhhoa").items() if k != "code"}, **change}


def first_field(name: str) -> dict:
    """The shipped Thanh Hóa profile with its first exchange field renamed ``name``."""
    data = shipped_with()
    data["fields"] = [[name, data["fields"][0][1]], *data["fields"][1:]]
    return data


# ---- 1. malformed values: refused, never a 500 ---------------------------------------------

MALFORMED = {
    "required: a list in the list": {"formats": ["json"], "required": [[1]]},
    "required: an object in the list": {"formats": ["json"], "required": [{}]},
    "required: null in the list": shipped_with(required=["title", None]),
    "required: a number in the list": shipped_with(required=["title", 7]),
    "required: text, not a list": shipped_with(required="title"),
    "required: an object": shipped_with(required={"title": True}),
    "formats: a list in the list": shipped_with(formats=[["json"]]),
    "formats: an object in the list": shipped_with(formats=[{"json": 1}]),
    "formats: text": shipped_with(formats="json"),
    "fields: an object": shipped_with(fields={"ma": "id"}),
    "fields: a list as canonical field": shipped_with(fields=[["ma", ["id"]]]),
    "fields: a number as exchange field": shipped_with(fields=[[1, "id"]]),
    "fields: null as exchange field": shipped_with(fields=[[None, "id"]]),
    "fields: an object as a pair": shipped_with(fields=[{"ma": "id"}]),
    "limits: a list": shipped_with(limits=[100]),
    "limits: null as a limit": shipped_with(limits={"title": None}),
    "limits: a list as a limit": shipped_with(limits={"title": [100]}),
    "limits: a fraction": shipped_with(limits={"title": 100.5}),
    "category_list: null as a label": shipped_with(category_list=[["gao", None]]),
    "category_list: a list as a code": shipped_with(category_list=[[["gao"], "Gạo"]]),
    "category_list: an object": shipped_with(category_list={"gao": "Gạo"}),
    "categories: a list as a category": shipped_with(categories={"1.2": ["gao"]}),
    "categories: null as a category": shipped_with(categories={"1.2": None}),
    "categories: a list": shipped_with(categories=[["1.2", "gao"]]),
    "name: a list": shipped_with(name=["Sàn"]),
    "name: an object": shipped_with(name={"vi": "Sàn"}),
    "name: a number": shipped_with(name=5),
    "code: a list": shipped_with(code=["thanhhoa"]),
    "a list, not an object": [shipped_with()],
    "null": None,
    "a number": 42,
    "text": "thanhhoa",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_parse_refuses_malformed_values_with_a_profile_error(data):
    with pytest.raises(ProfileError) as refused:
        profiles.parse(data)
    assert refused.value.field and str(refused.value.message)
    assert len(str(refused.value.message)) < 300


def refused_page(officer, text: str, code: str = "thanhhoa") -> str:  # noqa: F811 (the fixture)
    """The message the editor shows for ``text`` (refused: 422, the form shown again)."""
    response = officer.post(f"/admin/exchanges/{code}/profile", data={"profile": text})
    assert response.status_code == 422, response.status_code
    errors = [e.text_content() for e in lxml.html.fromstring(response.get_data(as_text=True)).cssselect(".error")]
    message = next((e for e in errors if INVALID in e), None)
    assert message, errors
    return message


def saved_nothing(db, code: str = "thanhhoa") -> bool:
    exchange = find_exchange(db.session, code)
    db.session.refresh(exchange)
    return exchange.profile is None


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_the_editor_refuses_malformed_values(officer, db, data):  # noqa: F811 (the fixture)
    refused_page(officer, json.dumps(data))
    assert saved_nothing(db)


def test_the_editor_refuses_json_nested_too_deeply(officer, db):  # noqa: F811 (the fixture)
    deep = "[" * 30000 + "]" * 30000
    assert len(deep) <= 100_000  # within the form's limit: it reaches the JSON decoder
    refused_page(officer, deep)
    # Nesting the decoder reads, inside a part of the profile: refused too, its value cut short.
    data = shipped_with(required=json.loads("[" * 300 + "]" * 300))
    assert "[[[[[[[[[[[[" not in refused_page(officer, json.dumps(data))
    assert saved_nothing(db)


def test_the_editor_refuses_a_number_python_does_not_read(officer, db):  # noqa: F811 (the fixture)
    refused_page(officer, '{"formats": ["json"], "limits": {"title": ' + "9" * 5000 + "}}")
    assert saved_nothing(db)


def test_a_long_malformed_value_is_shown_cut_short(officer, db):  # noqa: F811 (the fixture)
    assert len(refused_page(officer, json.dumps(shipped_with(required=["x" * 50_000])))) < 300
    assert saved_nothing(db)


# ---- 2. control characters in names and labels ---------------------------------------------

CONTROLLED = {
    "U+0001 in a field name": first_field("ten\u0001san_pham"),
    "NUL in a field name": first_field("ten\u0000"),
    "a tab in a field name": first_field("ten\tsan_pham"),
    "a line break in a field name": first_field("ten\nsan_pham"),
    "DEL in a field name": first_field("ten\u007f"),
    "a zero-width space in a field name": first_field("ten\u200bsan_pham"),
    "a lone surrogate in a field name": first_field("ten\ud800"),
    "U+0007 in a category label": shipped_with(category_list=[["gao", "Gạo\u0007"]]),
    "U+001B in a category code": shipped_with(category_list=[["gao\u001b", "Gạo"]]),
    "U+0002 in a category of a group": shipped_with(category_list=[], categories={"1.2": "gao\u0002"}),
    "U+0003 in a group code": shipped_with(category_list=[], categories={"1.2\u0003": "gao"}),
    "U+0008 in the name": shipped_with(name="Sàn\u0008 Thanh Hóa"),
}


@pytest.mark.parametrize("data", CONTROLLED.values(), ids=CONTROLLED.keys())
def test_parse_refuses_control_characters_in_names_and_labels(data):
    with pytest.raises(ProfileError) as refused:
        profiles.parse(data)
    assert "điều khiển" in str(refused.value.message)


def test_the_editor_refuses_a_control_character_written_as_a_json_escape(officer, db, http, tokens):  # noqa: F811
    text = json.dumps(first_field("ten\u0001san_pham"))
    assert "\\u0001" in text and "\x01" not in text  # what the form's text cleaning cannot see
    assert "điều khiển" in refused_page(officer, text)
    text = json.dumps(shipped_with(category_list=[["gao", "Gạo\u0007"]]))
    assert "điều khiển" in refused_page(officer, text)
    assert saved_nothing(db)
    assert fetch(http, "thanhhoa", "xlsx", tokens["thanhhoa"]).status_code == 200


def test_vietnamese_in_any_normal_form_and_emoji_are_not_control_characters():
    decomposed = "Ga\u0323o ne\u0301p"  # "Gạo nếp" typed with combining marks
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # joined by ZERO WIDTH JOINER
    profile = profiles.parse(shipped_with(name=decomposed, category_list=[["gao", decomposed + " " + family]],
                                          categories={"1.2": "gao"}))
    assert profile.category_list == (("gao", decomposed + " " + family),)


def test_the_shipped_profiles_still_parse():
    for code in profiles.CODES:
        assert profiles.parse(shipped(code)).code == code


# ---- 3. a recall's date, in Vietnam -----------------------------------------------------------

def recall_at(db, product, lot: str, moment: dt.datetime) -> str:
    batch = create_batch(db.session, product, lot_code=lot, quantity=Decimal("100"), unit="kg",
                         production_date=dt.date(2026, 10, 1))
    db.session.flush()
    with time_machine.travel(moment, tick=False):
        recall_batch(batch, "Nấm mốc vượt ngưỡng")
    db.session.commit()
    return batch.lot_code


@pytest.mark.parametrize("code, column", [("thanhhoa", "thu_hoi"), ("postmart", "recall")])
def test_a_recall_is_dated_in_vietnam_in_every_feed(db, catalogue, http, tokens, code, column):  # noqa: F811
    rice = catalogue.rice
    # 23:59 in Vietnam on 10 March, and 01:30 on 11 March (18:30 UTC on the 10th).
    before = recall_at(db, rice, "GN-2027-A", dt.datetime(2027, 3, 10, 16, 59, tzinfo=UTC))
    after = recall_at(db, rice, "GN-2027-B", dt.datetime(2027, 3, 10, 18, 30, tzinfo=UTC))
    expected = {f"{before}: Nấm mốc vượt ngưỡng (2027-03-10)", f"{after}: Nấm mốc vượt ngưỡng (2027-03-11)"}
    item_id = f"ocop-{rice.id}"

    body = feed_json(http, tokens, code)
    ids = profiles.id_field(profiles.parse(shipped(code)))
    item = next(i for i in body["items"] if i[ids] == item_id)
    assert set(item[column].split("; ")) == expected

    rows = csv_rows(fetch(http, code, "csv", tokens[code]).data)
    row = next(r for r in rows if r[ids] == item_id)
    assert set(row[column].split("; ")) == expected


def test_a_profile_saved_before_the_check_still_serves(db, catalogue, http, tokens):  # noqa: F811
    """Control characters are refused where a profile is saved; one saved before they were
    (a soft hyphen pasted into a label, a zero-width space) is read as it is: its feeds, and
    the product and stamp pages that ask what each exchange would refuse, still answer."""
    exchange = find_exchange(db.session, "thanhhoa")
    exchange.set_profile(first_field("ten\u00adsan\u200bpham"))  # as the editor let it through before
    db.session.commit()
    assert fetch(http, "thanhhoa", "json", tokens["thanhhoa"]).status_code == 200
    assert "ten\u00adsan\u200bpham" in feed_json(http, tokens, "thanhhoa")["items"][0]
    assert http.get(f"/p/{catalogue.rice.slug}").status_code == 200
    with pytest.raises(ProfileError):  # but the editor, saving it again, says what to take out
        profiles.parse(first_field("ten\u00adsan\u200bpham"))


def test_a_kept_feed_item_is_rebuilt_with_the_recall_dated_in_vietnam(db, catalogue, http, tokens):  # noqa: F811
    """Items kept between feeds were mapped with the date in UTC: the item schema moved with
    the mapping, so they are built again, and the feed's ETag moved with it."""
    first = fetch(http, "thanhhoa", "json", tokens["thanhhoa"])
    schema = canonical.ITEM_SCHEMA
    try:
        canonical.ITEM_SCHEMA = schema + 1
        again = fetch(http, "thanhhoa", "json", tokens["thanhhoa"], headers={"If-None-Match": first.headers["ETag"]})
    finally:
        canonical.ITEM_SCHEMA = schema
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"]
