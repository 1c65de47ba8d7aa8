"""Form fields and validators shared by several blueprints."""
from __future__ import annotations

from pathlib import Path

from babel import support
from flask import request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import ValidationError
from wtforms.widgets import TextInput

from . import geo
from .passwords import password_problem
from .text import cleaner
from .validators import InvalidValue, normalize_phone, normalize_tax_code

from .vocab import KIND_LABELS as PRODUCER_KIND_LABELS


PASSWORD_MESSAGES = {
    "too_short": _l("Mật khẩu phải có ít nhất 8 ký tự."),
    "too_long": _l("Mật khẩu dài tối đa 128 ký tự."),
    "common": _l("Mật khẩu này quá phổ biến, dễ bị đoán. Hãy chọn mật khẩu khác."),
}


def producer_kind_choices():
    return [(k, v) for k, v in PRODUCER_KIND_LABELS.items()]


class StrongPassword:
    def __call__(self, form, field):
        email = form.email.data if hasattr(form, "email") else ""
        problem = password_problem(field.data or "", email or "")
        if problem:
            raise ValidationError(str(PASSWORD_MESSAGES[problem]))


class TaxCode:
    """Optional tax/registration number; normalised in place when valid."""

    def __call__(self, form, field):
        if not field.data:
            field.data = ""
            return
        try:
            field.data = normalize_tax_code(field.data)
        except InvalidValue:
            raise ValidationError(str(_l("Mã số thuế / số đăng ký không hợp lệ (10 chữ số có số kiểm tra, 10-3 chữ số cho chi nhánh, hoặc 12 chữ số CCCD).")))


class Phone:
    def __call__(self, form, field):
        try:
            field.data = normalize_phone(field.data)
        except InvalidValue:
            raise ValidationError(str(_l("Số điện thoại không hợp lệ (ví dụ 0912 345 678).")))


def province_choices():
    return [(p.code, p.name) for p in geo.provinces()]


def ward_choices(province_code: int | None):
    """Communes of the province, after an empty "choose" entry so none is picked silently."""
    return [("", _l("— Chọn xã/phường —"))] + [(w.code, w.name) for w in geo.wards_of(province_code or geo.THANH_HOA)]


class WardInProvince:
    """The chosen commune must belong to the chosen province."""

    def __init__(self, province_field: str = "province_code"):
        self.province_field = province_field

    def __call__(self, form, field):
        province = form[self.province_field].data
        if field.data is None or not geo.ward_in_province(field.data, province or -1):
            raise ValidationError(str(_l("Hãy chọn xã/phường thuộc tỉnh/thành phố đã chọn.")))


def coerce_int_or_none(value):
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ProvinceField(SelectField):
    def __init__(self, label=None, **kwargs):
        kwargs.setdefault("default", geo.THANH_HOA)  # the district's own province
        super().__init__(label or _l("Tỉnh/thành phố"), coerce=coerce_int_or_none, **kwargs)


class WardField(SelectField):
    """Commune/ward select; its choices follow the province chosen in the same form."""

    def __init__(self, label=None, **kwargs):
        kwargs.setdefault("validate_choice", False)
        super().__init__(label or _l("Xã/phường"), coerce=coerce_int_or_none, **kwargs)


def bind_ward_choices(form, province_field="province_code", ward_field="ward_code"):
    form[province_field].choices = province_choices()
    chosen = form[province_field].data or geo.THANH_HOA
    form[ward_field].choices = ward_choices(chosen)


def strip(value):
    return value.strip() if isinstance(value, str) else value


def none_if_empty(value):
    """Optional unique codes are stored as NULL, never as '' (which would collide)."""
    return value or None


def refreshing_wards() -> bool:
    """The no-JavaScript "refresh the commune list" button was pressed: re-render, don't save."""
    return request.method == "POST" and "refresh_wards" in request.form


TRANSLATIONS_DIR = Path(__file__).parent / "translations"


class _WTFormsMessages:
    """WTForms' built-in messages ("This field is required.") in the current language.

    WTForms ships no Vietnamese catalogue, so ours lives in
    ``translations/vi/LC_MESSAGES/wtforms.po``; English falls through to WTForms' own text.
    """

    def _translations(self):
        cached = getattr(request, "_wtforms_translations", None)
        if cached is None:
            cached = support.Translations.load(str(TRANSLATIONS_DIR), [get_locale()], domain="wtforms")
            request._wtforms_translations = cached
        return cached

    def gettext(self, string):
        return self._translations().ugettext(string)

    def ngettext(self, singular, plural, n):
        return self._translations().ungettext(singular, plural, n)


WTFORMS_MESSAGES = _WTFormsMessages()


_CLEAN_LINE, _CLEAN_LINES = cleaner(), cleaner(lines=True)


class BaseForm(FlaskForm):
    """Every form of the project: CSRF from Flask-WTF, messages in the user's language, and
    every text field cleaned first (``text.clean``: NFC, no control characters; lines only
    in a text area), so that its validators and lengths see the text as it will be kept.
    Passwords are taken as typed."""

    class Meta:
        def get_translations(self, form):
            return WTFORMS_MESSAGES

        def bind_field(self, form, unbound_field, options):
            field_class = unbound_field.field_class
            if issubclass(field_class, StringField) and not issubclass(field_class, PasswordField):
                first = _CLEAN_LINES if issubclass(field_class, TextAreaField) else _CLEAN_LINE
                filters = [first, *unbound_field.kwargs.get("filters", ())]
                return unbound_field.bind(form=form, filters=filters, **options)
            return unbound_field.bind(form=form, **options)


class CommaDecimalField(DecimalField):
    """Decimal that accepts a Vietnamese decimal comma ("0,5"); NaN and infinities are refused.

    Rendered as a text input (with ``inputmode="decimal"`` in the templates): a
    ``type="number"`` input would let the browser drop the comma and send "15" for "1,5".
    """

    widget = TextInput()

    def process_formdata(self, valuelist):
        if valuelist:
            valuelist = [(valuelist[0] or "").strip().replace(",", ".")]
        super().process_formdata(valuelist)
        if self.data is not None and not self.data.is_finite():
            self.data = None
            raise ValueError(self.gettext("Not a valid decimal value."))
