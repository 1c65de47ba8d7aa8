"""Officers' forms for an exchange: push settings and the profile (docs/architecture.md, "Exchanges")."""
from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField, TextAreaField
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
