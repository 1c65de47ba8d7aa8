"""Officers' pages for the exchanges (under ``/admin``): settings, tokens and secrets shown
once, the profile mapping, pre-flight refusals and the deliveries (docs/architecture.md, "Exchanges")."""
from __future__ import annotations

import json
from types import SimpleNamespace

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import audit
from ..access import officer_required, owned_or_404, province_required, scoped
from ..extensions import db
from ..feeds import listings, push, worker
from ..feeds.profiles import exchange_short_name, profile_of, shipped
from ..feeds.service import all_exchanges, configure_push, enqueue_all, preflight
from ..i18n import current_language
from ..catalogue.service import sub_groups
from ..models import Delivery, DeliveryStatus, Exchange, Product
from ..vocab import DELIVERY_STATUS_LABELS, domain_error
from ..transactions import writes
from .exchange_forms import ProfileFieldsForm, ProfileForm, PushSettingsForm, category_field_name, category_form
from .routes import bp, render_product

PUSH_FIELDS = ("endpoint_url", "enabled")

DELIVERY_PAGE = 100


def _exchange_or_404(code: str) -> Exchange:
    exchange = db.session.scalars(select(Exchange).where(Exchange.code == code)).first()
    if exchange is None:
        abort(404)
    return exchange


def _counts() -> dict:
    counts: dict = {}
    for exchange_id, status, n in db.session.execute(
            select(Delivery.exchange_id, Delivery.status, func.count()).group_by(Delivery.exchange_id, Delivery.status)):
        counts.setdefault(exchange_id, {})[status] = n
    return counts


@bp.route("/exchanges")
@province_required
def exchanges():
    found = all_exchanges(db.session)
    refused = preflight(db.session, found, base_url=current_app.config["PUBLIC_BASE_URL"])
    return render_template("admin/exchanges.html", exchanges=found, counts=_counts(), refused=refused)


def _render_exchange(exchange: Exchange, *, settings_form=None, profile_form=None, fields_form=None, shown=None,
                     status=200):
    """The exchange's page: settings, the profile as a form (and as JSON under "advanced"),
    the products it would refuse."""
    profile = profile_of(exchange)
    settings_form = settings_form or PushSettingsForm(obj=exchange)
    profile_form = profile_form or ProfileForm(formdata=None, data={
        "profile": json.dumps(profile.as_dict(), ensure_ascii=False, indent=2)})
    fields_form = fields_form or ProfileFieldsForm.of(profile)
    refused = preflight(db.session, [exchange], base_url=current_app.config["PUBLIC_BASE_URL"])
    return render_template("admin/exchange.html", exchange=exchange, settings_form=settings_form,
                           profile_form=profile_form, fields_form=fields_form, action_form=FlaskForm(),
                           refused=refused, counts=_counts().get(exchange.id, {}), shown=shown,
                           edited=exchange.profile is not None), status


@bp.route("/exchanges/<code>", methods=["GET", "POST"])
@writes
@province_required
def exchange(code: str):
    exchange = _exchange_or_404(code)
    form = PushSettingsForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _render_exchange(exchange, settings_form=form, status=422)
        before = audit.snapshot(exchange, PUSH_FIELDS)
        try:
            generated = configure_push(exchange, endpoint=form.endpoint_url.data, enabled=form.enabled.data,
                                       allow_private=current_app.config["PUSH_ALLOW_PRIVATE"])
        except push.EndpointRefused as exc:
            db.session.rollback()
            form.endpoint_url.errors.append(_("Địa chỉ không dùng được: %(reason)s", reason=exc.reason))
            return _render_exchange(exchange, settings_form=form, status=422)
        audit.record(db.session, "exchange.settings", exchange, summary=exchange.code, before=before,
                     after=dict(audit.snapshot(exchange, PUSH_FIELDS), new_secret=bool(generated)))
        db.session.commit()
        if generated:
            flash(_("Đã lưu. Khóa ký mới được tạo (chỉ hiện một lần bên dưới)."), "success")
            return _render_exchange(exchange, shown={"kind": "secret", "value": generated})
        flash(_("Đã lưu cài đặt của sàn."), "success")
        return redirect(url_for("admin.exchange", code=code))
    return _render_exchange(exchange)


