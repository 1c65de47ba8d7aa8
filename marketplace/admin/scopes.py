"""An officer's jurisdiction (issue 18), set by an admin: the whole province, or a list of
its communes and wards.  A commune officer sees, decides, recalls and counts only the
producers of its communes (``access.owned_producer_ids``); recognising OCOP stars and the
exchanges stay with the province's officers (``access.province_required``)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectMultipleField
from wtforms.validators import InputRequired, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .. import audit, geo
from ..access import PROVINCE, admin_required, owned_or_404
from ..extensions import db
from ..forms_common import BaseForm
from ..models import OfficerScope, User, UserRole
from ..transactions import writes
from .routes import bp

def scope_snapshot(user: User) -> dict:
    return {"scope": user.scope, "wards": [w.ward_code for w in user.scope_wards]}


class ScopeForm(BaseForm):
    scope = RadioField(_l("Phạm vi"), choices=[(OfficerScope.province.value, _l("Toàn tỉnh")),
                                                (OfficerScope.communes.value, _l("Một số xã/phường"))],
                       validators=[InputRequired(message=_l("Chọn toàn tỉnh hay một số xã/phường."))])
    wards = SelectMultipleField(_l("Xã/phường"), coerce=int, widget=ListWidget(prefix_label=False),
                                option_widget=CheckboxInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.wards.choices = [(w.code, w.name) for w in geo.wards_of(PROVINCE)]

    def validate_wards(self, field):
        if self.scope.data == OfficerScope.communes.value and not field.data:
            raise ValidationError(str(_l("Chọn ít nhất một xã/phường.")))


@bp.route("/users/<int:user_id>/scope", methods=["GET", "POST"])
@writes
@admin_required
def user_scope(user_id: int):
    user = owned_or_404(User, user_id)
    if user.role != UserRole.officer.value:  # admins act for the province; producers have no jurisdiction
        abort(404)
    form = ScopeForm(data={"scope": user.scope, "wards": [w.ward_code for w in user.scope_wards]})
    if form.validate_on_submit():
        before = scope_snapshot(user)
        user.set_scope(None if form.scope.data == OfficerScope.province.value else form.wards.data)
        audit.record(db.session, "user.scope", user, summary=user.email, before=before, after=scope_snapshot(user))
        db.session.commit()
        flash(_("Đã cập nhật phạm vi của %(email)s: %(scope)s.", email=user.email, scope=scope_label(user)), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/user_scope.html", user=user, form=form), 422 if form.errors else 200


@bp.app_template_global()
def scope_label(user: User) -> str:
    """"Toàn tỉnh", or the communes' names (the users list, the flash)."""
    wards = user.ward_scope
    if wards is None:
        return _("Toàn tỉnh")
    names = [geo.ward(code).name for code in sorted(wards) if geo.ward(code) is not None]
    return ", ".join(names) or _("Chưa có xã/phường nào")
