"""Human labels for stored codes (units, statuses, kinds, schemes), in both languages."""
from __future__ import annotations

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from . import geo, vietqr
from .i18n import current_language
from .models import CertificationScheme, ProducerKind

UNIT_LABELS = {
    "g": _l("g"), "kg": _l("kg"), "ml": _l("ml"), "l": _l("lít"), "piece": _l("cái"),
    "box": _l("hộp"), "bottle": _l("chai"), "bag": _l("túi"), "jar": _l("hũ"),
    "bunch": _l("bó"), "tray": _l("khay"),
}
# The word a net quantity is stated with, as labels word it: mass for g and kg, volume for ml
# and l, a count for every other unit of ``models.products.UNITS``.  The one place that decides
# it: the printed labels (stamps.sheets) and the pages (the stamp page's facts) both ask
# :func:`quantity_word`.
MASS_UNITS, VOLUME_UNITS = frozenset({"g", "kg"}), frozenset({"ml", "l"})
QUANTITY_WORDS = {"mass": _l("Khối lượng tịnh"), "volume": _l("Thể tích thực"), "count": _l("Số lượng")}
STATUS_LABELS = {
    "draft": _l("Bản nháp"), "pending": _l("Chờ duyệt"), "published": _l("Đã đăng"),
    "rejected": _l("Bị từ chối"), "archived": _l("Đã lưu trữ"), "approved": _l("Đã duyệt"),
    "suspended": _l("Tạm ngừng"),
}
KIND_LABELS = {
    ProducerKind.household.value: _l("Hộ sản xuất / hộ kinh doanh"),
    ProducerKind.cooperative.value: _l("Hợp tác xã (HTX)"),
    ProducerKind.cooperative_group.value: _l("Tổ hợp tác"),
    ProducerKind.enterprise.value: _l("Doanh nghiệp"),
}
SCHEME_LABELS = {
    CertificationScheme.vietgap.value: "VietGAP",
    CertificationScheme.globalgap.value: "GlobalG.A.P.",
    CertificationScheme.organic.value: _l("Hữu cơ (TCVN 11041)"),
    CertificationScheme.haccp.value: "HACCP",
    CertificationScheme.iso22000.value: "ISO 22000",
    CertificationScheme.food_safety.value: _l("Cơ sở đủ điều kiện ATTP"),
    CertificationScheme.self_declaration.value: _l("Tự công bố sản phẩm"),
}
EVENT_KIND_LABELS = {
    "seeding": _l("Gieo trồng"), "input": _l("Bón phân / phun thuốc / dùng vật tư"),
    "care": _l("Chăm sóc"), "harvest": _l("Thu hoạch"), "processing": _l("Sơ chế / chế biến"),
    "packing": _l("Đóng gói"), "inspection": _l("Kiểm tra / xét nghiệm"),
    "shipping": _l("Xuất hàng"), "receiving": _l("Nhận hàng"),
}
# Where a product stands for buyers (public_facts.ProductFacts.state): its status until it is
# published, then what the catalogue says of it.
PRODUCT_STATE_LABELS = {
    **STATUS_LABELS, "hidden": _l("Tạm ẩn (cơ sở chưa được duyệt hoặc đang tạm ngừng)"),
    "in_stock": _l("Đang bán"), "out_of_stock": _l("Hết hàng"), "recalled": _l("Đang thu hồi – ngừng bán"),
}
# What the product page says of availability (public_facts.Availability).
AVAILABILITY_LABELS = {"in_stock": _l("Còn hàng"), "out_of_stock": _l("Tạm hết hàng"),
                       "recalled": _l("Ngừng bán: có lô đang bị thu hồi"), "not_listed": _l("Không bán")}
EXCHANGE_STATE_LABELS = {"listed": _l("Đang đăng"), "waiting": _l("Chờ sàn nhận"), "refused": _l("Bị từ chối"),
                         "not_listed": _l("Chưa niêm yết")}