@bp.route("/exchanges/<code>/token", methods=["POST"])
@writes
@province_required
def exchange_token(code: str):
    exchange = _exchange_or_404(code)
    if not FlaskForm().validate_on_submit():
        abort(400)
    token = exchange.new_feed_token()
    audit.record(db.session, "exchange.token", exchange, summary=exchange.code)  # never the token itself
    db.session.commit()
    flash(_("Đã tạo mã truy cập nguồn dữ liệu mới; mã cũ không còn dùng được."), "success")
    return _render_exchange(exchange, shown={"kind": "token", "value": token})


@bp.route("/exchanges/<code>/secret", methods=["POST"])
@writes
@province_required
def exchange_secret(code: str):
    exchange = _exchange_or_404(code)
    if not FlaskForm().validate_on_submit():
        abort(400)
    secret = configure_push(exchange, rotate=True, allow_private=current_app.config["PUSH_ALLOW_PRIVATE"])
    audit.record(db.session, "exchange.secret", exchange, summary=exchange.code)  # never the secret itself
    db.session.commit()
    flash(_("Khóa ký mới đã được tạo; khóa cũ vẫn ký kèm trong 24 giờ."), "success")
    return _render_exchange(exchange, shown={"kind": "secret", "value": secret})


@bp.route("/exchanges/<code>/profile", methods=["POST"])
@writes
@province_required
def exchange_profile(code: str):
    exchange = _exchange_or_404(code)
    if request.form.get("reset"):
        if not FlaskForm().validate_on_submit():
            abort(400)
        before = exchange.profile
        exchange.set_profile(None)
        audit.record(db.session, "exchange.profile", exchange, summary=f"{exchange.code}: shipped profile",
                     before={"profile": before}, after={"profile": None})
        db.session.commit()
        flash(_("Đã dùng lại hồ sơ mặc định của sàn."), "success")
        return redirect(url_for("admin.exchange", code=code))
    form = ProfileForm()
    if not form.validate_on_submit():
        return _render_exchange(exchange, profile_form=form, status=422)
    _save_profile(exchange, form.parsed.as_dict(), exchange.code)
    db.session.commit()
    flash(_("Đã lưu hồ sơ của sàn."), "success")
    return redirect(url_for("admin.exchange", code=code))


@bp.route("/exchanges/<code>/fields", methods=["POST"])
@writes
@province_required
def exchange_fields(code: str):
    """The profile's field mapping, required fields and limits from the form; the rest of the
    profile (formats, categories and their list) stays as it is."""
    exchange = _exchange_or_404(code)
    form = ProfileFieldsForm(base=profile_of(exchange))
    if not form.validate_on_submit():
        return _render_exchange(exchange, fields_form=form, status=422)
    _save_profile(exchange, form.parsed.as_dict(), f"{exchange.code}: fields")
    db.session.commit()
    flash(_("Đã lưu hồ sơ của sàn."), "success")
    return redirect(url_for("admin.exchange", code=code) + "#profile")


def _sub_groups() -> list:
    """The OCOP sub-groups, each with its label ("group › sub-group") in the page's language."""
    return [SimpleNamespace(code=group.code, label=label)
            for group, label in sub_groups(db.session, current_language())]


def _save_profile(exchange: Exchange, data: dict, summary: str) -> None:
    """Store an officer's profile (the shipped one when it is the same) and audit it; saving
    it unchanged changes and records nothing."""
    data.pop("code", None)
    before = exchange.profile
    after = None if data == {k: v for k, v in shipped(exchange.code).items() if k != "code"} else data
    if after == before:
        return
    exchange.set_profile(after)
    audit.record(db.session, "exchange.profile", exchange, summary=summary, before={"profile": before},
                 after={"profile": exchange.profile})


