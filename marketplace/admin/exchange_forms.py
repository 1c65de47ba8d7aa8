"""Officers' forms for an exchange: push settings and the profile (docs/architecture.md, "Exchanges")."""
from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from ..feeds import push
from ..feeds.profiles import ProfileError, parse
from ..forms_common import BaseForm, strip


class PushSettingsForm(BaseForm):
    endpoint_url = StringField(_l("Địa chỉ nhận (endpoint) của sàn"), validators=[Optional(), Length(max=500)],
                               filters=[strip], description=_l("https://… — để trống nếu sàn chỉ lấy tệp hoặc feed."))
    enabled = BooleanField(_l("Tự động đẩy thay đổi sang sàn này"))

    def validate_endpoint_url(self, field):
        if field.data:
            try:
                push.check_url(field.data)
            except push.EndpointRefused as exc:
                raise ValidationError(str(_l("Địa chỉ không dùng được: %(reason)s", reason=exc.reason))) from None

    def validate_enabled(self, field):
        if field.data and not self.endpoint_url.data:
            raise ValidationError(str(_l("Nhập địa chỉ nhận trước khi bật tự động đẩy.")))


class ProfileForm(BaseForm):
    profile = TextAreaField(_l("Hồ sơ sàn (JSON)"), validators=[Length(max=100_000)])

    def validate_profile(self, field):
        try:
            self.parsed = parse(json.loads(field.data or ""))
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
