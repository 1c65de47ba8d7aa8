"""Issue 20, point 1, in Chromium on a 360 px phone, on `make run`'s demo data: a household's
owner sets the account buyers pay into (and sees the change noticed on her dashboard); a
buyer opens one of her products, chooses a quantity in the plain GET form, and the QR on the
screen (a screenshot of it, not the page's source) reads back with zxing-cpp as the NAPAS
payload of that amount.  Each page passes the journeys' width and axe-core checks.

Skipped with a visible reason where Chromium or Playwright is missing.
"""
from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from marketplace import vietqr
from marketplace.extensions import db as _db
from marketplace.models import BankAccount, Producer, Product
from tests.test_journeys_360 import HOUSEHOLD, demo  # noqa: F401  (the demo world and its phones)


@pytest.mark.browser
def test_a_buyer_pays_a_household_by_vietqr(demo):  # noqa: F811
    owner, expect = demo.walk("vietqr-owner"), demo.expect
    owner.login(HOUSEHOLD)
    page = owner.go("/dashboard/bank", "bank-account")
    page.get_by_label("Ngân hàng").select_option("970436")
    page.get_by_label("Số tài khoản").fill("0071 000 654 321")
    page.get_by_label("Chủ tài khoản").fill("Lê Thị Mai")
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.locator("#current-account")).to_contain_text("LE THI MAI")
    owner.check("bank-account-saved")
    page = owner.go("/dashboard/", "dashboard-notice")
    expect(page.locator("#bank-notice")).to_contain_text("0071000654321")

    with demo.app.app_context():
        producer = _db.session.scalars(select(Producer).where(Producer.slug == "ho-le-thi-mai")).one()
        account = _db.session.get(BankAccount, producer.id)
        assert (account.bank_bin, account.account_number) == ("970436", "0071000654321")
        product = _db.session.scalars(select(Product).where(Product.producer_id == producer.id,
                                                            Product.status == "published", Product.stock >= 2)
                                      .order_by(Product.id)).first()
        assert product is not None, "the demo household has a product in stock"
        slug, product_id, price = product.slug, product.id, product.price_vnd
        _db.session.remove()

    buyer = demo.walk("vietqr-buyer")
    page = buyer.go(f"/p/{slug}", "product")
    expect(page.get_by_role("heading", name="Thanh toán chuyển khoản (VietQR)")).to_be_visible()
    page.get_by_label(re.compile(r"^Số lượng")).fill("2")
    page.get_by_role("button", name="Tạo mã QR").click()
    expect(page).to_have_url(re.compile(r"qty=2"))
    buyer.check("product-qty-2")
    expect(page.locator(".amount-words")).to_be_visible()
    shot = Image.open(io.BytesIO(page.locator(".vietqr-code").screenshot()))
    found = zxingcpp.read_barcodes(shot)
    assert len(found) == 1, "the QR on the screen reads"
    assert found[0].text == vietqr.payload("970436", "0071000654321", price * 2, f"OCOP{product_id} SL2")
    box = page.locator(".vietqr-code").bounding_box()
    assert box["width"] >= 200 and box["x"] + box["width"] <= 360  # big enough to scan, on the screen
