"""District officers: approval queues, OCOP recognitions, certification checks, users."""
from __future__ import annotations

import csv
import io
import json
import secrets

from flask import (Blueprint, abort, current_app, flash, make_response, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import audit, expiry, geo, public_facts
from ..access import (admin_required, officer_required, owned_or_404, owned_producer_ids, province_required,
                      scoped)
from ..catalogue import service
from ..extensions import db
from ..feeds.service import listing
from ..models import (AuditEntry, Batch, Certification, OcopRecognition, Producer, ProducerStatus, Product,
                      ProductStatus, Stamp, StampStatus, User)
from ..models.base import local_today, utcnow
from ..passwords import hash_password
from ..trace.report import csv_cell
from ..transactions import writes
from ..uploads import send_document
from .forms import OcopForm, ProducerReviewForm, ReviewForm

bp = Blueprint("admin", __name__, url_prefix="/admin")
OCOP_FIELDS = ("product_id", "stars", "score", "decision_no", "decision_date", "certificate_no", "issuer_level",
               "issuer_name", "valid_until")


@bp.route("/producers")
@officer_required
def producers():
    status = request.args.get("status")
    stmt = scoped(select(Producer).order_by(Producer.name), Producer)
    if status in {s.value for s in ProducerStatus}:
        stmt = stmt.where(Producer.status == status)
    return render_template("admin/producers.html", producers=db.session.scalars(stmt).all(), status=status, geo=geo)


def _producer_outcome(decision: str, name: str) -> str:
    """What the officer is told after deciding: whom, and what follows from it."""
    if decision == "approve":
        return _("Đã duyệt chủ thể «%(name)s»: sản phẩm đã duyệt của chủ thể hiện công khai.", name=name)
    if decision == "reject":
        return _("Đã từ chối hồ sơ chủ thể «%(name)s»: chủ thể sẽ thấy lý do, sửa rồi gửi lại.", name=name)
    return _("Đã tạm ngừng chủ thể «%(name)s»: sản phẩm của chủ thể không còn hiện công khai.", name=name)


@bp.route("/producers/<int:producer_id>", methods=["GET", "POST"])
@writes
@officer_required
def producer(producer_id: int):
    producer = owned_or_404(Producer, producer_id)
    form = ProducerReviewForm()
    if form.validate_on_submit():
        before = audit.snapshot(producer, ("status", "review_note"))
        service.review_producer(producer, form.decision.data, form.note.data or "")
        audit.record(db.session, f"producer.{form.decision.data}", producer, summary=producer.name, before=before,
                     after=audit.snapshot(producer, ("status", "review_note")))
        db.session.commit()
        flash(_producer_outcome(form.decision.data, producer.name), "success")
        return redirect(url_for("admin.index"))
    return render_template("admin/producer.html", producer=producer, form=form, geo=geo,
                           facts=public_facts.facts_of_many(db.session, producer.products, today=local_today()))


@bp.route("/products")
@officer_required
def products():
    status = request.args.get("status")
    stmt = scoped(select(Product).options(selectinload(Product.producer), selectinload(Product.recognitions))
                  .order_by(Product.updated_at.desc()), Product)
    if status in {s.value for s in ProductStatus}:
        stmt = stmt.where(Product.status == status)
    products = db.session.scalars(stmt).all()
    return render_template("admin/products.html", products=products, status=status,
                           facts=public_facts.facts_of_many(db.session, products, today=local_today()))


def render_product(product: Product, *, form=None, ocop_form=None, page_error: dict | None = None,
                   status: int = 200):
    """The officer's product page: its facts as buyers see them, exchanges (``page_error``: a
    refused URL of its page on one, ``{"code", "typed", "message"}``), batches, OCOP."""
    today = local_today()
    facts = public_facts.facts_of(product, today=today)
    return render_template(
        "admin/product.html", product=product, form=form or ReviewForm(), ocop_form=ocop_form or OcopForm(),
        action_form=FlaskForm(), facts=facts, geo=geo, page_error=page_error,
        in_force={r.id for r in product.recognitions if public_facts.recognition_in_force(r, today)},
        exchanges=listing(db.session, product, base_url=current_app.config["PUBLIC_BASE_URL"], today=today)), status


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@writes
@officer_required
def product(product_id: int):
    product = owned_or_404(Product, product_id)
    form = ReviewForm()
    if form.validate_on_submit():
        before = audit.snapshot(product, ("status", "review_note"))
        try:
            if form.decision.data == "approve":
                service.publish_product(product)
            else:
                service.reject_product(product, form.note.data)
        except service.TransitionError:
            flash(_("Sản phẩm không ở trạng thái chờ duyệt."), "error")
            return redirect(url_for("admin.product", product_id=product.id))
        audit.record(db.session, f"product.{form.decision.data}", product, summary=product.name, before=before,
                     after=audit.snapshot(product, ("status", "review_note")))
        db.session.commit()
        if not product.is_published:
            flash(_("Đã từ chối sản phẩm «%(name)s»: chủ thể sẽ thấy lý do, sửa rồi gửi duyệt lại.",
                    name=product.name), "success")
        elif public_facts.is_listed(product.status, product.producer.status):
            flash(_("Đã duyệt sản phẩm «%(name)s»: sản phẩm hiện công khai.", name=product.name), "success")
        else:
            flash(_("Đã duyệt sản phẩm «%(name)s», nhưng sản phẩm chưa hiện công khai vì chủ thể chưa được duyệt.",
                    name=product.name), "warning")
        return redirect(url_for("admin.index"))
    return render_product(product, form=form)


@bp.route("/products/<int:product_id>/ocop", methods=["POST"])
@writes
@province_required
def add_ocop(product_id: int):
    product = owned_or_404(Product, product_id)
    form = OcopForm()
    if form.validate_on_submit():
        rec = OcopRecognition(
            product=product, stars=form.stars.data, score=form.score.data,
            decision_no=form.decision_no.data, decision_date=form.decision_date.data,
            certificate_no=form.certificate_no.data or "", issuer_level=form.issuer_level.data,
            issuer_name=form.issuer_name.data,
            valid_until=form.valid_until.data or service.default_valid_until(form.decision_date.data),
            recorded_by_id=current_user.id,
        )
        db.session.add(rec)
        audit.record(db.session, "ocop.add", rec, summary=f"{product.name}: {rec.stars}★",
                     after=audit.snapshot(rec, OCOP_FIELDS))
        db.session.commit()
        flash(_("Đã ghi nhận quyết định OCOP."), "success")
        return redirect(url_for("admin.product", product_id=product.id))
    return render_product(product, ocop_form=form, status=422)


@bp.app_template_global()
def exchanges_told(product: Product) -> list[dict]:
    """The exchanges that hear of a change to ``product`` (a recall, a revoked recognition),
    by ``feeds.service.listing``, the definition the product pages show: an exchange that
    takes pushes and has the item or is about to take it is sent the change now (``push``);
    one that pulls the feed and has the item sees it at its next pull.  An exchange that
    refuses the item, or takes nothing from us, is not told.

    A template global so that the recall's confirmation page (the trace blueprint, which
    cannot import feeds: feeds imports scan, which imports trace) gives the same answer."""
    told = []
    for row in listing(db.session, product, base_url=current_app.config["PUBLIC_BASE_URL"], today=local_today()):
        exchange, state = row["exchange"], row["state"]
        push = bool(exchange.enabled and exchange.endpoint_url)
        if (push and state.state in (public_facts.ExchangeState.listed, public_facts.ExchangeState.waiting)) or (
                state.pullable and state.listed):
            told.append({"exchange": exchange, "push": push})
    return told


def _confirm_revoke(rec: OcopRecognition):
    """Before "Hủy công nhận OCOP": which stars buyers stop seeing (or see instead), on how
    many stamp pages, and which exchanges are told."""
    product, today = rec.product, local_today()
    shown = public_facts.ocop_in_force(product.recognitions, today)
    after = public_facts.ocop_in_force([r for r in product.recognitions if r.id != rec.id], today)
    stamps = db.session.scalar(select(func.count()).select_from(Stamp).join(Batch, Batch.id == Stamp.batch_id)
                               .where(Batch.product_id == product.id, Stamp.status != StampStatus.void.value))
    return render_template("admin/ocop_revoke.html", rec=rec, product=product, changes=shown is rec, after=after,
                           stamps=stamps, told=exchanges_told(product),
                           in_force=public_facts.recognition_in_force(rec, today))


@bp.route("/ocop/<int:recognition_id>/revoke", methods=["GET", "POST"])
@writes
@province_required
def revoke_ocop(recognition_id: int):
    """Revoking a recognition: GET is the confirmation page; only a POST from it (with
    ``confirm``) revokes, any other post changes nothing and leads to the page."""
    rec = owned_or_404(OcopRecognition, recognition_id)
    if request.method == "GET":
        return _confirm_revoke(rec)
    if not FlaskForm().validate_on_submit():
        abort(400)
    if request.form.get("confirm") != "1":
        return redirect(url_for("admin.revoke_ocop", recognition_id=rec.id))
    if rec.revoked:  # a second submit changes nothing (and records nothing)
        return redirect(url_for("admin.product", product_id=rec.product_id))
    rec.revoked = True
    audit.record(db.session, "ocop.revoke", rec, summary=f"{rec.product.name}: {rec.stars}★",
                 before={"revoked": False}, after={"revoked": True})
    db.session.commit()
    flash(_("Đã hủy công nhận OCOP %(stars)d★ của sản phẩm «%(name)s».", stars=rec.stars, name=rec.product.name),
          "success")
    return redirect(url_for("admin.product", product_id=rec.product_id))


@bp.route("/expiring")
@officer_required
def expiring():
    """OCOP recognitions and certificates that expire within 60 days or have expired."""
    return render_template("admin/expiring.html", rows=expiry.expiring(
                               db.session, today=local_today(), producer_ids=owned_producer_ids(current_user)),
                           warn_days=expiry.WARN_DAYS)


@bp.route("/certifications")
@officer_required
def certifications():
    certs = db.session.scalars(scoped(
        select(Certification).options(selectinload(Certification.producer), selectinload(Certification.product))
        .order_by(Certification.verified, Certification.id.desc()), Certification)
    ).all()
    return render_template("admin/certifications.html", certs=certs, action_form=FlaskForm())


@bp.route("/certifications/<int:cert_id>/verify", methods=["POST"])
@writes
@officer_required
def verify_certification(cert_id: int):
    cert = owned_or_404(Certification, cert_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    if cert.verified:  # a second submit keeps who verified it first
        return redirect(url_for("admin.certifications"))
    cert.verified = True
    cert.verified_by_id = current_user.id
    cert.verified_at = utcnow()
    audit.record(db.session, "certification.verify", cert, summary=f"{cert.scheme} {cert.number}",
                 before={"verified": False}, after={"verified": True})
    db.session.commit()
    flash(_("Đã xác minh chứng nhận."), "success")
    return redirect(url_for("admin.certifications"))


@bp.route("/certifications/<int:cert_id>/document")
@officer_required
def certification_document(cert_id: int):
    return send_document(owned_or_404(Certification, cert_id))


AUDIT_PAGE = 200
AUDIT_COLUMNS = ("at", "actor_email", "actor_role", "action", "target_type", "target_id", "summary", "before", "after")


def _audit_query():
    """Entries newest first, filtered by ``?action=`` (a prefix: ``exchange``) and ``?actor=``."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
    action = (request.args.get("action") or "").strip()[:48]
    actor = (request.args.get("actor") or "").strip().casefold()[:254]
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    if actor:
        stmt = stmt.where(AuditEntry.actor_email == actor)
    return stmt, action, actor


@bp.route("/audit")
@admin_required
def audit_trail():
    stmt, action, actor = _audit_query()
    entries = db.session.scalars(stmt.limit(AUDIT_PAGE)).all()
    return render_template("admin/audit.html", entries=entries, action=action, actor=actor, page=AUDIT_PAGE)


@bp.route("/audit.csv")
@admin_required
def audit_csv():
    """The whole (filtered) trail as CSV in UTF-8 with a BOM, streamed."""
    stmt, _action, _actor = _audit_query()

    def rows():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(AUDIT_COLUMNS)
        yield "\ufeff" + out.getvalue()
        for entry in db.session.scalars(stmt.execution_options(yield_per=500)):
            out.seek(0)
            out.truncate()
            writer.writerow([csv_cell(v) for v in (
                entry.at.isoformat(), entry.actor_email, entry.actor_role, entry.action, entry.target_type,
                entry.target_id, entry.summary,
                json.dumps(entry.before, ensure_ascii=False) if entry.before is not None else None,
                json.dumps(entry.after, ensure_ascii=False) if entry.after is not None else None)])
            yield out.getvalue()

    response = current_app.response_class(stream_with_context(rows()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{local_today().isoformat()}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/users")
@admin_required
def users():
    all_users = db.session.scalars(select(User).options(selectinload(User.producer), selectinload(User.scope_wards)).order_by(User.email)).all()
    return render_template("admin/users.html", users=all_users, action_form=FlaskForm())


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@writes
@admin_required
def set_user_active(user_id: int):
    user = owned_or_404(User, user_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    if user.id == current_user.id:
        flash(_("Bạn không thể tự khóa tài khoản của mình."), "error")
        return redirect(url_for("admin.users"))
    before = audit.snapshot(user, ("active",))
    user.active = request.form.get("active") == "1"
    user.revoke_credentials()  # a deactivated user's sessions and API tokens end now
    audit.record(db.session, "user.activate" if user.active else "user.deactivate", user, summary=user.email,
                 before=before, after=audit.snapshot(user, ("active",)))
    db.session.commit()
    flash(_("Đã cập nhật tài khoản."), "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@writes
@admin_required
def reset_password(user_id: int):
    """A farmer who forgot the password gets a temporary one from the district, read out on
    the phone; every session of the account ends.  Shown once, never stored in clear."""
    user = owned_or_404(User, user_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    temporary = "-".join(secrets.token_hex(2) for _ in range(3)) + "-" + secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ")
    user.password_hash = hash_password(temporary, current_app.config["PASSWORD_HASH_METHOD"])
    user.revoke_credentials()
    audit.record(db.session, "user.password_reset", user, summary=user.email)  # never the password
    db.session.commit()
    response = make_response(render_template("admin/password_reset.html", user=user, temporary=temporary))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/users/<int:user_id>/two-factor/reset", methods=["POST"])
@writes
@admin_required
def reset_second_factor(user_id: int):
    """A lost phone: the account's second factor and recovery codes are removed and its
    browser sessions end; an officer or admin enrols again at the next login.  API tokens
    are separate credentials and stay."""
    user = owned_or_404(User, user_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    if user.has_second_factor:
        user.clear_second_factor()
        user.revoke_sessions()
        audit.record(db.session, "user.2fa_reset", user, summary=user.email)
        db.session.commit()
        flash(_("Đã đặt lại xác thực hai bước của %(email)s: lần đăng nhập tới sẽ bật lại.", email=user.email),
              "success")
    return redirect(url_for("admin.users"))
