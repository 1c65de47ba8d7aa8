"""The second step of logging in (issue 18, point 4).  After the right password, an officer,
an admin, or a producer who turned it on is not logged in yet: the session only remembers
who is half-way (``PENDING``, for ``TWO_FACTOR_PENDING_SECONDS``), and no page that needs a
login opens until a one-time code from the authenticator app, or an unused recovery code,
is given here.  An officer or admin without a second factor enrols first (a QR for any
authenticator app, then ten recovery codes shown once).  Wrong codes are rate-limited per
account; a code is accepted once; enrolment, each use of a recovery code, turning it off
and an admin's reset are in the audit trail.  API tokens are separate credentials and are
not affected."""
from __future__ import annotations

import time

from flask import current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user
from sqlalchemy import or_, select, update
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from .. import audit, two_factor
from ..extensions import db, limiter
from ..forms_common import BaseForm, strip
from ..models import RecoveryCode, User
from ..models.base import utcnow
from ..printing.qr import qr_svg
from ..security import safe_next
from ..transactions import writes
from .routes import PENDING, bp, home_for

ENROL_SECRET = "second_factor_enrol"


class CodeForm(BaseForm):
    code = StringField(_l("Mã xác thực"), validators=[DataRequired(message=_l("Nhập mã 6 số trong ứng dụng xác thực.")),
                                                       Length(max=32)], filters=[strip],
                       description=_l("6 số trong ứng dụng xác thực (Google Authenticator, Microsoft Authenticator…), "
                                      "hoặc một mã khôi phục."))


def _pending_user() -> User | None:
    state = session.get(PENDING)
    if not isinstance(state, dict) or state.get("until", 0) < time.time():
        return None
    return db.session.scalars(select(User).where(User.session_token == state.get("user"),
                                                 User.active.is_(True))).first()


def _pending_key() -> str:
    state = session.get(PENDING)
    token = state.get("user") if isinstance(state, dict) else None
    if current_user.is_authenticated:
        token = current_user.session_token
    return "second-factor:" + (token or get_remote_address())


def _failed(response) -> bool:
    return response.status_code != 302


def _finish(user: User):
    """The second factor is given: log in as the password form asked (remember me, next)."""
    state = session.pop(PENDING, {}) or {}
    login_user(user, remember=bool(state.get("remember")))
    user.last_login_at = utcnow()
    db.session.commit()
    return redirect(safe_next(state.get("next")) or home_for(user))


def _accept_code(user: User, typed: str) -> bool:
    """A TOTP code of an accepted step later than the last one taken (taken atomically: two
    requests racing with one code cannot both pass)."""
    step = two_factor.verify_code(user.totp_secret, typed, now=utcnow(), last_step=user.totp_last_step)
    if step is None:
        return False
    taken = db.session.execute(update(User).where(User.id == user.id, or_(User.totp_last_step.is_(None),
                                                                             User.totp_last_step < step))
                               .values(totp_last_step=step).execution_options(synchronize_session=False))
    return taken.rowcount == 1


