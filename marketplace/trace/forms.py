from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from ..forms_common import BaseForm, CommaDecimalField, coerce_int_or_none, strip
from ..vocab import EVENT_KIND_LABELS, UNIT_LABELS, domain_error
from ..models import UNITS
from ..validators import QUANTITY_PLACES
from ..trace.service import (BATCH_QUANTITY, GROWING_AREA_MAX, LOT_CODE, LOT_MAX, REQUIRED_DETAIL, date_problems,
                             event_time_problem)

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def _upper(value):
    return value.strip().upper() if isinstance(value, str) else value


class BatchForm(BaseForm):
    # validate_choice off: another tenant's product must answer 404 (owned_or_404), not a form error
    product_id = SelectField(_l("Sản phẩm"), coerce=coerce_int_or_none, validators=[DataRequired()],
                             validate_choice=False)
    lot_code = StringField(_l("Mã lô"), validators=[DataRequired(), Length(max=LOT_MAX)], filters=[_upper],
                           description=_l("Chữ in hoa, số và dấu gạch ngang, tối đa 20 ký tự, ví dụ DT-2025-01."))
    quantity = CommaDecimalField(_l("Số lượng"), places=QUANTITY_PLACES,
                                 validators=[DataRequired(), NumberRange(*BATCH_QUANTITY)])
    unit = SelectField(_l("Đơn vị"), validators=[DataRequired()])
    production_date = DateField(_l("Ngày sản xuất / thu hoạch (NSX)"), validators=[DataRequired()])
    expiry_date = DateField(_l("Hạn sử dụng (HSD)"), validators=[Optional()],
                            description=_l("Để trống để tính theo hạn sử dụng của sản phẩm."))
    growing_area = StringField(_l("Vùng trồng / thửa ruộng"), validators=[Optional(), Length(max=GROWING_AREA_MAX)],
                               filters=[strip])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unit.choices = [(u, UNIT_LABELS[u]) for u in UNITS]

    def validate_lot_code(self, field):
        if not LOT_CODE.fullmatch(field.data or ""):
            raise ValidationError(str(_l("Mã lô chỉ gồm chữ in hoa không dấu, số và dấu gạch ngang.")))

    def validate_production_date(self, field):
        self._date_problem(field)

    def validate_expiry_date(self, field):
        self._date_problem(field)

    def _date_problem(self, field):
        problem = date_problems(self.production_date.data, self.expiry_date.data).get(field.name)
        if problem:
            raise ValidationError(domain_error(problem))


class EventForm(BaseForm):
    """A diary entry in a few taps: kind, when (defaults to now), where, what."""

    kind = SelectField(_l("Công việc"), validators=[DataRequired()])
    date = DateField(_l("Ngày"), validators=[DataRequired()])
    time = TimeField(_l("Giờ"), validators=[Optional()])
    place = StringField(_l("Địa điểm"), validators=[Optional(), Length(max=200)], filters=[strip])
    description = TextAreaField(_l("Mô tả"), validators=[Optional(), Length(max=2000)], filters=[strip])
    # No Optional() on fields an inline validator requires for some kinds: it would stop the chain.
    input_name = StringField(_l("Tên vật tư (phân bón, thuốc, giống…)"), validators=[Length(max=120)], filters=[strip])
    input_quantity = StringField(_l("Lượng dùng"), validators=[Optional(), Length(max=60)], filters=[strip])
    input_lot = StringField(_l("Lô vật tư"), validators=[Optional(), Length(max=60)], filters=[strip])
    supplier = StringField(_l("Nơi mua / nhà cung cấp"), validators=[Optional(), Length(max=120)], filters=[strip])
    counterpart = StringField(_l("Bên giao / bên nhận"), validators=[Length(max=120)], filters=[strip])
    document_no = StringField(_l("Số chứng từ"), validators=[Optional(), Length(max=60)], filters=[strip])
    photo = FileField(_l("Ảnh (không bắt buộc)"))
    corrects_id = SelectField(_l("Sửa cho mục nhật ký"), coerce=coerce_int_or_none, validate_choice=False,
                              description=_l("Nhật ký không sửa, không xóa được: ghi một mục mới để đính chính mục cũ."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = list(EVENT_KIND_LABELS.items())

    def validate_date(self, field):
        problem = event_time_problem(self.occurred_at()) if field.data else None
        if problem:
            raise ValidationError(domain_error(problem))

    def _required_detail(self, field):
        if REQUIRED_DETAIL.get(self.kind.data) == field.name and not field.data:
            raise ValidationError(domain_error(f"{field.name}_required"))

    validate_counterpart = validate_input_name = _required_detail

    def occurred_at(self) -> dt.datetime:
        """The date at the time given; without one, noon, or now when noon is still to come."""
        when = dt.datetime.combine(self.date.data, self.time.data or dt.time(12, 0)).replace(tzinfo=LOCAL)
        if self.time.data is None:
            when = min(when, dt.datetime.now(LOCAL).replace(second=0, microsecond=0))
        return when

    def details(self) -> dict:
        return {name: self[name].data for name in ("input_name", "input_quantity", "input_lot", "supplier",
                                                   "counterpart", "document_no") if self[name].data}


class RecallForm(BaseForm):
    """A batch recall, sent from its confirmation page: ``confirm`` is "1" only there, so an
    older one-step form (or a stray post) leads to that page instead of recalling."""

    reason = TextAreaField(_l("Lý do thu hồi"), validators=[DataRequired(), Length(max=2000)], filters=[strip])
    confirm = HiddenField()

    @property
    def confirmed(self) -> bool:
        return self.confirm.data == "1"


class LiftRecallForm(BaseForm):
    note = TextAreaField(_l("Vì sao dỡ bỏ thu hồi (kết quả kiểm tra…)"), validators=[DataRequired(), Length(max=2000)],
                         filters=[strip])
