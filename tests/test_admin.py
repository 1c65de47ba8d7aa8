"""Officer decisions on producers: approve, reject, suspend (with a reason), and their effect."""
from __future__ import annotations

import lxml.html
import pytest

from tests.conftest import login, make_product


def test_suspending_a_producer_needs_a_reason_and_hides_its_products(app, world, db):
    visitor = app.test_client()
    assert world.published_a.name in visitor.get("/").get_data(as_text=True)
    officer = app.test_client()
    login(officer, "officer@example.vn")

    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "suspend", "note": ""})
    assert r.status_code == 200
    assert "Hãy ghi lý do" in r.get_data(as_text=True)
    db.session.expire_all()
    assert world.a.status == "approved"

    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "suspend", "note": "Giấy ATTP hết hạn"})
    assert r.status_code == 302
    db.session.expire_all()
    assert world.a.status == "suspended" and world.a.review_note == "Giấy ATTP hết hạn"
    assert world.published_a.name not in visitor.get("/").get_data(as_text=True)
    assert visitor.get(f"/p/{world.published_a.slug}").status_code == 404
    assert visitor.get(f"/producers/{world.a.slug}").status_code == 404

    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "approve", "note": ""})
    assert r.status_code == 302
    assert visitor.get(f"/p/{world.published_a.slug}").status_code == 200


def test_unknown_decision_is_a_form_error(app, world, db):
    officer = app.test_client()
    login(officer, "officer@example.vn")
    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "delete", "note": "x"})
    assert r.status_code == 200
    assert "Lựa chọn không hợp lệ" in r.get_data(as_text=True)
    r = officer.post(f"/admin/products/{world.product_a.id}", data={"decision": "suspend", "note": "x"})
    assert r.status_code == 200  # products have no "suspend"


def _pending(db, product):
    from marketplace.catalogue.service import submit_product

    submit_product(product)
    db.session.commit()
    return product


def _flashes(response) -> list[str]:
    return [p.text_content().strip() for p in lxml.html.fromstring(response.get_data(as_text=True)).cssselect(".flash")]


def test_a_decision_is_never_chosen_beforehand(app, world, db):
    """Issue 17: the decision forms start with nothing chosen; sending one without a choice
    is a clear form error and changes nothing."""
    product = _pending(db, world.product_b)
    world.b.status = "pending"
    db.session.commit()
    officer = app.test_client()
    login(officer, "officer@example.vn")
    for url, message in ((f"/admin/products/{product.id}", "Hãy chọn duyệt hay từ chối."),
                         (f"/admin/producers/{world.b.id}", "Hãy chọn duyệt, từ chối hoặc tạm ngừng.")):
        radios = lxml.html.fromstring(officer.get(url).get_data(as_text=True)).cssselect('input[name="decision"]')
        assert len(radios) >= 2 and all(r.get("type") == "radio" and r.get("checked") is None for r in radios)
        r = officer.post(url, data={"note": "Đủ hồ sơ"})
        assert r.status_code == 200 and message in r.get_data(as_text=True)
        assert 'aria-describedby="decision-error"' in r.get_data(as_text=True)
        assert officer.post(url, data={"decision": "", "note": ""}).status_code == 200
    db.session.expire_all()
    assert product.status == "pending" and world.b.status == "pending"


def test_decision_messages_name_the_product_and_the_outcome(app, world, db):
    officer = app.test_client()
    login(officer, "officer@example.vn")
    honey = _pending(db, world.product_b)
    r = officer.post(f"/admin/products/{honey.id}", data={"decision": "approve"}, follow_redirects=True)
    assert "Đã duyệt sản phẩm «Mật ong hoa vải»: sản phẩm hiện công khai." in _flashes(r)
    rice = _pending(db, world.product_a)
    r = officer.post(f"/admin/products/{rice.id}", data={"decision": "reject", "note": "Thiếu ảnh nhãn"},
                     follow_redirects=True)
    assert any(f.startswith("Đã từ chối sản phẩm «Gạo nếp cái hoa vàng»:") for f in _flashes(r))
    # Approved while its producer is not: the officer is told it is not public yet.
    world.a.status = "pending"
    db.session.commit()
    pickle = _pending(db, make_product(db.session, world.a, "Dưa muối"))
    r = officer.post(f"/admin/products/{pickle.id}", data={"decision": "approve"}, follow_redirects=True)
    assert any(f.startswith("Đã duyệt sản phẩm «Dưa muối», nhưng sản phẩm chưa hiện công khai") for f in _flashes(r))
    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "approve"}, follow_redirects=True)
    assert any(f.startswith("Đã duyệt chủ thể «Hộ Trịnh Văn A»:") for f in _flashes(r))
    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "suspend", "note": "Hết hạn ATTP"},
                     follow_redirects=True)
    assert any(f.startswith("Đã tạm ngừng chủ thể «Hộ Trịnh Văn A»:") for f in _flashes(r))
    assert not any("Đã cập nhật trạng thái" in f for f in _flashes(r))


