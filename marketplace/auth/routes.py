"""Accounts: register, log in, log out, change password (docs/architecture.md, "Roles and tenancy")."""
from __future__ import annotations

import logging
import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from .. import two_factor
from ..catalogue.service import create_producer
from ..extensions import db, limiter
from ..forms_common import bind_ward_choices, refreshing_wards
from ..models import ApiToken, ProducerRole, User, UserRole
from ..models.base import utcnow
from ..passwords import hash_password, verify_password
from ..security import safe_next
from ..text import fold
from ..transactions import writes
from .forms import ChangePasswordForm, LoginForm, LogoutForm, RegisterForm, TokenForm

bp = Blueprint("auth", __name__, url_prefix="/account")
log = logging.getLogger("marketplace.auth")


def _client_limit():
    return current_app.config["LOGIN_RATE_PER_CLIENT"]


def _account_limit():
    return current_app.config["LOGIN_RATE_PER_ACCOUNT"]


def _account_key():
    return "login-account:" + fold(request.form.get("email", ""))[:254]


def _failed(response) -> bool:
    # A successful login redirects; anything else on POST counts against the limits.
    return response.status_code != 302


def home_for(user) -> str:
    if user.is_officer:
        return url_for("admin.index")
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
@writes
@limiter.limit(_client_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_account_limit, key_func=_account_key, methods=["POST"], deduct_when=_failed)
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.casefold()
        user = db.session.scalars(select(User).where(User.email == email)).first()
        if user is None:
            # Spend the same time as a real check so response time does not reveal accounts.
            verify_password(_dummy_hash(), form.password.data)
        elif verify_password(user.password_hash, form.password.data):
            if not user.active:
                # Only someone who knows the password learns that the account is locked.
                log.warning("login refused: locked", extra={"event": "login_locked", "user_id": user.id})
                form.email.errors.append(_("Tài khoản này đã bị khóa. Hãy liên hệ chủ cơ sở hoặc cán bộ huyện."))
                return render_template("auth/login.html", form=form)
            if two_factor.needed_at_login(user):  # not logged in until the code (auth/second_factor.py)
                log.info("password ok, second factor next", extra={"event": "login_password", "user_id": user.id})
                return start_second_factor(user, remember=form.remember.data,
                                           next_url=safe_next(request.args.get("next")))
            login_user(user, remember=form.remember.data)
            user.last_login_at = utcnow()
            db.session.commit()
            log.info("login ok", extra={"event": "login", "user_id": user.id})
            return redirect(safe_next(request.args.get("next")) or home_for(user))
        log.warning("login failed", extra={"event": "login_failed", "user_id": user.id if user else None})
        form.password.errors.append(_("Email hoặc mật khẩu không đúng."))
    return render_template("auth/login.html", form=form)


PENDING = "second_factor"  # session key: {"user": session token, "remember", "next", "until"}


def start_second_factor(user: User, *, remember: bool, next_url: str | None):
    """After the password: remember who is half-way in, and send them to the code (or to
    enrolment, when they have none yet)."""
    session[PENDING] = {"user": user.session_token, "remember": bool(remember), "next": next_url,
                        "until": time.time() + current_app.config["TWO_FACTOR_PENDING_SECONDS"]}
    return redirect(url_for("auth.second_factor" if user.has_second_factor else "auth.enrol_second_factor"))


_DUMMY = {}


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY:
        _DUMMY[method] = hash_password("dummy-password-for-timing", method)
    return _DUMMY[method]


def _registered(response) -> bool:
    return response.status_code == 302


