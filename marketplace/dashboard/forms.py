from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, MultipleFileField
from wtforms import DateField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import (DataRequired, Email, InputRequired, Length, NumberRange, Optional, StopValidation,
                                ValidationError)

from ..catalogue.service import (PACKAGE_SIDES, PRODUCT_NUMBER_LIMITS, PRODUCT_REQUIRED, PRODUCT_TEXT_LIMITS,
                                 SIDE_PLACES, VAT_RATES, product_problems)
from ..extensions import db
from ..forms_common import (BaseForm, CommaDecimalField, Phone, ProvinceField, StrongPassword, TaxCode, WardField,
                            WardInProvince, coerce_int_or_none, none_if_empty, producer_kind_choices, strip)
from ..models import UNITS
from ..validators import QUANTITY_PLACES
from ..vocab import SCHEME_LABELS, UNIT_LABELS, domain_error


class VndField(IntegerField):
    """Whole đồng, as people type it: "120000", "120.000", "120 000 đ", "120,000 VND".

    Separators must group thousands; "120.000,00" or "120,5" (decimals) are refused rather
    than silently read as 12 000 000 or 1 205.
    """

    GROUPED = re.compile(r"[0-9]{1,3}(?:[.,\s][0-9]{3})+|[0-9]+")

    def process_formdata(self, valuelist):
        if valuelist:
            raw = re.sub(r"\s*(?:đồng|đ|₫|vnđ|vnd)\s*$", "", (valuelist[0] or "").strip(), flags=re.I)
            if raw and not self.GROUPED.fullmatch(raw):
                self.data = None
                raise ValueError(str(_l("Nhập giá bằng số đồng nguyên, ví dụ 120000 hoặc 120.000.")))
            valuelist = [re.sub(r"[.,\s]", "", raw)]
        super().process_formdata(valuelist)


def _rules(name: str, required=None) -> list:
    """A product field's validators, from ``catalogue.service``'s rules: present when the
    service requires it (``required`` replaces DataRequired), else Optional; then its length
    or range."""
    rules = [(required or DataRequired()) if name in PRODUCT_REQUIRED else Optional()]
    if name in PRODUCT_TEXT_LIMITS:
        least, most = PRODUCT_TEXT_LIMITS[name]
        rules.append(Length(min=least or -1, max=most))
    if name in PRODUCT_NUMBER_LIMITS:
        rules.append(NumberRange(*PRODUCT_NUMBER_LIMITS[name]))
    return rules


