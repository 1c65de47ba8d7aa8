"""VietQR on product pages (issue 20, point 1): the NAPAS payload, byte for byte against
published examples of three banks; every QR a page shows read back by zxing-cpp and by an
independent VietQR decoder (vietnam-qr-pay, in node); the producer's account, its audit and
its notice; refusals of bad input; who may set it."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from marketplace import vietqr
from marketplace.catalogue import payments
from marketplace.models import AuditEntry, BankAccount
from tests.conftest import make_user, signed_in

READER = Path(__file__).parent / "vietqr_reader"

# Published VietQR payloads (each made by its own author's encoder, CRC included):
# vietnam-qr-pay's README (ACB 970416: static; dynamic of 10,000 and 1,000 đồng; 999,999 đồng),
# subiz/vietqr's README (VietinBank 970415, 120,000 đồng, "ung ho lu lut") and vietnam-qr-pay's
# README again (BVBank 970454: ZaloPay's static code of a wallet account).
PUBLISHED = [
    (("970416", "257678859", None, ""),
     "00020101021138530010A0000007270123000697041601092576788590208QRIBFTTA53037045802VN6304AE9F"),
    (("970416", "257678859", 10000, "Chuyen tien"),
     "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA53037045405100005802VN"
     "62150811Chuyen tien630453E6"),
    (("970416", "257678859", 1000, "Chuyen tien"),
     "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA5303704540410005802VN"
     "62150811Chuyen tien6304BBB8"),
    (("970416", "257678859", 999999, "Cam on nhe"),
     "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA530370454069999995802VN"
     "62140810Cam on nhe6304E786"),
    (("970415", "0011001932418", 120000, "ung ho lu lut"),
     "00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA530370454061200005802VN"
     "62170813ung ho lu lut6304C15C"),
    (("970454", "99ZP24009M07248267", None, ""),
     "00020101021138620010A00000072701320006970454011899ZP24009M072482670208QRIBFTTA53037045802VN6304073C"),
]


@pytest.mark.parametrize("args, expected", PUBLISHED)
def test_payloads_match_published_examples_byte_for_byte(args, expected):
    assert vietqr.payload(*args) == expected


def test_the_published_examples_cover_three_banks():
    assert {args[0] for args, _ in PUBLISHED} == {"970416", "970415", "970454"}


def read_independently(payloads: list[str]) -> list[dict]:
    """vietnam-qr-pay's reading of each payload (its own TLV parser and CRC check)."""
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the independent VietQR decoder cannot run here")
    if not (READER / "node_modules" / "vietnam-qr-pay").exists():
        pytest.skip("vietnam-qr-pay is not installed: run `npm ci --prefix tests/vietqr_reader` (.ci/run does)")
    done = subprocess.run(["node", "read.mjs"], input="\n".join(payloads) + "\n", capture_output=True, text=True,
                          cwd=READER, timeout=60)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_an_independent_decoder_reads_every_field_and_checks_the_crc():
    made = [vietqr.payload("970436", "0071000123456", 250000, "OCOP12 SL2"),
            vietqr.payload("970405", "3300205123456", 500_000_000, "OCOP7 SL999"),
            vietqr.payload("970422", "0912345678", None, "")]
    found = read_independently(made + [made[0][:-1] + ("0" if made[0][-1] != "0" else "1")])
    assert found[0] == {"valid": True, "provider": "VIETQR", "guid": "A000000727", "service": "QRIBFTTA",
                        "bin": "970436", "account": "0071000123456", "amount": "250000", "currency": "704",
                        "nation": "VN", "purpose": "OCOP12 SL2", "initiation": "12"}
    assert found[1]["valid"] and found[1]["amount"] == "500000000" and found[1]["bin"] == "970405"
    assert found[2]["valid"] and found[2]["amount"] is None and found[2]["initiation"] == "11"
    assert found[3]["valid"] is False  # a wrong CRC is refused by the reader


