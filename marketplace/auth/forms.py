from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from ..forms_common import (BaseForm, 
    Phone,
    ProvinceField,
    StrongPassword,
    TaxCode,
    WardField,
    WardInProvince,
    producer_kind_choices,
    strip,
)


class LoginForm(BaseForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)], filters=[strip])
    password = PasswordField(_l("Mật khẩu"), validators=[DataRequired(), Length(max=128)])
    remember = BooleanField(_l("Ghi nhớ đăng nhập trên máy này"))


class RegisterForm(BaseForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)], filters=[strip])
    name = StringField(_l("Họ và tên"), validators=[DataRequired(), Length(max=120)], filters=[strip])
    password = PasswordField(_l("Mật khẩu"), validators=[DataRequired(), StrongPassword()],
                             description=_l("8–128 ký tự."))
    confirm = PasswordField(_l("Nhập lại mật khẩu"), validators=[DataRequired(), EqualTo("password", message=_l("Hai mật khẩu không khớp."))])
    kind = SelectField(_l("Loại chủ thể"), choices=producer_kind_choices(), validators=[DataRequired()])
    producer_name = StringField(_l("Tên cơ sở / HTX / doanh nghiệp"), validators=[DataRequired(), Length(max=200)], filters=[strip])
    phone = StringField(_l("Số điện thoại"), validators=[DataRequired(), Phone()], filters=[strip])
    tax_code = StringField(_l("Mã số thuế / số đăng ký kinh doanh"), validators=[Optional(), TaxCode()], filters=[strip])
    province_code = ProvinceField(validators=[DataRequired()])
    ward_code = WardField(validators=[WardInProvince()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = producer_kind_choices()


class ChangePasswordForm(BaseForm):
    current = PasswordField(_l("Mật khẩu hiện tại"), validators=[DataRequired(), Length(max=128)])
    password = PasswordField(_l("Mật khẩu mới"), validators=[DataRequired(), StrongPassword()])
    confirm = PasswordField(_l("Nhập lại mật khẩu mới"), validators=[DataRequired(), EqualTo("password", message=_l("Hai mật khẩu không khớp."))])


class LogoutForm(BaseForm):
    """Logout is a POST with a CSRF token, so another site cannot log a user out."""


class TokenForm(BaseForm):
    """A personal access token for the JSON API, named after where it will be used."""

    name = StringField(_l("Tên gợi nhớ (dùng ở đâu)"), validators=[DataRequired(), Length(max=80)], filters=[strip],
                       description=_l("Ví dụ: phần mềm kho của HTX, ứng dụng điện thoại."))
