"""The formula guard where a person opens the file (issue 16, point 7).

Seen before: every CSV feed (machine data) prefixed values starting with ``= + - @`` with
``'``, while the print-shop CSV of a stamp run, which a print shop opens in Excel, wrote
``=HYPERLINK(…)`` raw from a product name.  Now the files people open are guarded
(``text.spreadsheet_text``): the print-shop CSV here, lot reports and officers' exports
(tests/test_lot_report.py, tests/test_audit.py); feeds carry values verbatim
(tests/test_feeds.py); XLSX cells stay text (tests/test_lot_report.py, tests/test_feeds.py).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from marketplace.stamps.service import issue_run
from marketplace.text import spreadsheet_text
from marketplace.trace.service import create_batch
from tests.conftest import signed_in

EVIL = '=HYPERLINK("http://evil.example","Bấm vào đây")'


def test_spreadsheet_text():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert spreadsheet_text(start + "1") == "'" + start + "1"
    assert spreadsheet_text("Mật ong") == "Mật ong" and spreadsheet_text("") == ""


def test_the_print_shops_csv_shows_a_formula_as_text(world, app, db):
    product = world.published_a
    product.name = EVIL
    batch = create_batch(db.session, product, lot_code="-L1", quantity=Decimal(10), unit="kg",
                         production_date=dt.date(2025, 10, 1))
    db.session.flush()
    run = issue_run(db.session, batch, 3)
    db.session.commit()
    response = signed_in(app, "a@example.vn").get(f"/dashboard/runs/{run.id}/stamps.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 3
    assert {row["product"] for row in rows} == {"'" + EVIL}
    assert {row["lot"] for row in rows} == {"'-L1"}
    assert all(row["url"].lower().startswith("http") and not row["serial"].startswith("'") for row in rows)