@pytest.mark.parametrize("call, field, code", [
    (lambda: vietqr.payload("123456", "0071000123456", 1000), "bank_bin", "unknown"),
    (lambda: vietqr.payload("970436", "0071-0001", 1000), "account_number", "invalid"),
    (lambda: vietqr.payload("970436", "0071000123456", 500_000_001), "amount", "over_limit"),
    (lambda: vietqr.payload("970436", "0071000123456", 0), "amount", "not_positive"),
    (lambda: vietqr.account_number("0071 000 12A"), "account_number", "digits"),
    (lambda: vietqr.account_number("1" * 20), "account_number", "too_long"),
    (lambda: vietqr.account_number("  "), "account_number", "required"),
    (lambda: vietqr.holder_name(""), "account_name", "required"),
])
def test_bad_input_is_refused_naming_its_field(call, field, code):
    with pytest.raises(vietqr.VietQRError) as refused:
        call()
    assert (refused.value.field, refused.value.code) == (field, code)


def test_typed_forms_are_normalised():
    assert vietqr.account_number(" 0071 000.123 456 ") == "0071000123456"
    assert vietqr.holder_name("  Nguyễn Thị  Hoa ") == "NGUYEN THI HOA"
    assert vietqr.holder_name("Đặng Văn Đức") == "DANG VAN DUC"
    assert vietqr.transfer_note("Gạo nếp #12, SL: 3 — giao gấp!") == "Gao nep 12 SL 3 giao gap"


def test_the_bank_list_is_data_with_its_source_and_date():
    banks = vietqr.banks()
    assert len(banks) >= 40 and len({b.bin for b in banks}) == len(banks)
    assert all(re.fullmatch(r"9704\d\d", b.bin) for b in banks)
    assert vietqr.bank("970436").short_name == "Vietcombank" and vietqr.bank("970405").short_name == "Agribank"
    source, retrieved = vietqr.source()
    assert "vietnam-qr-pay" in source and re.fullmatch(r"\d{4}-\d\d-\d\d", retrieved)
    assert vietqr.max_amount() == 500_000_000


def test_amounts_in_words_in_both_languages():
    assert payments.amount_in_words(120000, "vi") == "Một trăm hai mươi nghìn đồng"
    assert payments.amount_in_words(250000, "en") == "Two hundred and fifty thousand dong"


# ---- the producer's account and the product page -------------------------------------------

def svg_to_image(svg: str, scale: int = 8) -> Image.Image:
    """Draw the page's QR (one path of dark runs, ``M{x} {y}h{n}v1h-{n}z``) as pixels."""
    full = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    image = Image.new("L", (full * scale, full * scale), 255)
    for x, y, n in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", svg):
        x, y, n = int(x), int(y), int(n)
        image.paste(0, (x * scale, y * scale, (x + n) * scale, (y + 1) * scale))
    return image


def decode(image: Image.Image) -> str:
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


def qr_of(page: str) -> str:
    return decode(svg_to_image(re.search(r'<div class="vietqr-code"[^>]*>(<svg.*?</svg>)', page, re.S).group(1)))


@pytest.fixture
def paying(db, world):
    """The published product of producer A (approved) with a Vietcombank account."""
    payments.set_bank_account(db.session, world.a, bank_bin="970436", account_number="0071 000 123 456",
                              account_name="Trịnh Văn A", actor=world.users["producer_a"])
    db.session.commit()
    return world.published_a


