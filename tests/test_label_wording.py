"""What a printed stamp says and where (issue 17, point 4), read back out of real PDFs.

Stamp runs are printed through the real path (``stamps.sheets.render_pdf``, from the
database) on every layout; the text is read back with pdfium, the QRs with zxing-cpp, and
the position of everything drawn from pdfium's page objects:

- the producer's full address (address line, commune, province) and "Xuất xứ: Việt Nam", on
  a stock with room for them (A4 3×8, the 50×30 roll); on the small stocks (A4 5×13, the
  40×25 roll) at least the producer and the commune, however shortened;
- the word before the net quantity, chosen by unit in one place (``vocab.quantity_word``):
  the label and the stamp page ``/s/<serial>`` say the same;
- on an A4 sheet, nothing printed within 4 mm of the sheet's edges (office printers cannot
  print there), the QRs included;
- every QR still decodes to its stamp's URL.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from decimal import Decimal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from sqlalchemy import select

from marketplace import geo
from marketplace.models import Stamp
from marketplace.models.products import UNITS as PRODUCT_UNITS
from marketplace.printing.layouts import LAYOUTS
from marketplace.printing.pdf import render_label_sheet
from marketplace.printing.wording import abbreviate_name, abbreviate_place
from marketplace.stamps import sheets
from marketplace.stamps.scratch import code_for, format_code
from marketplace.stamps.service import activate_run, issue_run, stamp_url
from marketplace.trace.service import create_batch
from marketplace.vocab import QUANTITY_WORDS, quantity_kind, quantity_word
from tests.conftest import listed, make_product
from tests.test_labels import PT_PER_MM, decode_page, make_labels, raster
from tests.test_scan import ScanClient

BASE = "http://127.0.0.1:5000"
PRODUCER = "Hợp tác xã Dịch vụ Nông nghiệp Yên Trung"
LONG_ADDRESS = "Số 18 đường Lê Lợi, thôn Yên Trung 3, gần chợ Triệu Sơn"
COMMUNE = r"(?:Xã|X\.) Đồng Tiến"           # world.a's ward 15724, whole or abbreviated
PROVINCE = r"(?:Tỉnh )?Thanh Hóa"
ORIGIN = "Xuất xứ: Việt Nam"
ROOMY, SMALL = ("a4-3x8", "roll-50x30"), ("a4-5x13", "roll-40x25")
SAFE_MM = 4.0
WORDS = {str(word) for word in QUANTITY_WORDS.values()}   # outside a request: the Vietnamese
# unit, net quantity, as the label and the page write it, and the word a reader expects
UNITS = {"g": ("500", "500 g", "Khối lượng tịnh"), "ml": ("750", "750 ml", "Thể tích thực"),
         "piece": ("6", "6 cái", "Số lượng")}


@pytest.fixture
def client(app, app_factory):
    """Requests through an app of their own (see tests/test_scan.py for why)."""
    other = app_factory()
    other.test_client_class = ScanClient
    return other.test_client()


def stamped(db, world, count: int, *, unit: str = "g", address_line: str = LONG_ADDRESS,
            producer_name: str = PRODUCER):
    """An active run of ``count`` stamps for a new product of producer A (ward: Xã Đồng
    Tiến, Thanh Hóa) in ``unit``; returns the run and its serials in print order."""
    s = db.session
    producer = world.a
    producer.name, producer.address_line = producer_name, address_line
    net, _, _ = UNITS[unit]
    product = make_product(s, producer, f"Mật ong hoa nhãn ({unit})")
    product.unit, product.net_quantity = unit, Decimal(net)
    listed(product)
    s.flush()
    batch = create_batch(s, product, lot_code=f"LOT-{unit.upper()}", quantity=Decimal("10"), unit=unit,
                         production_date=dt.date(2025, 10, 1), expiry_date=dt.date(2026, 10, 1))
    s.flush()
    run = issue_run(s, batch, count)
    activate_run(s, run)
    s.commit()
    serials = list(s.scalars(select(Stamp.serial).where(Stamp.run_id == run.id).order_by(Stamp.position)))
    return run, serials


def printed(db, run, layout_name: str) -> pdfium.PdfDocument:
    return pdfium.PdfDocument(sheets.render_pdf(db.session, run, LAYOUTS[layout_name], BASE))


def page_text(page) -> str:
    return " ".join(page.get_textpage().get_text_range().split())


def cell_texts(page, layout) -> list[str]:
    """The text of each label on ``page``, in cell order."""
    textpage, texts = page.get_textpage(), []
    for index in range(layout.per_page):
        x, y, w, h = (v * PT_PER_MM for v in layout.cell_box(index))
        texts.append(" ".join(textpage.get_text_bounded(x, y, x + w, y + h).split()))
    return texts


def assert_qrs_decode(pdf, layout, serials) -> None:
    for number, page in enumerate(pdf):
        on_page = serials[number * layout.per_page:(number + 1) * layout.per_page]
        assert decode_page(raster(page), layout) == {stamp_url(BASE, serial): index
                                                     for index, serial in enumerate(on_page)}


# ---- one word per kind of unit; abbreviations ---------------------------------------------

def test_one_quantity_word_per_kind_of_unit():
    kinds = {unit: quantity_kind(unit) for unit in PRODUCT_UNITS}
    assert {unit for unit, kind in kinds.items() if kind == "mass"} == {"g", "kg"}
    assert {unit for unit, kind in kinds.items() if kind == "volume"} == {"ml", "l"}
    assert {unit for unit, kind in kinds.items() if kind == "count"} == set(PRODUCT_UNITS) - {"g", "kg", "ml", "l"}
    assert [quantity_word(unit, "vi") for unit in ("kg", "l", "bottle")] == [
        "Khối lượng tịnh", "Thể tích thực", "Số lượng"]


def test_abbreviations_cover_every_commune_and_province():
    assert [abbreviate_place(name) for name in ("Xã Đồng Tiến", "Phường Ba Đình", "Đặc khu Côn Đảo",
                                                "Tỉnh Thanh Hóa", "Thành phố Hà Nội")] == [
        "X. Đồng Tiến", "P. Ba Đình", "ĐK. Côn Đảo", "Thanh Hóa", "TP. Hà Nội"]
    names = [unit.name for unit in geo.provinces()]
    names += [ward.name for province in geo.provinces() for ward in geo.wards_of(province.code)]
    assert len(names) > 3000 and all(abbreviate_place(name) != name for name in names)
    assert abbreviate_name(PRODUCER) == "HTX DV NN Yên Trung"
    assert abbreviate_name("Công ty TNHH Thương mại và Sản xuất Sao Mai") == "Cty TNHH TM và SX Sao Mai"
    assert abbreviate_name("Hộ Trịnh Văn A") == "Hộ Trịnh Văn A"


# ---- the address, the origin, the producer ------------------------------------------------

@pytest.mark.parametrize("name", ROOMY)
def test_roomy_labels_print_the_full_address_and_the_origin(db, world, name):
    layout = LAYOUTS[name]
    run, serials = stamped(db, world, 3)
    pdf = printed(db, run, name)
    texts = cell_texts(pdf[0], layout)[:3]
    for text in texts:
        assert re.search(re.escape(LONG_ADDRESS) + f", {COMMUNE}, {PROVINCE}", text), text
        assert ORIGIN in text, text
        assert PRODUCER in text or abbreviate_name(PRODUCER) in text, text
        assert "Lô: LOT-G" in text and "HSD: " in text
    assert_qrs_decode(pdf, layout, serials)


@pytest.mark.parametrize("name", SMALL)
def test_small_labels_keep_the_producer_and_the_commune(db, world, name):
    layout = LAYOUTS[name]
    run, serials = stamped(db, world, 3)
    pdf = printed(db, run, name)
    for text in cell_texts(pdf[0], layout)[:3]:
        assert abbreviate_name(PRODUCER) in text or PRODUCER in text, text   # "HTX DV NN Yên Trung"
        assert re.search(COMMUNE, text), text
        assert "Lô: LOT-G" in text and "HSD: " in text
    assert_qrs_decode(pdf, layout, serials)


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_an_ordinary_address_is_whole_on_every_label_but_the_smallest(db, world, name):
    """A producer with a short address line and name: everything on the roomy stocks, the
    commune and the province on the 40×25 roll too."""
    layout = LAYOUTS[name]
    run, _ = stamped(db, world, 1, address_line="Thôn 3", producer_name="HTX Yên Trung")
    (text,) = cell_texts(printed(db, run, name)[0], layout)[:1]
    assert "HTX Yên Trung" in text and re.search(COMMUNE, text), text
    if name != "a4-5x13":
        assert re.search(f"{COMMUNE}, {PROVINCE}", text), text
    if name in ROOMY:
        assert re.search(f"Thôn 3, {COMMUNE}, {PROVINCE}", text) and ORIGIN in text, text


# ---- the quantity word ------------------------------------------------------------------

def page_quantity(client, serial: str, number: str, language: str = "vi") -> tuple[str, str]:
    """(term, value) of the stamp page's net quantity, the value starting with ``number``."""
    response = client.get(f"/s/{serial}", headers={"Accept-Language": language})
    assert response.status_code == 200
    found = re.search(r"<dt>([^<]+)</dt><dd>(" + re.escape(number) + r" [^<]+)</dd>", response.get_data(as_text=True))
    assert found, f"no net quantity {number} on the stamp page"
    return found.group(1), found.group(2)