BATCH_STATUS_LABELS = {"open": _l("Đang mở"), "closed": _l("Đã đóng"), "recalled": _l("Đã thu hồi")}
STAMP_STATUS_LABELS = {"issued": _l("Đã phát hành"), "active": _l("Đang dùng"), "void": _l("Đã hủy")}
DELIVERY_STATUS_LABELS = {"pending": _l("Chờ gửi"), "delivered": _l("Đã gửi"), "dead": _l("Hỏng"),
                          "superseded": _l("Đã thay bằng bản mới"), "unneeded": _l("Không cần gửi")}
# Messages for the codes of TraceError / StampError (domain refusals shown to users).
DOMAIN_ERRORS = {
    "lot_taken": _l("Sản phẩm này đã có lô với mã này."),
    "lot_format": _l("Mã lô chỉ gồm chữ in hoa không dấu, số và dấu gạch ngang."),
    "expiry_before_production": _l("Hạn sử dụng phải sau ngày sản xuất."),
    "expiry_range": _l("Hạn sử dụng không hợp lệ."),
    "production_date_range": _l("Ngày sản xuất không hợp lệ (không được ở tương lai)."),
    "event_time_range": _l("Ngày không hợp lệ (không được ở tương lai)."),
    "group_unknown": _l("Chọn một nhóm con OCOP có trong danh mục."),
    "ward_unknown": _l("Xã/phường không có trong danh mục."),
    "gtin_invalid": _l("Mã GTIN không hợp lệ (8, 12, 13 hoặc 14 chữ số, số kiểm tra đúng)."),
    "gtin_taken": _l("Mã GTIN này đã được dùng cho một sản phẩm khác."),
    "gtin_printed": _l("Tem của sản phẩm đã in mã GTIN này: không đổi hay xoá được, để tem đã dán trên hàng "
                       "vẫn quét ra đúng sản phẩm."),
    "package_sides": _l("Ghi đủ ba kích thước của kiện hàng (dài, rộng, cao), hoặc để trống cả ba."),
    "not_open": _l("Lô không còn mở."),
    "already_recalled": _l("Lô đã bị thu hồi trước đó."),
    "not_recalled": _l("Lô không ở trạng thái thu hồi."),
    "reason_required": _l("Hãy ghi lý do thu hồi."),
    "corrects_other_batch": _l("Chỉ đính chính được mục nhật ký của chính lô này."),
    "counterpart_required": _l("Ghi bên nhận (khi xuất) hoặc bên giao (khi nhận)."),
    "input_name_required": _l("Ghi tên vật tư đã dùng."),
    "count_range": _l("Số tem phải từ 1 đến 100.000."),
    "batch_recalled": _l("Lô đã bị thu hồi: không phát hành thêm tem."),
    "product_not_listed": _l("Chỉ phát hành và kích hoạt tem cho sản phẩm đã được duyệt đăng bán, của cơ sở đã được "
                             "duyệt. Hãy gửi duyệt sản phẩm (hoặc hồ sơ cơ sở) trước."),
    "run_void": _l("Đợt tem đã bị hủy."),
    "range": _l("Khoảng tem không nằm trong đợt này."),
    "serial_not_in_run": _l("Mã tem không thuộc đợt này."),
    "listing_url_invalid": _l("Địa chỉ trang sản phẩm trên sàn phải là một địa chỉ web đầy đủ, bắt đầu bằng "
                              "https://."),
    "listing_url_too_long": _l("Địa chỉ trang sản phẩm trên sàn dài tối đa 500 ký tự."),
    "listing_id_invalid": _l("Mã sản phẩm trên sàn dài tối đa 120 ký tự."),
}
ISSUER_LEVELS = {
    "central": _l("Trung ương"),
    "provincial": _l("Cấp tỉnh"),
    "district": _l("Cấp huyện (trước 07/2025)"),
}


