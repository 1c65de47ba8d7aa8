"""Officers' forms for an exchange: push settings, the profile as a form (its field mapping,
required fields and limits) and as JSON for the rest (docs/architecture.md, "Exchanges")."""
from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from wtforms import (BooleanField, FieldList, FormField, IntegerField, SelectField, SelectMultipleField, StringField,
                     TextAreaField)
from wtforms.validators import Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..feeds import push
from ..feeds.profiles import FIELD_LABELS, FIELDS, Profile, ProfileError, parse, xml_element_name
from ..forms_common import BaseForm, strip


class PushSettingsForm(BaseForm):
    endpoint_url = StringField(_l("Địa chỉ nhận của sàn"), validators=[Optional(), Length(max=500)],
                               filters=[strip],
                               description=_l("Địa chỉ web (https://…) mà sàn dùng để nhận các thay đổi. Để trống nếu "
                                              "sàn chỉ tải tệp hoặc tự lấy nguồn dữ liệu."))
    enabled = BooleanField(_l("Tự động gửi thay đổi sang sàn này"))

    def validate_endpoint_url(self, field):
        if field.data:
            try:
                push.check_url(field.data)
            except push.EndpointRefused as exc:
                raise ValidationError(str(_l("Địa chỉ không dùng được: %(reason)s", reason=exc.reason))) from None

    def validate_enabled(self, field):
        if field.data and not self.endpoint_url.data:
            raise ValidationError(str(_l("Nhập địa chỉ nhận trước khi bật tự động gửi.")))


def canonical_label(key: str) -> str:
    """A canonical field as an officer reads it: "ảnh sản phẩm (image_link)", or its key."""
    label = FIELD_LABELS.get(key)
    return f"{label} ({key})" if label else key


def _xml_name(name: str) -> bool:
    try:
        xml_element_name(name)
    except ValueError:
        return False
    return True


