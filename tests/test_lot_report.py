"""The lot report: one step back (inputs, receipts), one step forward (shipments, stamp runs),
as rows, CSV (UTF-8 with BOM) and XLSX."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import event, update

from marketplace.models import Stamp
from marketplace.stamps.service import activate_run, issue_run, void_stamps
from marketplace.trace import service
from marketplace.trace.report import BOM, COLUMNS, lot_report_rows, write_csv, write_xlsx
from tests.conftest import listed

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _at(day: int, hour: int = 8) -> dt.datetime:
    return dt.datetime(2025, 6, day, hour, 30, tzinfo=VN)


def make_report_batch(db, world):
    s = db.session
    user = world.users["producer_a"]
    batch = service.create_batch(s, listed(world.product_a), lot_code="DT-2025-02", quantity=Decimal("1000.000"),
                                 unit="kg", production_date=dt.date(2025, 6, 20), growing_area="Thửa 12",
                                 user=user)
    s.flush()
    add = lambda kind, day, **kw: service.append_event(s, batch, kind=kind, occurred_at=_at(day), user=user, **kw)  # noqa: E731
    seeding = add("seeding", 1, details={"input_name": "Giống nếp cái hoa vàng", "supplier": "Trạm giống Thanh Hóa"})
    wrong = add("input", 5, details={"input_name": "Phân NPK 16-16-8", "input_quantity": "20 kg",
                                     "input_lot": "NPK-2405", "supplier": "Đại lý vật tư Hòa Bình"})
    add("care", 8, description="Làm cỏ")  # neither back nor forward: not in the report
    add("input", 12, details={"input_name": "Thuốc trừ sâu sinh học", "input_quantity": "2 l",
                              "input_lot": "BIO-77", "supplier": "Công ty Nông Xanh", "document_no": "HD-1189"})
    add("receiving", 21, details={"counterpart": "Hộ Lê Văn C", "document_no": "PN-0007"}, place="Kho HTX")
    add("shipping", 24, details={"counterpart": "Siêu thị Đồng Tiến", "document_no": "PX-0042"})
    add("shipping", 23, details={"counterpart": "Bếp ăn trường Tiểu học", "document_no": "PX-0041"})
    s.flush()
    add("input", 5, corrects=wrong, details={"input_name": "Phân NPK 16-16-8", "input_quantity": "25 kg",
                                             "input_lot": "NPK-2405", "supplier": "Đại lý vật tư Hòa Bình"})
    run1 = issue_run(s, batch, 30, user=user)
    run2 = issue_run(s, batch, 20, user=user)
    s.flush()
    activate_run(s, run1)
    assert void_stamps(s, run1, first=5, last=9) == 5
    assert void_stamps(s, run2, first=1, last=3) == 3
    s.execute(update(Stamp).where(Stamp.run_id == run1.id, Stamp.position <= 2).values(scan_count=3))
    s.commit()
    return batch, run1, run2, seeding


def _by_section(header, rows):
    out = {}
    for row in rows:
        record = dict(zip(header, row))
        out.setdefault(record["section"], []).append(record)
    return out


def test_rows_cover_one_step_back_and_forward(app, db, world):
    batch, run1, run2, seeding = make_report_batch(db, world)
    header, rows = lot_report_rows(db.session, batch)
    assert header == list(COLUMNS) and header[:2] == ["section", "date"]
    assert all(len(row) == len(header) for row in rows)
    sections = _by_section(header, rows)
    assert [r[0] for r in rows] == ["lot"] + ["input"] * 3 + ["receiving"] + ["shipping"] * 2 + ["stamp_run"] * 2

    (lot,) = sections["lot"]
    assert (lot["item"], lot["quantity"], lot["lot"], lot["status"]) == (world.product_a.name, "1000 kg", "DT-2025-02", "open")
    assert lot["date"] == dt.datetime(2025, 6, 20)

    inputs = sections["input"]
    # seeding names its seed and shop, so it counts as an input; the wrong input is replaced
    # by its correction; sorted by date
    assert [(r["kind"], r["item"], r["quantity"], r["lot"], r["counterpart"]) for r in inputs] == [
        ("seeding", "Giống nếp cái hoa vàng", None, None, "Trạm giống Thanh Hóa"),
        ("input", "Phân NPK 16-16-8", "25 kg", "NPK-2405", "Đại lý vật tư Hòa Bình"),
        ("input", "Thuốc trừ sâu sinh học", "2 l", "BIO-77", "Công ty Nông Xanh"),
    ]
    assert inputs[0]["date"] == dt.datetime(2025, 6, 1, 8, 30)  # local time, naive for Excel
    assert inputs[1]["corrects_seq"] == 2 and inputs[1]["diary_seq"] == 8
    assert inputs[2]["document_no"] == "HD-1189"

    (receiving,) = sections["receiving"]
    assert (receiving["counterpart"], receiving["document_no"], receiving["place"]) == ("Hộ Lê Văn C", "PN-0007", "Kho HTX")
    assert [(r["counterpart"], r["document_no"], r["date"]) for r in sections["shipping"]] == [
        ("Bếp ăn trường Tiểu học", "PX-0041", dt.datetime(2025, 6, 23, 8, 30)),
        ("Siêu thị Đồng Tiến", "PX-0042", dt.datetime(2025, 6, 24, 8, 30)),
    ]

    runs = sections["stamp_run"]
    assert [(r["stamp_run"], r["count"], r["status"], r["issued"], r["active"], r["void"], r["scanned"]) for r in runs] == [
        (run1.id, 30, "active", 0, 25, 5, 2),
        (run2.id, 20, "issued", 17, 0, 3, 0),
    ]
    assert all(isinstance(r["date"], dt.datetime) and r["date"].tzinfo is None for r in runs)


def test_csv_has_bom_and_round_trips(app, db, world):
    batch, *_ = make_report_batch(db, world)
    header, rows = lot_report_rows(db.session, batch)
    out = io.BytesIO()
    write_csv(header, rows, out)
    data = out.getvalue()
    assert data.startswith(BOM) and data.startswith(b"\xef\xbb\xbf")
    assert not out.closed
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert parsed[0] == header
    assert len(parsed) == len(rows) + 1
    expected = [["" if v is None else v.strftime("%Y-%m-%d %H:%M") if isinstance(v, dt.datetime) else str(v)
                 for v in row] for row in rows]
    assert parsed[1:] == expected
    assert "Đại lý vật tư Hòa Bình" in data.decode("utf-8-sig")


def test_csv_and_xlsx_neutralise_formulas(app, db, world):
    header = ["section", "date", "item"]
    rows = [["input", dt.datetime(2025, 6, 1, 8, 30), "=HYPERLINK(\"http://evil\",\"x\")"],
            ["input", None, "@SUM(1)\x07"]]
    out = io.BytesIO()
    write_csv(header, rows, out)
    parsed = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"), newline="")))
    assert parsed[1][2].startswith("'=") and parsed[2][2].startswith("'@")

    from openpyxl import load_workbook

    out = io.BytesIO()
    write_xlsx(header, rows, out)
    ws = load_workbook(io.BytesIO(out.getvalue())).active
    assert ws["C2"].data_type == "s" and ws["C2"].value.startswith("=HYPERLINK")
    assert ws["C3"].value == "@SUM(1)"  # control character dropped, not an error


def test_xlsx_layout(app, db, world):
    from openpyxl import load_workbook

    batch, *_ = make_report_batch(db, world)
    header, rows = lot_report_rows(db.session, batch)
    out = io.BytesIO()
    write_xlsx(header, rows, out, labels={"section": "Mục", "date": "Ngày"}, title="Lô DT-2025-02")
    wb = load_workbook(io.BytesIO(out.getvalue()))
    ws = wb.active
    assert ws.title == "Lô DT-2025-02"
    assert [c.value for c in ws[1]] == ["Mục", "Ngày"] + header[2:]
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:S{len(rows) + 1}"
    assert ws.max_row == len(rows) + 1
    dates = [ws.cell(row=i, column=2).value for i in range(2, ws.max_row + 1)]
    assert all(isinstance(d, dt.datetime) for d in dates)
    assert ws.cell(row=2, column=2).is_date and ws.cell(row=2, column=2).number_format == "yyyy-mm-dd hh:mm"
    assert [ws.cell(row=i, column=1).value for i in range(2, ws.max_row + 1)] == [r[0] for r in rows]
    assert ws.column_dimensions["D"].width > ws.column_dimensions["A"].width >= 8
    last = ws.max_row
    assert ws.cell(row=last, column=header.index("void") + 1).value == 3  # numbers stay numbers


def test_large_run_uses_aggregate_queries(app, db, world):
    """100,000 stamps: the report runs a fixed number of queries and takes well under a second."""
    batch = service.create_batch(db.session, listed(world.product_a), lot_code="BIG-1", quantity=Decimal("5000"),
                                 unit="bag", production_date=dt.date(2025, 6, 1))
    db.session.flush()
    issue_run(db.session, batch, 100_000)
    issue_run(db.session, batch, 10)
    db.session.commit()

    statements = []
    engine = db.engine

    def count(*args):
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        header, rows = lot_report_rows(db.session, batch)
        elapsed = time.perf_counter() - started
    finally:
        event.remove(engine, "before_cursor_execute", count)
    runs = [dict(zip(header, r)) for r in rows if r[0] == "stamp_run"]
    assert [(r["count"], r["issued"]) for r in runs] == [(100_000, 100_000), (10, 10)]
    stamp_queries = [q for q in statements if re.search(r"FROM stamp\b", q)]
    assert len(stamp_queries) == 1 and "GROUP BY" in stamp_queries[0]  # never a row per stamp
    assert len(statements) <= 10, statements  # (plus reloading the expired batch and product)
    assert elapsed < 5, elapsed  # generous: measured well under 0.5 s on SQLite and PostgreSQL