def test_the_product_page_offers_a_transfer_whose_qr_reads_back(client, paying):
    page = client.get(f"/p/{paying.slug}").get_data(as_text=True)
    assert "Thanh toán chuyển khoản (VietQR)" in page and 'name="qty"' in page and "<script" not in page.split("</head>")[1]
    payload = qr_of(page)
    assert payload == vietqr.payload("970436", "0071000123456", 120000, f"OCOP{paying.id} SL1")
    assert payload[-4:] == vietqr.crc(payload[:-4])
    assert "Một trăm hai mươi nghìn đồng" in page and "TRINH VAN A" in page and "Vietcombank" in page
    three = client.get(f"/p/{paying.slug}?qty=3").get_data(as_text=True)
    payload = qr_of(three)
    assert "5406360000" in payload and f"OCOP{paying.id} SL3" in payload
    assert "Ba trăm sáu mươi nghìn đồng" in three
    english = client.get(f"/p/{paying.slug}?qty=3", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Three hundred and sixty thousand dong" in english and "Pay by bank transfer (VietQR)" in english
    read = read_independently([payload])[0]
    assert read["valid"] and read["amount"] == "360000" and read["bin"] == "970436"


@pytest.mark.parametrize("qty, message", [
    ("abc", "Nhập số lượng là một số nguyên"), ("0", "Số lượng ít nhất là 1."), ("-2", "Nhập số lượng"),
    ("11", "Số lượng nhiều nhất là 10."), ("2.5", "Nhập số lượng"),
    # digits str.isdigit takes: int() refuses the first two (it was a 500), the third is no 0-9
    ("²", "Nhập số lượng"), ("①", "Nhập số lượng"), ("١", "Nhập số lượng"),
])
def test_a_bad_quantity_is_refused_on_the_page(client, paying, qty, message):
    response = client.get(f"/p/{paying.slug}", query_string={"qty": qty})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    assert 'class="vietqr-code"' not in page and 'aria-invalid="true"' in page


def test_an_amount_over_napas_limit_is_refused(db, client, paying):
    paying.price_vnd, paying.stock = 60_000_000, 50
    db.session.commit()
    response = client.get(f"/p/{paying.slug}?qty=9")
    assert response.status_code == 422 and "500.000.000" in response.get_data(as_text=True)
    assert client.get(f"/p/{paying.slug}?qty=8").status_code == 200  # 480 million: within


def test_only_a_verified_producers_sellable_product_offers_it(db, client, paying, world):
    assert 'id="pay"' in client.get(f"/p/{paying.slug}").get_data(as_text=True)
    paying.stock = 0  # out of stock: nothing to pay for
    db.session.commit()
    assert 'id="pay"' not in client.get(f"/p/{paying.slug}").get_data(as_text=True)
    paying.stock = 5
    db.session.commit()
    payments.remove_bank_account(db.session, world.a)
    db.session.commit()
    assert 'id="pay"' not in client.get(f"/p/{paying.slug}").get_data(as_text=True)


def test_an_unverified_producer_shows_no_transfer(db, client, world):
    from tests.conftest import make_producer, make_product

    pending = make_producer(db.session, "Hộ chờ duyệt", status="pending")
    db.session.flush()
    payments.set_bank_account(db.session, pending, bank_bin="970405", account_number="3300205123456",
                              account_name="HO CHO DUYET")
    product = make_product(db.session, pending, "Chè búp chờ duyệt", status="published")
    db.session.commit()
    assert client.get(f"/p/{product.slug}").status_code == 404  # not listed at all


def test_the_owner_sets_the_account_audited_and_noticed(db, app, world):
    owner = signed_in(app, "a@example.vn")
    page = owner.get("/dashboard/bank")
    assert page.status_code == 200 and "Vietcombank" in page.get_data(as_text=True)
    done = owner.post("/dashboard/bank", data={"bank_bin": "970415", "account_number": "1010 2020 3030",
                                                "account_name": "Trịnh Văn A"})
    assert done.status_code == 302
    account = db.session.get(BankAccount, world.a.id)
    assert (account.bank_bin, account.account_number, account.account_name) == ("970415", "101020203030", "TRINH VAN A")
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "producer.bank_account")).one()
    assert entry.actor_email == "a@example.vn" and entry.after["account_number"] == "101020203030"
    assert entry.before is None and "VietinBank" in entry.summary
    home = owner.get("/dashboard/").get_data(as_text=True)
    assert 'id="bank-notice"' in home and "101020203030" in home
    assert owner.post("/dashboard/bank/seen").status_code == 302
    assert 'id="bank-notice"' not in owner.get("/dashboard/").get_data(as_text=True)
    # A change again: audited with what it replaced, and noticed again.
    owner.post("/dashboard/bank", data={"bank_bin": "970436", "account_number": "0071000999888",
                                        "account_name": "TRINH VAN A"})
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "producer.bank_account")
                                 .order_by(AuditEntry.id)).all()
    assert len(entries) == 2 and entries[1].before["account_number"] == "101020203030"
    assert 'id="bank-notice"' in owner.get("/dashboard/").get_data(as_text=True)
    assert owner.post("/dashboard/bank/remove").status_code == 302
    assert db.session.get(BankAccount, world.a.id) is None
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "producer.bank_account_removed")).one()