class ProductForm(BaseForm):
    """A product's fields, with the limits and checks of ``catalogue.service`` (the API's too)."""

    producer_id = SelectField(_l("Chủ thể sản xuất"), coerce=coerce_int_or_none)
    name = StringField(_l("Tên sản phẩm"), validators=_rules("name"), filters=[strip])
    name_en = StringField(_l("Tên tiếng Anh (không bắt buộc)"), validators=_rules("name_en"), filters=[strip],
                          description=_l("Trang tiếng Anh hiện tên này; người mua tìm được bằng tiếng Anh, ví dụ \"honey\"."))
    group_id = SelectField(_l("Nhóm sản phẩm OCOP"), coerce=coerce_int_or_none, validators=_rules("group_id"))
    description = TextAreaField(_l("Mô tả"), validators=_rules("description"), filters=[strip])
    description_en = TextAreaField(_l("Mô tả tiếng Anh (không bắt buộc)"), validators=_rules("description_en"),
                                   filters=[strip])
    ingredients = TextAreaField(_l("Thành phần"), validators=_rules("ingredients"), filters=[strip])
    net_quantity = CommaDecimalField(_l("Khối lượng/thể tích tịnh"), places=QUANTITY_PLACES,
                                     validators=_rules("net_quantity"))
    unit = SelectField(_l("Đơn vị"), choices=[(u, UNIT_LABELS[u]) for u in UNITS], validators=_rules("unit"))
    # InputRequired, not DataRequired: the latter would wipe VndField's own "whole đồng" message.
    price_vnd = VndField(_l("Giá bán (đồng)"),
                         validators=_rules("price_vnd", InputRequired(message=_l("Nhập giá bán bằng số, ví dụ 120000."))))
    stock = IntegerField(_l("Số lượng tồn kho"), default=0, validators=_rules("stock"))
    shelf_life_days = IntegerField(_l("Hạn sử dụng (số ngày)"), validators=_rules("shelf_life_days"))
    storage_instructions = TextAreaField(_l("Hướng dẫn bảo quản"), validators=_rules("storage_instructions"),
                                         filters=[strip])
    usage_instructions = TextAreaField(_l("Hướng dẫn sử dụng"), validators=_rules("usage_instructions"),
                                       filters=[strip])
    warnings = TextAreaField(_l("Cảnh báo"), validators=_rules("warnings"), filters=[strip])
    ingredients_en = TextAreaField(_l("Thành phần bằng tiếng Anh"), validators=_rules("ingredients_en"),
                                   filters=[strip])
    storage_instructions_en = TextAreaField(_l("Hướng dẫn bảo quản bằng tiếng Anh"),
                                            validators=_rules("storage_instructions_en"), filters=[strip])
    usage_instructions_en = TextAreaField(_l("Hướng dẫn sử dụng bằng tiếng Anh"),
                                          validators=_rules("usage_instructions_en"), filters=[strip])
    warnings_en = TextAreaField(_l("Cảnh báo bằng tiếng Anh"), validators=_rules("warnings_en"), filters=[strip])
    origin_ward_code = SelectField(_l("Xã/phường xuất xứ"), coerce=coerce_int_or_none, validate_choice=False)
    gtin = StringField(_l("Mã vạch GTIN (nếu có)"), validators=[Optional()], filters=[strip, none_if_empty])
    # Only on a new product (a product's page adds more later): stored once the product is.
    photos = MultipleFileField(_l("Ảnh sản phẩm (chọn được nhiều ảnh; JPEG, PNG hoặc WebP, tối đa 5 MB mỗi ảnh)"))
    short_name = StringField(_l("Tên ngắn (cho sàn giới hạn độ dài tên)"), validators=_rules("short_name"),
                             filters=[strip])
    packed_weight_g = IntegerField(_l("Khối lượng cả bao bì (gam)"), validators=_rules("packed_weight_g"),
                                   description=_l("Cân cả gói như khi gửi bưu điện, để sàn tính phí vận chuyển. "
                                                  "Khác khối lượng tịnh ghi trên nhãn."))
    package_length_cm = CommaDecimalField(_l("Dài (cm)"), places=SIDE_PLACES, validators=_rules("package_length_cm"))
    package_width_cm = CommaDecimalField(_l("Rộng (cm)"), places=SIDE_PLACES, validators=_rules("package_width_cm"))
    package_height_cm = CommaDecimalField(_l("Cao (cm)"), places=SIDE_PLACES, validators=_rules("package_height_cm"))
    vat_rate = SelectField(_l("Thuế suất GTGT"), coerce=coerce_int_or_none, validate_choice=True)

    def __init__(self, *args, product_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.unit.choices = [(u, UNIT_LABELS[u]) for u in UNITS]
        self.vat_rate.choices = [("", _l("— theo nhóm sản phẩm —"))] + [(r, f"{r} %") for r in VAT_RATES]
        self._product_id = product_id

    def validate(self, extra_validators=None) -> bool:
        """The field validators, then ``catalogue.product_problems`` (sub-group, commune,
        GTIN valid and not another product's) on the fields that passed them."""
        valid = super().validate(extra_validators)
        data = {name: self[name].data for name in ("group_id", "origin_ward_code", "gtin", *PACKAGE_SIDES)
                if not self[name].errors}
        for name, code in product_problems(db.session, data, self._product_id).items():
            self[name].errors.append(domain_error(code))
            valid = False
        if data.get("gtin"):
            self.gtin.data = data["gtin"]  # normalised (14 digits)
        return valid

    def product_data(self) -> dict:
        data = {k: v for k, v in self.data.items() if k not in ("csrf_token", "producer_id", "photos")}
        data["stock"] = data.get("stock") or 0
        return data


class ChosenFile:
    """At least one file chosen (an empty file input still sends a nameless part)."""

    def __call__(self, form, field):
        if not any(getattr(f, "filename", "") for f in field.data or ()):
            field.errors[:] = []
            raise StopValidation(str(_l("Chưa chọn ảnh nào: bấm \"Chọn tệp\" để chọn ảnh trong máy, rồi bấm \"Tải ảnh lên\".")))


class ProducerForm(BaseForm):
    kind = SelectField(_l("Loại chủ thể"), validators=[DataRequired()])
    name = StringField(_l("Tên cơ sở / HTX / doanh nghiệp"), validators=[DataRequired(), Length(max=200)], filters=[strip])
    representative = StringField(_l("Người đại diện"), validators=[DataRequired(), Length(max=120)], filters=[strip])
    tax_code = StringField(_l("Mã số thuế / số đăng ký kinh doanh"), validators=[Optional(), TaxCode()], filters=[strip])
    phone = StringField(_l("Số điện thoại"), validators=[DataRequired(), Phone()], filters=[strip])
    zalo_phone = StringField(_l("Số Zalo (không bắt buộc)"), validators=[Optional(), Phone()], filters=[strip],
                             description=_l("Người mua bấm \"Nhắn Zalo\" trên trang sản phẩm để nhắn cho cơ sở."))
    email = StringField(_l("Email liên hệ"), validators=[Optional(), Email(check_deliverability=False), Length(max=254)], filters=[strip])
    address_line = StringField(_l("Địa chỉ (thôn, xóm, số nhà)"), validators=[Optional(), Length(max=255)], filters=[strip])
    province_code = ProvinceField(validators=[DataRequired()])
    ward_code = WardField(validators=[WardInProvince()])
    description = TextAreaField(_l("Giới thiệu"), validators=[Optional(), Length(max=5000)], filters=[strip])
    logo = FileField(_l("Logo (JPEG, PNG hoặc WebP, tối đa 5 MB)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = producer_kind_choices()

    def producer_data(self) -> dict:
        return {k: v for k, v in self.data.items() if k not in ("csrf_token", "logo")}


class PhotoForm(BaseForm):
    photo = MultipleFileField(_l("Ảnh sản phẩm (JPEG, PNG hoặc WebP, tối đa 5 MB mỗi ảnh; chọn được nhiều ảnh)"),
                              validators=[ChosenFile()])


class CertificationForm(BaseForm):
    scheme = SelectField(_l("Loại chứng nhận"), validators=[DataRequired()])
    producer_id = SelectField(_l("Cơ sở được chứng nhận"), coerce=coerce_int_or_none, validate_choice=False)
    product_id = SelectField(_l("Sản phẩm (để trống nếu áp dụng cho cả cơ sở)"), coerce=coerce_int_or_none, validate_choice=False)
    number = StringField(_l("Số chứng nhận"), validators=[DataRequired(), Length(max=64)], filters=[strip])
    body = StringField(_l("Tổ chức cấp"), validators=[DataRequired(), Length(max=200)], filters=[strip])
    scope = StringField(_l("Phạm vi"), validators=[Optional(), Length(max=255)], filters=[strip])
    valid_from = DateField(_l("Ngày cấp"), validators=[Optional()])
    valid_to = DateField(_l("Có hiệu lực đến"), validators=[Optional()])
    document = FileField(_l("Bản scan (PDF hoặc ảnh, tối đa 5 MB)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scheme.choices = [(k, v) for k, v in SCHEME_LABELS.items()]

    def validate_valid_to(self, field):
        if field.data and self.valid_from.data and field.data < self.valid_from.data:
            raise ValidationError(str(_l("Ngày hết hạn phải sau ngày cấp.")))


class MemberForm(ProducerForm):
    """A cooperative registers a member household; it starts pending like any producer."""


class StaffForm(BaseForm):
    """The owner gives a family member or employee their own login (role: staff)."""

    email = StringField(_l("Email"), validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)], filters=[strip])
    name = StringField(_l("Họ và tên"), validators=[DataRequired(), Length(max=120)], filters=[strip])
    password = PasswordField(_l("Mật khẩu ban đầu"), validators=[DataRequired(), StrongPassword()],
                             description=_l("Người này có thể tự đổi mật khẩu sau khi đăng nhập."))


class BankAccountForm(BaseForm):
    """Where buyers pay by VietQR: a bank of NAPAS 247's list, the account, its holder."""

    bank_bin = SelectField(_l("Ngân hàng"), validators=[DataRequired()])
    account_number = StringField(_l("Số tài khoản"), validators=[DataRequired(), Length(max=40)],
                                 description=_l("Chỉ gồm chữ số, như in trên thẻ hoặc trong ứng dụng ngân hàng."))
    account_name = StringField(_l("Chủ tài khoản"), validators=[DataRequired(), Length(max=80)],
                               description=_l("Như ngân hàng ghi, ví dụ NGUYEN THI HOA."))
