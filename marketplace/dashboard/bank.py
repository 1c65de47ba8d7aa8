"""The producer's bank account for buyers' VietQR transfers (issue 20): set by an owner,
audited, and noticed on the owners' dashboard until one of them says they saw the change."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from .. import vietqr
from ..access import producer_required
from ..catalogue import payments
from ..extensions import db
from ..models import Producer
from ..transactions import writes
from ..vocab import transfer_error
from .forms import BankAccountForm
from .routes import bp, owner_required


def _mine() -> Producer:
    me = db.session.get(Producer, current_user.producer_id)
    owner_required(me)
    return me


@bp.route("/bank", methods=["GET", "POST"])
@writes
@producer_required
def bank_account():
    me = _mine()
    account = me.bank_account
    form = BankAccountForm(obj=account)
    form.bank_bin.choices = [("", _("— chọn ngân hàng —"))] + [
        (b.bin, f"{b.short_name} — {b.name}") for b in vietqr.banks()]
    status = 200
    if form.validate_on_submit():
        try:
            payments.set_bank_account(db.session, me, bank_bin=form.bank_bin.data,
                                      account_number=form.account_number.data,
                                      account_name=form.account_name.data, actor=current_user)
        except vietqr.VietQRError as exc:
            getattr(form, exc.field).errors.append(transfer_error(exc.code))
        else:
            db.session.commit()
            flash(_("Đã lưu tài khoản nhận tiền."), "success")
            return redirect(url_for("dashboard.bank_account"))
    if form.errors:
        status = 422
    source, retrieved = vietqr.source()
    return render_template("dashboard/bank.html", form=form, account=account, me=me, remove_form=FlaskForm(),
                           source=source, retrieved=retrieved), status


@bp.route("/bank/remove", methods=["POST"])
@writes
@producer_required
def remove_bank_account():
    me = _mine()
    if FlaskForm().validate_on_submit() and payments.remove_bank_account(db.session, me, actor=current_user):
        db.session.commit()
        flash(_("Đã gỡ tài khoản: trang sản phẩm không còn mã chuyển khoản."), "success")
    return redirect(url_for("dashboard.bank_account"))


@bp.route("/bank/seen", methods=["POST"])
@writes
@producer_required
def bank_account_seen():
    me = _mine()
    if FlaskForm().validate_on_submit() and me.bank_account is not None:
        payments.acknowledge(me.bank_account)
        db.session.commit()
    return redirect(url_for("dashboard.index"))
