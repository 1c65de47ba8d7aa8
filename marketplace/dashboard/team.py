"""A producer's own accounts: the owner adds staff logins and locks them (docs/architecture.md, "Roles and tenancy")."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from ..access import owned_or_404, producer_required, register_owner
from ..extensions import db
from ..models import Producer, ProducerRole, User, UserRole
from ..passwords import hash_password
from ..transactions import writes
from .forms import StaffForm
from .routes import bp, owner_required

register_owner(User, lambda: (User.producer_id, None))


@bp.route("/team", methods=["GET", "POST"])
@writes
@producer_required
def team():
    me = db.session.get(Producer, current_user.producer_id)
    owner_required(me)
    form = StaffForm()
    if form.validate_on_submit():
        email = form.email.data.casefold()
        if db.session.scalars(select(User.id).where(User.email == email)).first() is not None:
            form.email.errors.append(_("Email này đã được đăng ký."))
        else:
            db.session.add(User(
                email=email, name=form.name.data, role=UserRole.producer.value, producer=me,
                producer_role=ProducerRole.staff.value,
                password_hash=hash_password(form.password.data, current_app.config["PASSWORD_HASH_METHOD"]),
            ))
            db.session.commit()
            flash(_("Đã tạo tài khoản nhân viên."), "success")
            return redirect(url_for("dashboard.team"))
    members = db.session.scalars(select(User).where(User.producer_id == me.id).order_by(User.email)).all()
    return render_template("dashboard/team.html", form=form, users=members, producer=me, action_form=FlaskForm())


@bp.route("/team/<int:user_id>/active", methods=["POST"])
@writes
@producer_required
def set_staff_active(user_id: int):
    """Lock or unlock a staff login of the owner's own producer (never an owner's)."""
    user = owned_or_404(User, user_id)
    if user.producer_id != current_user.producer_id or user.producer_role != ProducerRole.staff.value:
        abort(404)
    owner_required(user.producer)
    if not FlaskForm().validate_on_submit():
        abort(400)
    user.active = request.form.get("active") == "1"
    user.revoke_credentials()
    db.session.commit()
    flash(_("Đã cập nhật tài khoản."), "success")
    return redirect(url_for("dashboard.team"))