def _accept_recovery_code(user: User, typed: str) -> RecoveryCode | None:
    digest = two_factor.recovery_hash(typed)
    if digest is None:
        return None
    code = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                         RecoveryCode.code_hash == digest)).first()
    if code is None:
        return None
    taken = db.session.execute(update(RecoveryCode).where(RecoveryCode.id == code.id, RecoveryCode.used_at.is_(None))
                               .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return code if taken.rowcount == 1 else None


@bp.route("/two-factor", methods=["GET", "POST"])
@writes
@limiter.limit(lambda: current_app.config["TWO_FACTOR_RATE"], key_func=_pending_key, methods=["POST"],
               deduct_when=_failed)
def second_factor():
    user = _pending_user()
    if user is None:
        flash(_("Hãy đăng nhập lại: bước nhập mã đã hết thời gian."), "warning")
        return redirect(url_for("auth.login"))
    if not user.has_second_factor:
        return redirect(url_for("auth.enrol_second_factor"))
    form = CodeForm()
    if form.validate_on_submit():
        if _accept_code(user, form.code.data):
            return _finish(user)
        recovery = _accept_recovery_code(user, form.code.data)
        if recovery is not None:
            left = sum(1 for c in user.recovery_codes if c.used_at is None and c.id != recovery.id)
            response = _finish(user)
            audit.record(db.session, "user.2fa_recovery_code", user, summary=user.email, after={"left": left})
            db.session.commit()
            flash(_("Đã dùng một mã khôi phục; còn %(n)d mã. Nếu điện thoại bị mất, hãy nhờ quản trị viên đặt lại "
                    "xác thực hai bước.", n=left), "warning")
            return response
        db.session.rollback()
        form.code.errors.append(_("Mã không đúng, đã hết hạn hoặc đã được dùng. Hãy nhập mã đang hiện trong ứng dụng."))
    return render_template("auth/second_factor.html", form=form, user=user), 422 if form.errors else 200


def _enrolling_user() -> User | None:
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return _pending_user()


@bp.route("/two-factor/setup", methods=["GET", "POST"])
@writes
@limiter.limit(lambda: current_app.config["TWO_FACTOR_RATE"], key_func=_pending_key, methods=["POST"],
               deduct_when=lambda response: response.status_code not in (200, 302))
def enrol_second_factor():
    """A QR (and the secret, to type in) for an authenticator app; the first code it shows
    turns the second factor on, and the recovery codes are shown once."""
    user = _enrolling_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.has_second_factor:
        flash(_("Xác thực hai bước đã được bật cho tài khoản này."), "info")
        return redirect(url_for("auth.account") if current_user.is_authenticated else url_for("auth.second_factor"))
    secret = session.get(ENROL_SECRET)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = session[ENROL_SECRET] = two_factor.new_secret()
    form = CodeForm()
    if form.validate_on_submit():
        step = two_factor.verify_code(secret, form.code.data, now=utcnow(), last_step=None)
        if step is not None:
            return _enrolled(user, secret, step)
        form.code.errors.append(_("Mã không đúng. Kiểm tra giờ trên điện thoại rồi nhập mã đang hiện."))
    uri = two_factor.provisioning_uri(secret, user.email, current_app.config["TOTP_ISSUER"])
    response = current_app.make_response((render_template(
        "auth/enrol_second_factor.html", form=form, user=user, qr=qr_svg(uri), uri=uri,
        secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4))), 422 if form.errors else 200))
    response.headers["Cache-Control"] = "no-store"  # the secret is on this page
    return response


def _enrolled(user: User, secret: str, step: int):
    session.pop(ENROL_SECRET, None)
    codes = two_factor.new_recovery_codes()
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = secret, utcnow(), step
    user.recovery_codes = [RecoveryCode(code_hash=two_factor.recovery_hash(code)) for code in codes]
    next_url = None
    if not current_user.is_authenticated:  # enrolled while logging in: now logged in
        state = session.pop(PENDING, {}) or {}
        login_user(user, remember=bool(state.get("remember")))
        user.last_login_at = utcnow()
        next_url = safe_next(state.get("next"))
    audit.record(db.session, "user.2fa_enrol", user, summary=user.email)
    db.session.commit()
    response = current_app.make_response(render_template("auth/recovery_codes.html", codes=codes,
                                                          next_url=next_url or home_for(user)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/two-factor/disable", methods=["POST"])
@writes
@login_required
@limiter.limit(lambda: current_app.config["TWO_FACTOR_RATE"], key_func=_pending_key, deduct_when=_failed)
def disable_second_factor():
    """A producer turns it off with a current code; officers and admins cannot (they must
    have one; an admin resets a lost one)."""
    user = current_user._get_current_object()
    if two_factor.required_for(user):
        flash(_("Tài khoản cán bộ và quản trị viên luôn cần xác thực hai bước."), "error")
        return redirect(url_for("auth.account"))
    form = CodeForm()
    if user.has_second_factor and form.validate_on_submit() and _accept_code(user, form.code.data):
        user.clear_second_factor()
        audit.record(db.session, "user.2fa_disable", user, summary=user.email)
        db.session.commit()
        flash(_("Đã tắt xác thực hai bước."), "success")
        return redirect(url_for("auth.account"))
    db.session.rollback()
    flash(_("Mã không đúng: xác thực hai bước vẫn bật."), "error")
    return redirect(url_for("auth.account"), code=303)  # not a 302: counted against the limit