@pytest.mark.parametrize("form, field_message", [
    ({"bank_bin": "123456", "account_number": "0071000123456", "account_name": "A"}, "Not a valid choice"),
    ({"bank_bin": "970436", "account_number": "0071-ABC", "account_name": "TRINH VAN A"}, "Số tài khoản chỉ gồm chữ số."),
    # Arabic-Indic digits: stored as typed, they made every buyer's product page a 422
    ({"bank_bin": "970436", "account_number": "٠٠٧١٠٠٠١٢٣٤٥٦", "account_name": "TRINH VAN A"},
     "Số tài khoản chỉ gồm chữ số."),
    ({"bank_bin": "970436", "account_number": "1" * 21, "account_name": "TRINH VAN A"}, "Số tài khoản dài nhất 19 chữ số."),
    ({"bank_bin": "970436", "account_number": "0071000123456", "account_name": "@@@"}, "Tên chủ tài khoản chỉ gồm"),
])
def test_bad_account_input_is_refused_on_the_form(db, app, world, form, field_message):
    owner = signed_in(app, "a@example.vn")
    response = owner.post("/dashboard/bank", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_message in page or "Lựa chọn không hợp lệ" in page
    assert db.session.get(BankAccount, world.a.id) is None


def test_staff_cannot_set_the_account(db, app, world):
    make_user(db.session, "staff@example.vn", producer=world.a, producer_role="staff")
    db.session.commit()
    staff = signed_in(app, "staff@example.vn")
    assert staff.get("/dashboard/bank").status_code == 403
    assert staff.post("/dashboard/bank", data={"bank_bin": "970436", "account_number": "1",
                                                "account_name": "X"}).status_code == 403
    assert db.session.get(BankAccount, world.a.id) is None


def test_a_cached_product_page_follows_the_account_at_once(db, client, world):
    """Product pages are kept per state of the catalogue for visitors without a session
    (``catalogue/pagecache.py``); an account's change is part of that state, so the next
    view shows the new account's QR, not a kept page with the old one (or none)."""
    product = world.published_a
    assert 'id="pay"' not in client.get(f"/p/{product.slug}").get_data(as_text=True)
    payments.set_bank_account(db.session, world.a, bank_bin="970436", account_number="0071000123456",
                              account_name="TRINH VAN A")
    db.session.commit()
    assert qr_of(client.get(f"/p/{product.slug}").get_data(as_text=True)).startswith(
        "00020101021238570010A00000072701270006970436")
    payments.set_bank_account(db.session, world.a, bank_bin="970405", account_number="3300205123456",
                              account_name="TRINH VAN A")
    db.session.commit()
    assert "970405" in qr_of(client.get(f"/p/{product.slug}").get_data(as_text=True))


def test_removing_an_older_account_leaves_no_kept_page_with_its_qr(db, client, world):
    """A removal does not move the newest change of the accounts: the count of them does."""
    for producer, number in ((world.a, "0071000123456"), (world.b, "0071000999999")):
        payments.set_bank_account(db.session, producer, bank_bin="970436", account_number=number, account_name="X Y")
    db.session.commit()
    assert 'id="pay"' in client.get(f"/p/{world.published_a.slug}").get_data(as_text=True)
    payments.remove_bank_account(db.session, world.a)  # A's is the older of the two
    db.session.commit()
    assert 'id="pay"' not in client.get(f"/p/{world.published_a.slug}").get_data(as_text=True)
