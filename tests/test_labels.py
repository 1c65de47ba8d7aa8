"""Label printing, checked like a print shop would: rasterise the PDF, scan every QR with a
real reader (zxing-cpp), read the text back out of the PDF (pdfium), measure where it went.

Pure rendering: no app, no database.
"""
from __future__ import annotations

import datetime as dt
import io
import re

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image, ImageDraw

from marketplace.printing.layouts import LAYOUTS, Layout, UnknownLayout, get_layout
from marketplace.printing.pdf import LabelData, TextBox, render_label_sheet
from marketplace.printing.qr import QUIET_ZONE, qr_matrix, qr_png, qr_runs, qr_svg
from marketplace.stamps.serials import group_serial, new_serial
from marketplace.vocab import quantity_word
from tests.conftest import PG_URL

BASE = "HTTP://127.0.0.1:5000/S/"
DPI = 150
PT_PER_MM = 72 / 25.4
LONG_NAME = ("Mật ong hoa nhãn rừng tự nhiên Triệu Sơn thu hoạch vụ xuân, đóng chai thủy tinh "
             "cao cấp, dành làm quà biếu Tết Nguyên Đán, của Hợp tác xã Nông nghiệp Đồng Tiến, "
             "xã Đồng Tiến, tỉnh Thanh Hóa, Việt Nam.")

# No database here: .ci/run runs it once, in the SQLite suite (the two suites share two cores).
pytestmark = pytest.mark.skipif(bool(PG_URL), reason="pure rendering, no database: runs in the SQLite suite")


def make_labels(count: int, **overrides) -> list[LabelData]:
    labels = []
    for _ in range(count):
        serial = new_serial()
        fields = dict(
            url=BASE + serial, serial=serial, product_name="Mật ong hoa nhãn Triệu Sơn",
            producer_name="HTX Nông nghiệp Đồng Tiến", place="Xã Đồng Tiến, Thanh Hóa",
            lot="L2025-0001", production_date=dt.date(2025, 3, 1),
            expiry_date=dt.date(2026, 3, 1), net_quantity="500 g", net_word=quantity_word("g", "vi"),
            origin="Việt Nam", ocop_stars=4)
        fields.update(overrides)
        labels.append(LabelData(**fields))
    return labels


def render(labels, layout: Layout, **kwargs) -> tuple[pdfium.PdfDocument, list[TextBox], int]:
    boxes: list[TextBox] = []
    out = io.BytesIO()
    pages = render_label_sheet(labels, layout, out, on_text=boxes.append, **kwargs)
    return pdfium.PdfDocument(out.getvalue()), boxes, pages


def raster(page) -> Image.Image:
    return page.render(scale=DPI / 72).to_pil().convert("L")


def cells_pt(layout: Layout) -> list[tuple[float, float, float, float]]:
    cells = []
    for index in range(layout.per_page):
        x, y, w, h = (v * PT_PER_MM for v in layout.cell_box(index))
        cells.append((x, y, x + w, y + h))
    return cells


def cell_at(layout: Layout, x: float, y: float) -> int | None:
    for index, (x0, y0, x1, y1) in enumerate(cells_pt(layout)):
        if x0 <= x <= x1 and y0 <= y <= y1:
            return index
    return None


def inside(box, cell, tolerance: float = 0.01) -> bool:
    return (box[0] >= cell[0] - tolerance and box[1] >= cell[1] - tolerance
            and box[2] <= cell[2] + tolerance and box[3] <= cell[3] + tolerance)


def assert_chars_inside_cells(pdf: pdfium.PdfDocument, layout: Layout) -> str:
    """Every glyph pdfium finds lies wholly inside the label cell its centre is in."""
    text = []
    for page in pdf:
        textpage = page.get_textpage()
        for i in range(textpage.count_chars()):
            char = textpage.get_text_range(i, 1)
            if not char.strip():
                continue
            left, bottom, right, top = textpage.get_charbox(i)
            index = cell_at(layout, (left + right) / 2, (bottom + top) / 2)
            assert index is not None, f"{char!r} outside every label"
            assert inside((left, bottom, right, top), cells_pt(layout)[index]), (
                f"{char!r} at {(left, bottom, right, top)} crosses label {index}")
        text.append(textpage.get_text_range())
    return "\n".join(text)


