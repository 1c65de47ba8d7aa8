from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError

from ..forms_common import BaseForm, strip
from .serials import InvalidSerial, normalize
from .service import MAX_RUN


class RunForm(BaseForm):
    count = IntegerField(_l("Số tem"), validators=[InputRequired(), NumberRange(min=1, max=MAX_RUN)],
                         description=_l("Từ 1 đến 100.000 tem mỗi lần."))
    scratch = BooleanField(_l("Tem cào (mã bí mật dưới lớp phủ)"),
                           description=_l("Mỗi tem in thêm một mã bí mật trong ô “Mã cào” để dán lớp phủ cào lên; "
                                          "người mua cào ra và nhập mã để kiểm tra hàng thật."))


class VoidForm(BaseForm):
    """Void a whole run (leave everything empty), positions first…last, or serial … serial."""

    first = IntegerField(_l("Từ tem số"), validators=[Optional(), NumberRange(min=1, max=MAX_RUN)])
    last = IntegerField(_l("Đến tem số"), validators=[Optional(), NumberRange(min=1, max=MAX_RUN)])
    first_serial = StringField(_l("Hoặc từ mã tem"), validators=[Optional()], filters=[strip])
    last_serial = StringField(_l("đến mã tem"), validators=[Optional()], filters=[strip])

    def _serial(self, field):
        if field.data:
            try:
                field.data = normalize(field.data)
            except InvalidSerial:
                raise ValidationError(str(_l("Mã tem không đúng (kiểm tra lại từng ký tự).")))

    validate_first_serial = _serial
    validate_last_serial = _serial

    def validate_last(self, field):
        if field.data and self.first.data and field.data < self.first.data:
            raise ValidationError(str(_l("Số cuối phải lớn hơn hoặc bằng số đầu.")))
