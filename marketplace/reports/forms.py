"""The buyer's report form, and the words for reasons and refusals."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import SelectChoice, SelectField, StringField, TextAreaField

from ..forms_common import BaseForm
from ..models import ReportReason
from . import service

REASON_LABELS = {
    ReportReason.copied_stamp.value: _l("Tem bị sao chép, tem giả"),
    ReportReason.wrong_product.value: _l("Sản phẩm không đúng với tem"),
    ReportReason.spoiled.value: _l("Sản phẩm hỏng, kém chất lượng"),
    ReportReason.other.value: _l("Lý do khác"),
}
# service.field_problems codes → the message under the field
PROBLEMS = {
    "reason": _l("Hãy chọn một lý do trong danh sách."),
    "note_too_long": _l("Mô tả dài tối đa %(n)d ký tự.", n=service.NOTE_MAX),
    "note_required": _l("Hãy mô tả ngắn điều bạn thấy đáng ngờ."),
    "phone": _l("Số điện thoại không hợp lệ (ví dụ 0912 345 678)."),
}


def reason_label(code: str) -> str:
    label = REASON_LABELS.get(code)
    return str(label) if label is not None else code


class ReportForm(BaseForm):
    reason = SelectField(_l("Lý do"), validate_choice=False,
                         choices=[SelectChoice("", _l("— Chọn lý do —"))]
                         + [SelectChoice(code, label) for code, label in REASON_LABELS.items()])
    code = StringField(_l("Mã trên tem (in dưới mã QR)"),
                       description=_l("Không bắt buộc. 16 ký tự, ví dụ K7M2 P9QX 4RT8 W3ZA."))
    note = TextAreaField(_l("Mô tả"), description=_l("Tối đa %(n)d ký tự: nơi mua, ngày mua, điều bạn thấy.",
                                                      n=service.NOTE_MAX))
    phone = StringField(_l("Số điện thoại của bạn"),
                        description=_l("Không bắt buộc. Chỉ cán bộ quản lý xem được, để gọi lại khi cần."))
    photo = FileField(_l("Ảnh sản phẩm hoặc tem"),
                      description=_l("Không bắt buộc. JPEG, PNG hoặc WebP, tối đa 5 MB. Vị trí và thông tin máy "
                                     "ảnh trong tệp được xóa."))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        problems = service.field_problems(reason=self.reason.data, note=self.note.data or "",
                                          phone=self.phone.data or "")
        for name, code in problems.items():
            self[name].errors = [*self[name].errors, str(PROBLEMS[code])]
        return valid and not problems

    @property
    def has_photo(self) -> bool:
        return bool(self.photo.data and getattr(self.photo.data, "filename", ""))