def decode_page(image: Image.Image, layout: Layout) -> dict[str, int]:
    """{decoded text: index of the cell its centre is in}."""
    found = {}
    for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
        pos = barcode.position
        cx = sum(p.x for p in (pos.top_left, pos.top_right, pos.bottom_left, pos.bottom_right)) / 4
        cy = sum(p.y for p in (pos.top_left, pos.top_right, pos.bottom_left, pos.bottom_right)) / 4
        x_pt, y_pt = cx * 72 / DPI, (image.height - cy) * 72 / DPI
        assert barcode.ec_level == "M"
        found[barcode.text] = cell_at(layout, x_pt, y_pt)
    return found


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_qr_decodes_to_its_label_and_text_stays_inside(name):
    layout = LAYOUTS[name]
    count = max(layout.per_page * 3 // 2, 2)
    labels = make_labels(count)
    pdf, boxes, pages = render(labels, layout)
    assert pages == len(pdf) == -(-count // layout.per_page)

    for number, page in enumerate(pdf):
        on_page = labels[number * layout.per_page:(number + 1) * layout.per_page]
        found = decode_page(raster(page), layout)
        assert set(found) == {label.url for label in on_page}
        assert found == {label.url: index for index, label in enumerate(on_page)}

    for box in boxes:                                   # as drawn (hook)
        assert inside(box.box, box.cell), box
    text = assert_chars_inside_cells(pdf, layout)       # as pdfium reads the file
    for label in labels:                                # the serial, always, whole
        assert all(group in text for group in group_serial(label.serial, " ").split())
    for wording in ("Mật ong", "Lô: L2025-0001", "HSD: 01/03/2026"):
        assert wording in text


def test_vietnamese_wording_on_a4():
    text = pdf_text(make_labels(3))
    for wording in ("Mật ong hoa nhãn Triệu Sơn", "Cơ sở SX: HTX Nông nghiệp", "Đồng Tiến",
                    "Xã Đồng Tiến, Thanh Hóa", "Xuất xứ: Việt Nam", "Khối lượng tịnh: 500 g",
                    "NSX: 01/03/2025", "HSD: 01/03/2026", "OCOP"):
        assert wording in text
    assert "Thể tích thực: 750 ml" in pdf_text(make_labels(1, net_quantity="750 ml",
                                                           net_word=quantity_word("ml", "vi")))
    assert "Số lượng: 6 hũ" in pdf_text(make_labels(1, net_quantity="6 hũ", net_word=quantity_word("jar", "vi")))
    # the printing module only prints the word it is given (vocab.quantity_word decides it)
    bare = pdf_text(make_labels(1, net_quantity="750 ml", net_word=""))
    assert "750 ml" in bare and "Khối lượng" not in bare and "Thể tích" not in bare


def pdf_text(labels, layout: Layout = LAYOUTS["a4-3x8"]) -> str:
    pdf, _, _ = render(labels, layout)
    return " ".join(" ".join(page.get_textpage().get_text_range().split()) for page in pdf)


def test_metadata():
    pdf, _, _ = render(make_labels(1), LAYOUTS["roll-40x25"], title="Tem lô L2025-0001")
    meta = pdf.get_metadata_dict()
    assert meta["Title"] == "Tem lô L2025-0001"
    assert meta["Creator"] == "OCOP Marketplace"


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_long_texts_shrink_and_truncate_but_never_leave_the_label(name):
    layout = LAYOUTS[name]
    labels = make_labels(1, product_name=LONG_NAME) + make_labels(
        1, product_name="X" * 200, producer_name="Hợp tác xã " * 20, place="Thanh Hóa " * 20)
    assert len(LONG_NAME) == 200
    pdf, boxes, _ = render(labels, layout)
    for box in boxes:
        assert inside(box.box, box.cell), box
    text = assert_chars_inside_cells(pdf, layout)
    assert "…" in text
    assert "Lô: L2025-0001" in text
    for label in labels:
        assert all(group in text for group in group_serial(label.serial, " ").split())
    for number, page in enumerate(pdf):                 # the producer and the commune: never dropped
        textpage = page.get_textpage()
        for index, _ in enumerate(labels[number * layout.per_page:(number + 1) * layout.per_page]):
            cell = " ".join(textpage.get_text_bounded(*cells_pt(layout)[index]).split())
            assert "SX: " in cell and ("Đồng Tiến" in cell or "Thanh Hóa" in cell), cell
    for number, page in enumerate(pdf):
        on_page = labels[number * layout.per_page:(number + 1) * layout.per_page]
        assert set(decode_page(raster(page), layout)) == {label.url for label in on_page}


def test_text_hook_can_fail(monkeypatch):
    """The inside-the-label check is real: a label wider than its cell is caught."""
    import marketplace.printing.pdf as pdf_module

    real = pdf_module._Geometry.for_layout

    def too_wide(layout):
        return real(layout)._replace(text_w=layout.label_width * PT_PER_MM)

    monkeypatch.setattr(pdf_module._Geometry, "for_layout", staticmethod(too_wide))
    _, boxes, _ = render(make_labels(1, product_name=LONG_NAME), LAYOUTS["roll-40x25"])
    assert not all(inside(box.box, box.cell) for box in boxes)


def darkest_near(image: Image.Image, x_pt: float, y_pt: float, radius: int = 2) -> int:
    px, py = round(x_pt * DPI / 72), round(image.height - y_pt * DPI / 72)
    window = image.crop((max(px - radius, 0), max(py - radius, 0),
                         min(px + radius + 1, image.width), min(py + radius + 1, image.height)))
    return window.getextrema()[0]


@pytest.mark.parametrize("name", ["a4-3x8", "a4-5x13", "roll-40x25"])
def test_calibration_outlines_every_cell(name):
    layout = LAYOUTS[name]
    plain, _, _ = render([], layout)
    outlined, _, pages = render([], layout, calibration=True)
    assert pages == 1
    bare, lined = raster(plain[0]), raster(outlined[0])
    for x0, y0, x1, y1 in cells_pt(layout):
        midpoints = [((x0 + x1) / 2, y0 + 0.15), ((x0 + x1) / 2, y1 - 0.15),
                     (x0 + 0.15, (y0 + y1) / 2), (x1 - 0.15, (y0 + y1) / 2)]
        for x, y in midpoints:
            assert darkest_near(bare, x, y) == 255
            assert darkest_near(lined, x, y) < 200
    # With labels, every page gets the outlines too.
    count = layout.per_page + 1
    pdf, _, _ = render(make_labels(count), layout, calibration=True)
    last = raster(pdf[len(pdf) - 1])
    x0, y0, x1, y1 = cells_pt(layout)[-1]
    assert darkest_near(last, (x0 + x1) / 2, y0 + 0.15) < 200


def test_labels_are_consumed_a_page_at_a_time():
    layout = LAYOUTS["a4-3x8"]
    consumed = 0
    seen_on_page: dict[int, int] = {}

    def labels():
        nonlocal consumed
        for label in make_labels(layout.per_page * 3):
            consumed += 1
            yield label

    def hook(box: TextBox):
        seen_on_page.setdefault(box.page, consumed)

    pages = render_label_sheet(labels(), layout, io.BytesIO(), on_text=hook)
    assert pages == 3
    assert seen_on_page == {1: 24, 2: 48, 3: 72}


def test_layouts_are_data_that_fit_their_pages():
    assert set(LAYOUTS) == {"a4-3x8", "a4-5x13", "roll-50x30", "roll-40x25"}
    for layout in LAYOUTS.values():
        right = layout.page_width - (layout.margin_left + layout.columns * layout.label_width
                                     + (layout.columns - 1) * layout.gap_x)
        bottom = layout.page_height - (layout.margin_top + layout.rows * layout.label_height
                                       + (layout.rows - 1) * layout.gap_y)
        assert right == pytest.approx(layout.margin_left)      # centred on the page
        assert bottom == pytest.approx(layout.margin_top)
    for layout in LAYOUTS.values():   # office printers cannot print an A4 page's outer 3–5 mm
        assert layout.safe_margin == (4 if layout.name.startswith("a4-") else 0)
    assert LAYOUTS["a4-3x8"].edge_inset() == pytest.approx((4, 3.5))   # into the outer labels
    assert LAYOUTS["a4-5x13"].edge_inset() == (0, 0)                    # already inside it
    a4 = LAYOUTS["a4-3x8"]
    assert (a4.page_width, a4.page_height, a4.label_width, a4.label_height) == (210, 297, 70, 37)
    assert a4.per_page == 24 and a4.margin_top == pytest.approx(0.5)
    assert LAYOUTS["a4-5x13"].per_page == 65 and LAYOUTS["a4-5x13"].label_height == 21.2
    for name, size in (("roll-50x30", (50, 30)), ("roll-40x25", (40, 25))):
        roll = LAYOUTS[name]
        assert (roll.page_width, roll.page_height) == size == (roll.label_width, roll.label_height)
        assert roll.per_page == 1
    with pytest.raises(UnknownLayout, match="a4-3x8"):
        get_layout("a4-2x7")
    with pytest.raises(ValueError):
        Layout("too-big", 210, 297, 71, 37, 3, 8)


def test_short_uppercase_url_is_small_qr_at_m():
    url = "HTTP://TRUYXUAT.OCOP.VN:8080/S/" + new_serial()
    url = url.ljust(50, "0")[:50] if len(url) < 50 else url[:50]
    assert len(url) == 50 and url == url.upper()
    size, rows = qr_matrix(url)
    assert size <= 29                                  # version ≤ 3
    assert len(rows) == size and all(len(row) == size for row in rows)
    assert rows[0][:7] == [True] * 7                   # finder pattern, no quiet zone
    runs_size, runs = qr_runs(url)
    dark = {(r, c + k) for r, c, n in runs for k in range(n)}
    assert dark == {(r, c) for r in range(size) for c in range(size) if rows[r][c]}


def test_png_decodes_to_the_url():
    url = BASE + new_serial()
    image = Image.open(io.BytesIO(qr_png(url, scale=6)))
    size, _ = qr_matrix(url)
    assert image.size == ((size + 2 * QUIET_ZONE) * 6,) * 2
    assert image.convert("L").getpixel((0, 0)) == 255
    (barcode,) = zxingcpp.read_barcodes(image)
    assert barcode.text == url and barcode.ec_level == "M"


def test_svg_decodes_to_the_url():
    url = BASE + new_serial()
    svg = qr_svg(url, module_mm=0.5)
    full = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    assert f'width="{full * 0.5:g}mm"' in svg
    scale = 6
    image = Image.new("L", (full * scale, full * scale), 255)
    draw = ImageDraw.Draw(image)
    path = re.search(r' d="([^"]*)"', svg).group(1)
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", path):
        x, y, w = int(x), int(y), int(w)
        draw.rectangle((x * scale, y * scale, (x + w) * scale - 1, (y + 1) * scale - 1), fill=0)
    (barcode,) = zxingcpp.read_barcodes(image)
    assert barcode.text == url