def test_only_officers_decide(app, world, db):
    product = _pending(db, world.product_b)
    for email in ("b@example.vn", "coop@example.vn"):
        client = app.test_client()
        login(client, email)
        assert client.post(f"/admin/products/{product.id}", data={"decision": "approve"}).status_code == 403
        r = client.post(f"/admin/producers/{world.b.id}", data={"decision": "suspend", "note": "x"})
        assert r.status_code == 403
    db.session.expire_all()
    assert product.status == "pending" and world.b.status == "approved"


def test_producer_sees_why_it_was_suspended(app, world, db):
    world.a.status, world.a.review_note = "suspended", "Giấy ATTP hết hạn"
    db.session.commit()
    client = app.test_client()
    login(client, "a@example.vn")
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "tạm ngừng" in page and "Giấy ATTP hết hạn" in page


PROFILE = {"representative": "Trịnh Văn A", "phone": "0912345678", "province_code": "38", "ward_code": "15724",
           "kind": "cooperative", "name": "HTX Giả Mạo", "tax_code": "0300588569", "description": "Mới"}


def test_approved_identity_is_locked_for_the_producer(app, world, db):
    client = app.test_client()
    login(client, "a@example.vn")
    page = client.get(f"/dashboard/producers/{world.a.id}").get_data(as_text=True)
    assert 'name="name"' not in page and "liên hệ cán bộ huyện" in page
    r = client.post(f"/dashboard/producers/{world.a.id}", data=PROFILE)
    assert r.status_code == 302
    db.session.expire_all()
    assert (world.a.kind, world.a.name, world.a.tax_code) == ("household", "Hộ Trịnh Văn A", "")
    assert world.a.description == "Mới"  # the rest is the producer's to edit


def test_rejected_producer_fixes_its_profile_and_goes_back_to_review(app, world, db):
    world.b.status, world.b.review_note = "rejected", "Sai mã số thuế"
    db.session.commit()
    client = app.test_client()
    login(client, "b@example.vn")
    r = client.post(f"/dashboard/producers/{world.b.id}", data=dict(PROFILE, kind="household", name="Hộ Lê Thị B"))
    assert r.status_code == 302
    db.session.expire_all()
    assert world.b.status == "pending" and world.b.tax_code == "0300588569"


def test_admin_resets_a_forgotten_password(app, world, db):
    import re

    farmer = app.test_client()
    login(farmer, "b@example.vn")
    admin = app.test_client()
    login(admin, "admin@example.vn")
    r = admin.post(f"/admin/users/{world.users['producer_b'].id}/password")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    temporary = re.search(r"<code>([^<]+)</code>", r.get_data(as_text=True)).group(1)
    assert farmer.get("/dashboard/").status_code == 302  # old sessions ended
    login(app.test_client(), "b@example.vn", temporary)
    officer = app.test_client()
    login(officer, "officer@example.vn")
    assert officer.post(f"/admin/users/{world.users['producer_b'].id}/password").status_code == 403


def test_locked_account_is_told_so_after_the_right_password(app, world, db):
    from tests.conftest import TEST_PASSWORD

    world.users["producer_b"].active = False
    db.session.commit()
    r = app.test_client().post("/account/login", data={"email": "b@example.vn", "password": TEST_PASSWORD})
    assert r.status_code == 200 and "đã bị khóa" in r.get_data(as_text=True)
    r = app.test_client().post("/account/login", data={"email": "b@example.vn", "password": "wrong-one"})
    assert "đã bị khóa" not in r.get_data(as_text=True)


def test_ocop_decision_dates_out_of_range_are_form_errors(app, world, db):
    officer = app.test_client()
    login(officer, "officer@example.vn")
    for date in ("9999-01-01", "2010-05-05"):
        r = officer.post(f"/admin/products/{world.published_a.id}/ocop", data={
            "stars": "3", "decision_no": "1/QĐ", "decision_date": date, "issuer_level": "provincial",
            "issuer_name": "UBND tỉnh Thanh Hóa"})
        assert r.status_code == 422
        assert "từ năm 2018" in r.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/dashboard/products/99999999999999999999", "/admin/products/99999999999999999999",
                                 "/admin/ocop/99999999999999999999/revoke"])
def test_huge_ids_are_not_found(app, world, url):
    client = app.test_client()
    login(client, "admin@example.vn" if url.startswith("/admin") else "a@example.vn")
    r = client.open(url, method="POST" if url.endswith("revoke") else "GET")
    assert r.status_code == 404


def test_price_with_decimals_is_refused_not_misread(app, world, db):
    client = app.test_client()
    login(client, "a@example.vn")
    for price in ("120.000,00", "120,5"):
        r = client.post(f"/dashboard/products/{world.product_a.id}/edit", data={
            "name": world.product_a.name, "group_id": str(world.product_a.group_id), "net_quantity": "1",
            "unit": "kg", "price_vnd": price, "stock": "1"})
        assert r.status_code == 200 and "số đồng nguyên" in r.get_data(as_text=True)
    db.session.expire_all()
    assert world.product_a.price_vnd == 120000