@bp.route("/exchanges/<code>/categories", methods=["GET", "POST"])
@writes
@province_required
def exchange_categories(code: str):
    """The exchange's category for each OCOP sub-group, one select per group."""
    exchange = _exchange_or_404(code)
    profile, groups = profile_of(exchange), _sub_groups()
    form = category_form(groups, profile, request.form if request.method == "POST" else None)
    if request.method == "POST":
        if not form.validate():
            return render_template("admin/exchange_categories.html", exchange=exchange, form=form, groups=groups,
                                   profile=profile), 422
        categories = {g.code: form[category_field_name(g.code)].data for g in groups
                      if form[category_field_name(g.code)].data}
        _save_profile(exchange, dict(profile.as_dict(), categories=categories), f"{exchange.code}: categories")
        db.session.commit()
        flash(_("Đã lưu danh mục của sàn cho từng nhóm sản phẩm."), "success")
        return redirect(url_for("admin.exchange", code=code))
    return render_template("admin/exchange_categories.html", exchange=exchange, form=form, groups=groups,
                           profile=profile)


@bp.route("/exchanges/<code>/push", methods=["POST"])
@writes
@province_required
def exchange_push(code: str):
    exchange = _exchange_or_404(code)
    if not FlaskForm().validate_on_submit():
        abort(400)
    count = enqueue_all(db.session, [exchange])
    audit.record(db.session, "exchange.resend", exchange, summary=f"{exchange.code}: {count}")
    db.session.commit()
    flash(_("Đã xếp hàng gửi lại %(n)d sản phẩm.", n=count), "success")
    return redirect(url_for("admin.exchange", code=code))


@bp.route("/deliveries")
@officer_required
def deliveries():
    status = request.args.get("status")
    code = request.args.get("exchange")
    stmt = scoped(select(Delivery).options(selectinload(Delivery.exchange), selectinload(Delivery.product))
                  .order_by(Delivery.id.desc()).limit(DELIVERY_PAGE), Delivery)  # a commune officer's products
    if status in DELIVERY_STATUS_LABELS:
        stmt = stmt.where(Delivery.status == status)
    if code:
        stmt = stmt.join(Exchange, Exchange.id == Delivery.exchange_id).where(Exchange.code == code)
    return render_template("admin/deliveries.html", deliveries=db.session.scalars(stmt).all(), status=status,
                           code=code, exchanges=all_exchanges(db.session), action_form=FlaskForm())


@bp.route("/deliveries/<int:delivery_id>/replay", methods=["POST"])
@writes
@officer_required
def replay_delivery(delivery_id: int):
    delivery = owned_or_404(Delivery, delivery_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    if delivery.status != DeliveryStatus.dead:
        flash(_("Chỉ gửi lại được lượt gửi đã hỏng."), "error")
    else:
        worker.replay(db.session, delivery)
        audit.record(db.session, "delivery.replay", delivery, summary=f"{delivery.exchange.code}: {delivery.product_id}")
        db.session.commit()
        flash(_("Đã xếp hàng gửi lại."), "success")
    return redirect(url_for("admin.deliveries", status="dead"))


@bp.route("/products/<int:product_id>/exchanges/<code>/page", methods=["POST"])
@writes
@province_required
def listing_page(product_id: int, code: str):
    """The product's page on an exchange, typed by a province officer (the exchanges are the
    province's business; blank: none): where buyers' "Mua trên …" links lead while the
    exchange lists it."""
    product = owned_or_404(Product, product_id)
    exchange = _exchange_or_404(code)
    if not FlaskForm().validate_on_submit():
        abort(400)
    typed = request.form.get("url", "")
    try:
        changed = listings.set_url(db.session, exchange, product, typed, actor=current_user._get_current_object())
    except listings.ListingError as exc:
        db.session.rollback()
        return render_product(product, page_error={"code": exchange.code, "typed": typed[:listings.MAX_URL + 20],
                                                   "message": domain_error(exc.code)}, status=422)
    if changed:
        db.session.commit()
        name = exchange_short_name(exchange.code, exchange.name)
        flash(_("Đã lưu trang sản phẩm trên %(exchange)s.", exchange=name) if typed.strip()
              else _("Đã bỏ trang sản phẩm trên %(exchange)s.", exchange=name), "success")
    return redirect(url_for("admin.product", product_id=product.id, _anchor="exchanges"))