# Refusals of a bank transfer's inputs (``vietqr.VietQRError`` codes; ``%(n)s``: the most allowed)
TRANSFER_ERRORS = {
    "not_a_number": _l("Nhập số lượng là một số nguyên, ví dụ 2."),
    "not_positive": _l("Số lượng ít nhất là 1."),
    "over_stock": _l("Số lượng nhiều nhất là %(n)s."),
    "over_limit": _l("Số tiền vượt hạn mức 500.000.000 đ của một lần chuyển nhanh NAPAS 247: "
                     "hãy chia thành nhiều lần hoặc gọi cơ sở."),
    "unknown": _l("Hãy chọn ngân hàng trong danh sách."),
    "required": _l("Thông tin này là bắt buộc."),
    "digits": _l("Số tài khoản chỉ gồm chữ số."),
    "too_long": _l("Số tài khoản dài nhất 19 chữ số."),
    "invalid": _l("Tên chủ tài khoản chỉ gồm chữ cái không dấu và khoảng trắng, như ngân hàng ghi."),
}


def transfer_error(code: str, n: int = 0) -> str:
    """The user's message for a refused transfer input."""
    return str(TRANSFER_ERRORS.get(code, TRANSFER_ERRORS["invalid"])) % {"n": n}


def bank_name(bin_: str) -> str:
    """A NAPAS member bank's short name, by its BIN (the BIN itself when not in the list)."""
    found = vietqr.bank(bin_)
    return found.short_name if found else bin_


def _lookup(table):
    return lambda code: str(table.get(code, code))


def register_labels(app) -> None:
    app.jinja_env.globals.update(
        unit_label=unit_label, status_label=_lookup(STATUS_LABELS),
        kind_label=_lookup(KIND_LABELS), scheme_label=_lookup(SCHEME_LABELS),
        issuer_level_label=_lookup(ISSUER_LEVELS), place_name=geo.place_name,
        event_kind_label=_lookup(EVENT_KIND_LABELS), batch_status_label=_lookup(BATCH_STATUS_LABELS),
        stamp_status_label=_lookup(STAMP_STATUS_LABELS), product_state_label=_lookup(PRODUCT_STATE_LABELS),
        availability_label=_lookup(AVAILABILITY_LABELS), exchange_state_label=_lookup(EXCHANGE_STATE_LABELS),
        delivery_status_label=_lookup(DELIVERY_STATUS_LABELS), domain_error=domain_error,
        quantity_word=quantity_word, transfer_error=transfer_error, bank_name=bank_name,
        group_name=lambda g: g.display_name(current_language()) if g else "",
    )


def quantity_kind(unit: str) -> str:
    """"mass", "volume" or "count": what a net quantity in ``unit`` measures."""
    return "mass" if unit in MASS_UNITS else "volume" if unit in VOLUME_UNITS else "count"


def quantity_word(unit: str, language: str | None = None) -> str:
    """The word before a net quantity in ``unit``: "Khối lượng tịnh" (g, kg), "Thể tích
    thực" (ml, l), "Số lượng" (pieces, boxes, bottles…), in the page's language, or in
    ``language`` when given (a label is printed in Vietnamese, ``"vi"``, whatever the page's)."""
    return _in(QUANTITY_WORDS[quantity_kind(unit)], language)


def unit_label(unit: str, language: str | None = None) -> str:
    """The word for ``unit`` ("kg", "lít", "hộp"…), in the page's language or in ``language``."""
    return _in(UNIT_LABELS.get(unit, unit), language)


def _in(word, language: str | None) -> str:
    """A lazy text in the page's language, or in ``language`` when given."""
    if language is None:
        return str(word)
    with force_locale(language):
        return str(word)


def domain_error(code: str) -> str:
    """The user's message for a domain refusal code (batches, diary, stamps)."""
    return str(DOMAIN_ERRORS.get(code, _l("Không thể thực hiện thao tác này.")))