@bp.route("/register", methods=["GET", "POST"])
@writes
@limiter.limit(lambda: current_app.config["REGISTER_RATE_PER_CLIENT"], methods=["POST"], deduct_when=_registered)
def register():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = RegisterForm()
    bind_ward_choices(form)
    if not refreshing_wards() and form.validate_on_submit():
        email = form.email.data.casefold()
        if db.session.scalars(select(User.id).where(User.email == email)).first() is not None:
            form.email.errors.append(_("Email này đã được đăng ký. Hãy đăng nhập."))
        else:
            producer = create_producer(db.session, {
                "kind": form.kind.data, "name": form.producer_name.data,
                "representative": form.name.data, "phone": form.phone.data,
                "email": email, "tax_code": form.tax_code.data,
                "province_code": form.province_code.data, "ward_code": form.ward_code.data,
            })
            user = User(
                email=email, name=form.name.data, role=UserRole.producer.value,
                producer=producer, producer_role=ProducerRole.owner.value,
                password_hash=hash_password(form.password.data, current_app.config["PASSWORD_HASH_METHOD"]),
            )
            db.session.add(user)
            db.session.commit()
            login_user(user)
            flash(_("Đã tạo tài khoản. Hồ sơ của bạn đang chờ cán bộ huyện duyệt; trong lúc chờ, bạn có thể nhập sản phẩm."), "success")
            return redirect(url_for("dashboard.index"))
    return render_template("auth/register.html", form=form)


@bp.route("/logout", methods=["POST"])
@writes
def logout():
    form = LogoutForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        current_user.revoke_sessions()
        db.session.commit()
        logout_user()
        flash(_("Bạn đã đăng xuất."), "info")
    return redirect(url_for("catalogue.index"))


@bp.route("/", methods=["GET"])
@login_required
def account():
    return render_template("auth/account.html")


def _user_key():
    return f"password-change:{current_user.id}" if current_user.is_authenticated else get_remote_address()


@bp.route("/password", methods=["GET", "POST"])
@writes
@login_required
@limiter.limit(lambda: current_app.config["PASSWORD_CHANGE_RATE"], key_func=_user_key, methods=["POST"],
               deduct_when=_failed)
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.current.data):
            form.current.errors.append(_("Mật khẩu hiện tại không đúng."))
        else:
            user = current_user._get_current_object()
            user.password_hash = hash_password(form.password.data, current_app.config["PASSWORD_HASH_METHOD"])
            user.revoke_credentials()  # every other session, remember cookie and API token stops working
            db.session.commit()
            login_user(user)  # this browser continues with the new token
            flash(_("Đã đổi mật khẩu. Các phiên đăng nhập khác đã bị đăng xuất và các mã truy cập API đã bị thu hồi."), "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/password.html", form=form)


MAX_TOKENS = 20  # active tokens per account


@bp.route("/tokens", methods=["GET", "POST"])
@writes
@login_required
def tokens():
    """Personal access tokens for ``/api/v1``: created here, shown once, revocable."""
    form, secret = TokenForm(), None
    user = current_user._get_current_object()
    active = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                                .order_by(ApiToken.id.desc())).all()
    if form.validate_on_submit():
        if len(active) >= MAX_TOKENS:
            form.name.errors.append(_("Tối đa %(n)d mã đang dùng: thu hồi một mã cũ trước.", n=MAX_TOKENS))
        else:
            token, secret = ApiToken.issue(user, form.name.data)
            db.session.add(token)
            db.session.commit()
            log.info("api token created", extra={"event": "api_token.create", "user_id": user.id, "token_id": token.id})
            active.insert(0, token)
            form = TokenForm(formdata=None)
    response = current_app.make_response(render_template("auth/tokens.html", form=form, tokens=active, secret=secret,
                                                          revoke_form=LogoutForm()))
    response.headers["Cache-Control"] = "no-store"  # the secret is on this page once
    return response


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@writes
@login_required
def revoke_token(token_id: int):
    token = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == current_user.id))
    if token is None:
        abort(404)
    if LogoutForm().validate_on_submit() and token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
        log.info("api token revoked", extra={"event": "api_token.revoke", "user_id": current_user.id,
                                             "token_id": token.id})
        flash(_("Đã thu hồi mã truy cập “%(name)s”.", name=token.name), "success")
    return redirect(url_for("auth.tokens"))
