from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, StopValidation, ValidationError

from ..forms_common import BaseForm, strip
from ..models.base import local_today
from ..vocab import ISSUER_LEVELS

DISTRICTS_ENDED = dt.date(2025, 7, 1)  # Vietnam's two-level local government: no districts since


class DecisionField(RadioField):
    """Radio buttons with none chosen beforehand: the officer picks the outcome, and sending
    the form without one is a single clear error (not WTForms' "Not a valid choice" and
    "This field is required" together)."""

    missing = None  # the message when none is chosen (the form sets it)
    REQUIRED = "This field is required."  # else WTForms' own, in the page's language (forms_common)

    def pre_validate(self, form):
        if self.data in (None, ""):
            raise StopValidation(str(self.missing or self.gettext(self.REQUIRED)))
        super().pre_validate(form)


class ReviewForm(BaseForm):
    """Approve or reject a pending product; a rejection needs a reason the producer will read.
    No decision is chosen beforehand (issue 17): a slip of the thumb must not publish."""

    DECISIONS = (("approve", _l("Duyệt")), ("reject", _l("Từ chối")))
    NEEDS_REASON = ("reject",)
    MISSING = _l("Hãy chọn duyệt hay từ chối.")  # the error when no decision is chosen

    decision = DecisionField(_l("Quyết định"))
    # No Optional(): it would stop the chain before validate_note() asks for a reason.
    note = TextAreaField(_l("Lý do (bắt buộc khi từ chối hoặc tạm ngừng)"), validators=[Length(max=2000)], filters=[strip])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.decision.choices = list(self.DECISIONS)
        self.decision.missing = self.MISSING

    def validate_note(self, field):
        if self.decision.data in self.NEEDS_REASON and not field.data:
            raise ValidationError(str(_l("Hãy ghi lý do để chủ thể biết cần sửa gì.")))


class ProducerReviewForm(ReviewForm):
    """Producers can also be suspended (their products leave the catalogue) and reinstated."""

    DECISIONS = (("approve", _l("Duyệt")), ("reject", _l("Từ chối")),
                 ("suspend", _l("Tạm ngừng")))
    NEEDS_REASON = ("reject", "suspend")
    MISSING = _l("Hãy chọn duyệt, từ chối hoặc tạm ngừng.")


class OcopForm(BaseForm):
    stars = SelectField(_l("Hạng sao"), coerce=int, choices=[(3, "3★"), (4, "4★"), (5, "5★")])
    score = IntegerField(_l("Điểm"), validators=[Optional(), NumberRange(min=0, max=100)])
    decision_no = StringField(_l("Số quyết định"), validators=[DataRequired(), Length(max=64)], filters=[strip])
    decision_date = DateField(_l("Ngày quyết định"), validators=[DataRequired()])
    certificate_no = StringField(_l("Số giấy chứng nhận"), validators=[Optional(), Length(max=64)], filters=[strip])
    issuer_level = SelectField(_l("Cấp công nhận"), validators=[DataRequired()])
    issuer_name = StringField(_l("Cơ quan công nhận"), validators=[DataRequired(), Length(max=200)], filters=[strip])
    valid_until = DateField(_l("Có hiệu lực đến (để trống = 36 tháng từ ngày quyết định)"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.issuer_level.choices = list(ISSUER_LEVELS.items())

    def validate_decision_date(self, field):
        # The OCOP programme began in 2018 (Decision 490/QĐ-TTg); decisions are never future-dated.
        if field.data and not dt.date(2018, 1, 1) <= field.data <= local_today():
            raise ValidationError(str(_l("Ngày quyết định phải từ năm 2018 đến hôm nay.")))

    def validate_valid_until(self, field):
        if field.data and self.decision_date.data and field.data <= self.decision_date.data:
            raise ValidationError(str(_l("Ngày hết hiệu lực phải sau ngày quyết định.")))
        if field.data and field.data.year > 2100:
            raise ValidationError(str(_l("Ngày hết hiệu lực không hợp lệ.")))

    def validate_stars(self, field):
        if field.data == 5 and self.issuer_level.data != "central":
            raise ValidationError(str(_l("Sản phẩm 5 sao do Trung ương công nhận.")))

    def validate_issuer_level(self, field):
        """3–4 stars: the province (a district before July 2025, when districts ended);
        5 stars: the central level (checked with the stars)."""
        if field.data == "central" and self.stars.data in (3, 4):
            raise ValidationError(str(_l("Sản phẩm 3–4 sao do UBND cấp tỉnh công nhận; Trung ương công nhận 5 sao.")))
        if field.data == "district" and self.decision_date.data and self.decision_date.data >= DISTRICTS_ENDED:
            raise ValidationError(str(_l("Từ 01/07/2025 không còn cấp huyện: quyết định do UBND cấp tỉnh ban hành.")))