@pytest.mark.parametrize("unit", list(UNITS))
def test_label_and_stamp_page_say_the_same_quantity_word(db, world, client, unit):
    number, shown, expected = UNITS[unit]
    run, serials = stamped(db, world, 1, unit=unit, address_line="")
    word, value = page_quantity(client, serials[0], number)
    assert (word, value) == (expected, shown)
    for name in LAYOUTS:
        text = page_text(printed(db, run, name)[0])
        if name in ROOMY:
            assert f"{word}: {shown}" in text, (name, text)
        assert {w for w in WORDS if w in text} <= {word}, (name, text)   # never another word
    if unit != "ml":  # "Thể tích thực" is new: its English comes with the next translation
        term, _ = page_quantity(client, serials[0], number, "en")
        assert term == {"g": "Net quantity", "piece": "Quantity"}[unit]


def test_a_label_printed_from_an_english_page_is_in_vietnamese(app, db, world):
    run, _ = stamped(db, world, 1, address_line="")
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert quantity_word("g") == "Net quantity"                 # the page's language…
        text = page_text(printed(db, run, "a4-3x8")[0])
    assert "Khối lượng tịnh: 500 g" in text and "Net quantity" not in text   # … not the label's


# ---- the safe margin of an A4 sheet -------------------------------------------------------