class MappingRow(BaseForm):
    """One row of the field mapping: the exchange's field name and the canonical field it takes."""

    class Meta:
        csrf = False  # a part of ProfileFieldsForm, which carries the token

    name = StringField(_l("Tên trường trên sàn"), validators=[Optional(), Length(max=100)], filters=[strip])
    canonical = SelectField(_l("Dữ liệu của Chợ OCOP"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.canonical.choices = [("", "—")] + [(key, canonical_label(key)) for key in FIELDS]


class ProfileFieldsForm(BaseForm):
    """The parts of a profile an officer changes most, as a form: the field mapping (rows,
    with a few empty ones to add), the required canonical fields (checkboxes) and the limits.
    The rest of the profile (formats, categories and their list) is kept as it is; the whole
    is checked by :func:`marketplace.feeds.profiles.parse`, as the JSON editor's is."""

    EMPTY_ROWS = 3
    MAX_ROWS = 200

    mapping = FieldList(FormField(MappingRow), max_entries=MAX_ROWS)
    required = SelectMultipleField(_l("Trường bắt buộc"), widget=ListWidget(prefix_label=False),
                                   option_widget=CheckboxInput())
    limit_title = IntegerField(_l("Tên dài tối đa (ký tự)"), validators=[Optional(), NumberRange(min=0, max=100_000)])
    limit_description = IntegerField(_l("Mô tả dài tối đa (ký tự)"),
                                     validators=[Optional(), NumberRange(min=0, max=1_000_000)])
    limit_images = IntegerField(_l("Số ảnh tối đa"), validators=[Optional(), NumberRange(min=0, max=100)])

    LIMITS = {"title": "limit_title", "description": "limit_description", "images": "limit_images"}

    def __init__(self, *args, base: Profile, **kwargs):
        self.base = base
        super().__init__(*args, **kwargs)
        self.required.choices = [(key, canonical_label(key)) for key in FIELDS]
        self.mapping_errors: list[str] = []
        self.parsed: Profile | None = None

    @classmethod
    def of(cls, profile: Profile) -> ProfileFieldsForm:
        """The form filled with ``profile``, and a few empty rows to add fields."""
        rows = [{"name": name, "canonical": canonical} for name, canonical in profile.fields]
        data = {"mapping": rows + [{}] * cls.EMPTY_ROWS, "required": list(profile.required),
                **{attr: profile.limits.get(key) for key, attr in cls.LIMITS.items()}}
        return cls(formdata=None, data=data, base=profile)

    def rows(self) -> list[list[str]]:
        """The filled rows, as the profile's ``fields`` pairs."""
        return [[row.form.name.data, row.form.canonical.data] for row in self.mapping
                if row.form.name.data or row.form.canonical.data]

    def profile_data(self) -> dict:
        """The profile with this form's parts in place of the base's (required fields in the
        base's order, new ones after: an unchanged form gives back the same profile)."""
        limits = {key: self[attr].data for key, attr in self.LIMITS.items() if self[attr].data is not None}
        chosen = list(self.required.data or [])
        required = [r for r in self.base.required if r in chosen] + [r for r in chosen if r not in self.base.required]
        return dict(self.base.as_dict(), fields=self.rows(), required=required, limits=limits)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        seen: dict[str, int] = {}
        for index, row in enumerate(self.mapping, start=1):
            name, canonical = row.form.name.data, row.form.canonical.data
            if not name and not canonical:
                continue
            if not name or not canonical:
                row.form.name.errors = [*row.form.name.errors, str(_l(
                    "Dòng %(n)d: ghi cả tên trường trên sàn và dữ liệu điền vào (hoặc để trống cả hai).", n=index))]
                valid = False
            elif name in seen:
                row.form.name.errors = [*row.form.name.errors, str(_l(
                    "Dòng %(n)d: tên trường «%(name)s» đã có ở dòng %(first)d.", n=index, name=name, first=seen[name]))]
                valid = False
            elif "xml" in self.base.formats and not _xml_name(name):
                row.form.name.errors = [*row.form.name.errors, str(_l(
                    "Dòng %(n)d: «%(name)s» không dùng được làm tên thẻ XML (chỉ chữ, số, - _ . và tiền tố g:).",
                    n=index, name=name))]
                valid = False
            else:
                seen[name] = index
        if not seen and valid:
            self.mapping_errors.append(str(_l("Hãy giữ ít nhất một trường gửi sang sàn.")))
            valid = False
        if not valid:
            return False
        try:
            self.parsed = parse(self.profile_data())
        except ProfileError as exc:
            message = str(_l("Hồ sơ không hợp lệ (%(field)s): %(message)s", field=exc.field, message=exc.message))
            if exc.field == "required":
                self.required.errors = [*self.required.errors, message]
            elif exc.field == "limits":
                self.limit_title.errors = [*self.limit_title.errors, message]
            else:
                self.mapping_errors.append(message)
            return False
        return True


def _loads(text: str):
    """The JSON editor's text as data: json.JSONDecodeError where it is not JSON, a
    ProfileError ("invalid profile", as :func:`parse` refuses) where it is JSON that Python
    does not read: nested past the recursion limit, or a whole number past 4,300 digits."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ProfileError("profile", str(_l("JSON lồng nhau quá sâu."))) from None
    except ValueError:
        raise ProfileError("profile", str(_l("JSON có số quá dài."))) from None


class ProfileForm(BaseForm):
    profile = TextAreaField(_l("Hồ sơ sàn (JSON)"), validators=[Length(max=100_000)])

    def validate_profile(self, field):
        try:
            self.parsed = parse(_loads(field.data or ""))
        except json.JSONDecodeError as exc:
            raise ValidationError(str(_l("Không phải JSON hợp lệ (dòng %(line)d, cột %(col)d).",
                                         line=exc.lineno, col=exc.colno))) from None
        except ProfileError as exc:
            raise ValidationError(str(_l("Hồ sơ không hợp lệ (%(field)s): %(message)s",
                                         field=exc.field, message=exc.message))) from None


class CategoryForm(BaseForm):
    """One select per OCOP sub-group: the exchange's category for that group's products
    (fields ``group_<code>``, made by :func:`category_form`)."""


def category_field_name(group_code: str) -> str:
    return "group_" + group_code.replace(".", "_")


def category_form(groups, profile, formdata=None) -> CategoryForm:
    """The form for ``profile``'s category mapping over ``groups`` (OCOP sub-groups, each
    with ``code`` and a ``label``), filled with the profile's mapping."""
    class Form(CategoryForm):
        pass

    choices = [("", str(_l("— chưa gắn (sàn không nhận nhóm này) —")))] + [
        (code, f"{label} ({code})") for code, label in profile.category_list]
    for group in groups:
        setattr(Form, category_field_name(group.code), SelectField(group.label, choices=choices))
    data = {category_field_name(g.code): (profile.categories or {}).get(g.code, "") for g in groups}
    return Form(formdata=formdata, data=data)
