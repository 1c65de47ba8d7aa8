"""Plain domain functions: text folding and slugs, Vietnamese identifiers, GS1 codes,
administrative units, OCOP validity, the password policy and the display filters.

No HTTP here; the formatting filters only need a request context (for the locale).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from marketplace import geo
from marketplace.catalogue.service import default_valid_until
from marketplace.passwords import (MAX_LENGTH, MIN_LENGTH, hash_password, password_problem,
                                   verify_password)
from marketplace.text import fold, slugify, unique_slug
from marketplace.validators import (InvalidValue, normalize_gtin, normalize_phone,
                                    normalize_tax_code, tax_code_check_digit)
from tests.conftest import FAST_HASH

NBSP = "\u00a0"


# ---- fold / slugify / unique_slug ----------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Gạo Đồng Tiến", "gao dong tien"),
    ("GẠO NẾP CÁI HOA VÀNG", "gao nep cai hoa vang"),
    ("đặc sản  Thọ\tPhú ", "dac san tho phu"),
    ("Mật ong hoa vải", "mat ong hoa vai"),
    ("Nước mắm cốt", "nuoc mam cot"),
    ("100% hữu cơ_sạch", "100% huu co_sach"),
    ("", ""),
    (None, ""),
])
def test_fold_strips_diacritics_and_case(text, expected):
    assert fold(text) == expected


def test_fold_handles_decomposed_input():
    # The same words typed on a keyboard that sends combining marks (NFD).
    import unicodedata

    assert fold(unicodedata.normalize("NFD", "Gạo Đồng Tiến")) == "gao dong tien"


@pytest.mark.parametrize("text, expected", [
    ("Gạo nếp cái hoa vàng Đồng Tiến", "gao-nep-cai-hoa-vang-dong-tien"),
    ("Đặc sản đậu đỏ", "dac-san-dau-do"),
    ("ĐỒNG TIẾN", "dong-tien"),
    ("  Nem chua -- Thọ Phú!  ", "nem-chua-tho-phu"),
])
def test_slugify_maps_d_with_stroke_to_d(text, expected):
    assert slugify(text) == expected


def test_slugify_of_nothing_usable_is_a_placeholder():
    assert slugify("") == "item"
    assert slugify("★★★ !!!") == "item"


def test_slugify_respects_max_length_on_word_boundary():
    slug = slugify("Gạo nếp cái hoa vàng " * 30, max_length=50)
    assert len(slug) <= 50
    assert not slug.endswith("-")
    assert slug.startswith("gao-nep-cai-hoa-vang")


def test_unique_slug_appends_counter_until_free():
    taken = {"gao-dong-tien", "gao-dong-tien-2"}
    assert unique_slug("Gạo Đồng Tiến", taken.__contains__) == "gao-dong-tien-3"
    assert unique_slug("Gạo Đồng Tiến", set().__contains__) == "gao-dong-tien"
    assert unique_slug("Mật ong", taken.__contains__) == "mat-ong"


def test_unique_slug_only_asks_about_candidates():
    asked = []

    def exists(candidate):
        asked.append(candidate)
        return len(asked) < 3

    assert unique_slug("Chè lam", exists) == "che-lam-3"
    assert asked == ["che-lam", "che-lam-2", "che-lam-3"]


# ---- tax codes -------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("0300588569", "0300588569"),            # organisation, valid check digit
    (" 0300 588 569 ", "0300588569"),         # spaces are ignored
    ("0300.588.569", "0300588569"),           # so are dots
    ("0300588569-001", "0300588569-001"),     # branch of a valid organisation
    ("038090001234", "038090001234"),         # 12-digit CCCD (household business)
    ("001090001234", "001090001234"),         # lowest province prefix
    ("096090001234", "096090001234"),         # highest province prefix
])
def test_normalize_tax_code_accepts(value, expected):
    assert normalize_tax_code(value) == expected


@pytest.mark.parametrize("value", [
    "0300588568",          # wrong check digit
    "0300588560",          # wrong check digit
    "0300588568-001",      # branch of an invalid code
    "0300588569-01",       # branch needs three digits
    "0300588569-0001",
    "030058856",           # 9 digits
    "03005885690",         # 11 digits
    "000090001234",        # CCCD province prefix 000
    "097090001234",        # CCCD province prefix beyond 096
    "0123456789012",       # 13 digits
    "abcdefghij",
    "MST 0300588569",
    "٠٣٠٠٥٨٨٥٦٩",          # the right digits, in Arabic-Indic script: no tax office reads them
    "",
    None,
])
def test_normalize_tax_code_rejects(value):
    with pytest.raises(InvalidValue):
        normalize_tax_code(value)


def test_tax_code_check_digit_matches_normalize():
    assert tax_code_check_digit("030058856") == 9
    # Every generated code is accepted, and a nine-digit prefix with check 10 has no code.
    for first9 in ("280100101", "280100202", "123456789", "000000001"):
        check = tax_code_check_digit(first9)
        if check is None:
            for d in range(10):
                with pytest.raises(InvalidValue):
                    normalize_tax_code(f"{first9}{d}")
        else:
            assert normalize_tax_code(f"{first9}{check}") == f"{first9}{check}"


# ---- phones -----------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("+84 912 345 678", "0912345678"),
    ("84912345678", "0912345678"),
    ("0912.345.678", "0912345678"),
    ("0912-345-678", "0912345678"),
    ("(0237) 3862 123", "02373862123"),    # 11-digit landline (Thanh Hóa area code 237)
    ("0912345678", "0912345678"),
])
def test_normalize_phone_accepts(value, expected):
    assert normalize_phone(value) == expected


@pytest.mark.parametrize("value", [
    "912345678",           # no leading 0
    "091234567",           # too short
    "091234567890",        # too long
    "+1 202 555 0143",     # not Vietnamese
    "09123456ab",
    "0٩١٢٣٤٥٦٧٨",          # Arabic-Indic digits after the 0: no tel: or Zalo link dials them
    "0９１２３４５６７８",   # full-width digits
    "phone",
    "",
    None,
])
def test_normalize_phone_rejects(value):
    with pytest.raises(InvalidValue):
        normalize_phone(value)


# ---- GTIN ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("8935049501015", "08935049501015"),     # GTIN-13 (893 = Vietnam)
    (" 8935049501015 ", "08935049501015"),
    ("08935049501015", "08935049501015"),    # already GTIN-14
    ("12345670", "00000012345670"),          # GTIN-8
    ("123456789012", "00123456789012"),      # GTIN-12 (UPC-A)
])
def test_normalize_gtin_accepts(value, expected):
    assert normalize_gtin(value) == expected


@pytest.mark.parametrize("value", [
    "8935049501016",     # wrong check digit
    "8935049501010",
    "12345678",          # GTIN-8 with wrong check digit
    "893504950101",      # 12 digits, check digit wrong
])
def test_normalize_gtin_rejects_wrong_check_digit(value):
    with pytest.raises(InvalidValue):
        normalize_gtin(value)


@pytest.mark.parametrize("value", [
    "893504950", "89350495010", "1234567", "123456789012345", "893504950101a", "", None,
    "٨٩٣٥٠٤٩٥٠١٠١٥",  # a valid GTIN-13 in Arabic-Indic digits
])
def test_normalize_gtin_rejects_wrong_length_or_format(value):
    with pytest.raises(InvalidValue, match="format"):
        normalize_gtin(value)


# ---- administrative units -------------------------------------------------------------

def test_geo_has_34_provinces_and_3321_wards():
    provinces = geo.provinces()
    assert len(provinces) == 34
    assert len({p.code for p in provinces}) == 34
    assert sum(len(geo.wards_of(p.code)) for p in provinces) == 3321


def test_geo_dong_tien_is_in_thanh_hoa():
    ward = geo.ward(15724)
    assert ward is not None
    assert ward.name == "Xã Đồng Tiến"
    assert ward.province_code == 38 == geo.THANH_HOA
    assert geo.province(38).short == "Thanh Hóa"
    assert geo.ward_in_province(15724, 38)
    assert not geo.ward_in_province(15724, 1)
    assert ward in geo.wards_of(38)


def test_geo_place_name():
    assert geo.place_name(15724) == "Xã Đồng Tiến, Thanh Hóa"
    assert geo.place_name(None) == ""
    assert geo.place_name(999999) == ""


def test_geo_unknown_codes():
    assert geo.ward(None) is None
    assert geo.ward(-1) is None
    assert geo.province(None) is None
    assert geo.province(0) is None
    assert geo.wards_of(0) == ()
    assert not geo.ward_in_province(999999, 38)


# ---- OCOP validity -------------------------------------------------------------------------

@pytest.mark.parametrize("decided, expected", [
    (dt.date(2024, 3, 15), dt.date(2027, 3, 15)),
    (dt.date(2024, 2, 29), dt.date(2027, 2, 28)),   # 29 Feb → 28 Feb (2027 not a leap year)
    (dt.date(2025, 2, 28), dt.date(2028, 2, 28)),
    (dt.date(2021, 9, 1), dt.date(2024, 9, 1)),
    (dt.date(2023, 12, 31), dt.date(2026, 12, 31)),
    (dt.date(2025, 1, 31), dt.date(2028, 1, 31)),
    (dt.date(2096, 2, 29), dt.date(2099, 2, 28)),
    (dt.date(2097, 2, 28), dt.date(2100, 2, 28)),    # 2100 is not a leap year
])
def test_default_valid_until_is_36_months(decided, expected):
    assert default_valid_until(decided) == expected


# ---- passwords -------------------------------------------------------------------------------

def test_password_lengths():
    assert MIN_LENGTH == 8 and MAX_LENGTH == 128
    assert password_problem("Ab-9xyz") == "too_short"            # 7 characters
    assert password_problem("Ab-9xyzQ") is None                  # 8 characters
    assert password_problem("x" * 64 + "Y" * 64 + "z") == "too_long"  # 129 characters
    assert password_problem("") == "too_short"


@pytest.mark.parametrize("password", ["12345678", "matkhau123", "MATKHAU123", "aaaaaaaaaa", "abababab"])
def test_common_or_trivial_passwords_refused(password):
    assert password_problem(password) == "common"


def test_password_equal_to_email_local_part_refused():
    assert password_problem("nguyenvanan", "NguyenVanAn@example.vn") == "common"
    assert password_problem("nguyenvanan", "other@example.vn") is None


def test_128_char_password_is_hashed_without_truncation():
    password = "Trau-Vang-2025!" * 8 + "abcdefgh"
    assert len(password) == 128
    assert password_problem(password) is None
    changed = password[:-1] + "X"
    pwhash = hash_password(password, FAST_HASH)
    assert verify_password(pwhash, password)
    assert not verify_password(pwhash, changed)
    # The first 72 bytes (bcrypt's limit) are not all that counts either.
    assert not verify_password(pwhash, password[:72])


def test_over_long_password_never_verifies():
    password = "Trau-Vang-2025!" * 9  # 135 characters
    pwhash = hash_password(password, FAST_HASH)
    assert not verify_password(pwhash, password)


# ---- display filters (need a request for the locale) ---------------------------------------

@pytest.fixture
def in_language(app):
    """Run the filters inside a request whose Accept-Language is ``lang``.

    A fresh app context each time: Flask-Babel caches the locale on ``g``, and a request
    context would otherwise reuse the app context the ``app`` fixture keeps pushed.
    """
    from contextlib import contextmanager

    @contextmanager
    def ctx(lang):
        with app.app_context(), app.test_request_context("/", headers={"Accept-Language": lang}):
            yield

    return ctx


def test_vnd_vi(in_language):
    from marketplace.i18n import current_language, vnd

    with in_language("vi"):
        assert current_language() == "vi"
        # Babel puts a no-break space (U+00A0) between the amount and the symbol.
        assert vnd(120000) == f"120.000{NBSP}₫"
        assert vnd(1_250_000) == f"1.250.000{NBSP}₫"
        assert vnd(0) == f"0{NBSP}₫"
        assert vnd(None) == ""


def test_vnd_en(in_language):
    from marketplace.i18n import current_language, vnd

    with in_language("en"):
        assert current_language() == "en"
        assert vnd(120000) == "₫120,000"


def test_date_vn_both_languages(in_language):
    from marketplace.i18n import date_vn

    for lang in ("vi", "en"):
        with in_language(lang):
            assert date_vn(dt.date(2025, 3, 7)) == "07/03/2025"
            assert date_vn(None) == ""


def test_datetime_is_shown_in_vietnam_time(in_language):
    from marketplace.i18n import date_vn

    with in_language("vi"):
        # 20:30 UTC is 03:30 the next day in Asia/Ho_Chi_Minh (UTC+7).
        assert date_vn(dt.datetime(2025, 3, 7, 20, 30, tzinfo=dt.timezone.utc)) == "08/03/2025 03:30"


def test_quantity(in_language):
    from marketplace.i18n import quantity

    with in_language("vi"):
        assert quantity(Decimal("0.500")) == "0,5"
        assert quantity(Decimal("1.500")) == "1,5"
        assert quantity(Decimal("500.000")) == "500"
        assert quantity(Decimal("2")) == "2"
        assert quantity(None) == ""
    with in_language("en"):
        assert quantity(Decimal("0.500")) == "0.5"
        assert quantity(Decimal("500.000")) == "500"