A4 = [name for name in LAYOUTS if name.startswith("a4-")]


def drawn_boxes(page):
    """(kind, (left, bottom, right, top)) of everything drawn on ``page``, in points."""
    kinds = {pdfium_c.FPDF_PAGEOBJ_TEXT: "text", pdfium_c.FPDF_PAGEOBJ_PATH: "path",
             pdfium_c.FPDF_PAGEOBJ_FORM: "form", pdfium_c.FPDF_PAGEOBJ_IMAGE: "image"}
    for obj in page.get_objects(max_depth=1):
        yield kinds.get(obj.type, obj.type), obj.get_bounds()


def nearest_mm(page, boxes) -> dict[str, float]:
    """How close ``boxes`` come to each edge of ``page``, in mm."""
    width, height = page.get_size()
    return {side: min(distance(box) for box in boxes) / PT_PER_MM for side, distance in (
        ("left", lambda box: box[0]), ("bottom", lambda box: box[1]),
        ("right", lambda box: width - box[2]), ("top", lambda box: height - box[3]))}


@pytest.mark.parametrize("name", A4)
def test_a4_sheets_keep_4_mm_from_every_edge(db, world, name):
    layout = LAYOUTS[name]
    run, serials = stamped(db, world, layout.per_page)   # a full sheet: its outer labels too
    pdf = printed(db, run, name)
    page = pdf[0]
    drawn = list(drawn_boxes(page))
    qrs = [box for kind, box in drawn if kind == "path"]  # one path a QR: its dark modules
    assert len(qrs) == layout.per_page and any(kind == "text" for kind, _ in drawn)
    assert min(nearest_mm(page, [box for _, box in drawn]).values()) >= SAFE_MM
    assert min(nearest_mm(page, qrs).values()) >= SAFE_MM
    assert_qrs_decode(pdf, layout, serials)


@pytest.mark.parametrize("name", A4)
def test_a4_margin_holds_for_stars_scratch_boxes_and_stacked_marks(name):
    """Pure rendering: OCOP stars (form objects), scratch-off boxes, and a name in capitals
    whose stacked marks rise above the line's ascent, on every label of a full sheet."""
    layout = LAYOUTS[name]
    labels = make_labels(layout.per_page, address_line="Thôn 3")
    for index in range(1, len(labels), 2):
        labels[index] = dataclasses.replace(
            labels[index], product_name="ẪM THỰC ỐC ĐẢO – MẬT ONG RỪNG ỔI", address_line=LONG_ADDRESS,
            scratch_code=format_code(code_for(labels[index].serial, b"k" * 32)))
    out = io.BytesIO()
    render_label_sheet(labels, layout, out)
    pdf = pdfium.PdfDocument(out.getvalue())
    drawn = list(drawn_boxes(pdf[0]))
    kinds = {kind for kind, _ in drawn}
    assert kinds >= ({"text", "path", "form"} if name == "a4-3x8" else {"text", "path"})  # no stars on 5×13
    assert min(nearest_mm(pdf[0], [box for _, box in drawn]).values()) >= SAFE_MM
    assert decode_page(raster(pdf[0]), layout) == {label.url: index for index, label in enumerate(labels)}


def test_the_margin_check_can_fail():
    """The page objects are where the drawing is: on a roll (no safe margin) text and QR
    come within 4 mm of the edge, and the same measure says so."""
    out = io.BytesIO()
    render_label_sheet(make_labels(1), LAYOUTS["roll-40x25"], out)
    page = pdfium.PdfDocument(out.getvalue())[0]
    assert min(nearest_mm(page, [box for _, box in drawn_boxes(page)]).values()) < SAFE_MM
