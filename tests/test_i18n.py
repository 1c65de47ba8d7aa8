"""Vietnamese by default, English complete."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "marketplace" / "translations" / "en" / "LC_MESSAGES" / "messages.po"


def test_english_catalogue_is_complete_and_current(tmp_path):
    """Every string in the code and templates has an English translation (no fuzzy, none
    empty, placeholders kept).  Extracting anew finds nothing the catalogue lacks."""
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "lazy_gettext", "-o", str(pot), "."], cwd=ROOT, check=True,
                   capture_output=True)
    template = read_po(pot.open("rb"))
    catalogue = read_po(PO.open("rb"))
    missing = [m.id for m in template if m.id and m.id not in catalogue]
    assert not missing, f"strings not in the English catalogue (run make extract-messages): {missing[:10]}"
    problems = []
    for m in catalogue:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        if m.fuzzy or not all(strings):
            problems.append(m.id)
        placeholders = sorted(re.findall(r"%\(\w+\)[sd]", ids[0]))
        if any(sorted(re.findall(r"%\(\w+\)[sd]", s)) != placeholders for s in strings):
            problems.append(m.id)
    assert not problems, problems[:10]


def test_vietnamese_is_the_default(client, world):
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="vi">' in page
    assert "Tìm sản phẩm" in page


def test_accept_language_english(client, world):
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Tìm sản phẩm" not in page


def test_switch_to_english_and_back(client, world):
    r = client.get("/lang/en?next=/p/" + world.published_a.slug)
    assert r.status_code == 302 and r.headers["Location"] == "/p/" + world.published_a.slug
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "₫120,000" in page  # English number format for đồng
    client.get("/lang/vi")
    page = client.get("/p/" + world.published_a.slug).get_data(as_text=True)
    assert '<html lang="vi">' in page and "120.000\xa0₫" in page


def test_dashboard_and_admin_in_english_have_no_vietnamese_ui_text(app, world, db):
    """Pages render in English without leftover Vietnamese labels (data stays as entered)."""
    vietnamese = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
    from tests.test_routes_matrix import add_trace

    add_trace(db.session, world)
    pages = {"a@example.vn": ["/dashboard/", "/dashboard/products/new", f"/dashboard/products/{world.product_a.id}",
                              "/dashboard/certifications", "/account/", "/account/password", "/dashboard/team",
                              "/dashboard/batches", "/dashboard/batches/new", f"/dashboard/batches/{world.batch_a.id}",
                              f"/dashboard/runs/{world.run_a.id}"],
             "admin@example.vn": ["/admin/", "/admin/producers", "/admin/products", f"/admin/products/{world.product_a.id}",
                                  "/admin/certifications", "/admin/users"]}
    names = [world.a.name, world.b.name, world.coop.name, world.product_a.name, world.product_b.name,
             world.published_a.name]
    for email, urls in pages.items():
        client = app.test_client()
        client.set_cookie("lang", "en")
        login(client, email)
        for url in urls:
            html = client.get(url).get_data(as_text=True)
            assert '<html lang="en">' in html
            text = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
            text = re.sub(r"<[^>]+>", " ", text)
            for name in names:
                text = text.replace(name, "")
            # place names, OCOP group data and the language switch label are data, not UI text
            text = re.sub(r"(Xã|Phường|Đặc khu) [^,<\n]+|Thanh Hóa|Tiếng Việt|Triệu Sơn|Người Đại Diện", "", text)
            leftovers = [w for w in text.split() if vietnamese.search(w)]
            assert not leftovers, (url, leftovers[:10])


def test_form_validation_messages_follow_the_language(app, world):
    """WTForms has no Vietnamese catalogue: ours must translate its built-in messages."""
    vi = app.test_client().post("/account/login", data={"email": "", "password": ""}).get_data(as_text=True)
    assert "Vui lòng điền mục này." in vi and "This field is required." not in vi
    en = app.test_client().post("/account/login", data={"email": "", "password": ""},
                                headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "This field is required." in en


def test_vietnamese_wtforms_catalogue_is_complete():
    from wtforms.i18n import messages_path

    template = read_po((Path(messages_path()) / "wtforms.pot").open("rb"))
    ours = read_po((ROOT / "marketplace/translations/vi/LC_MESSAGES/wtforms.po").open("rb"))
    for m in template:
        if m.id:
            assert m.id in ours and all(ours[m.id].string if isinstance(ours[m.id].string, tuple)
                                        else [ours[m.id].string]), m.id
