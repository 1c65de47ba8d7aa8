"""Producer and cooperative work: profile, products, photos, certifications, members, and
the buyers' reports about its products."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import expiry, geo, public_facts
from ..access import owned_or_404, owned_producer_ids, producer_required, scoped
from ..catalogue import service
from ..extensions import db
from ..feeds.service import listing, short_name_needed, title_limits
from ..forms_common import bind_ward_choices, refreshing_wards
from ..i18n import current_language
from ..media import ImageRejected, remove_image
from ..models import BuyerReport, Certification, Producer, ProducerRole, Product, ProductPhoto
from ..models.base import local_today
from ..reports import service as reports_service
from ..reports.forms import reason_label
from ..stamps.serials import group_serial
from ..transactions import writes
from ..uploads import image_error, save_document, save_image, send_document
from .forms import CertificationForm, MemberForm, PhotoForm, ProducerForm, ProductForm

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")



def _my_producers() -> list[Producer]:
    return db.session.scalars(scoped(select(Producer), Producer).order_by(Producer.id)).all()


def _group_choices():
    return [(group.id, label) for group, label in service.sub_groups(db.session, current_language())]


def _bind_product_form(form: ProductForm, producers: list[Producer], province_code: int) -> None:
    form.producer_id.choices = [(p.id, p.name) for p in producers]
    form.group_id.choices = _group_choices()
    form.origin_ward_code.choices = [("", _("— như địa chỉ cơ sở —"))] + [
        (w.code, w.name) for w in geo.wards_of(province_code)
    ]


def owner_required(producer: Producer) -> None:
    """Only the producer's owner (or its cooperative's owner) edits the profile."""
    if current_user.producer_role != ProducerRole.owner.value:
        abort(403)


@bp.route("/")
@producer_required
def index():
    producers = _my_producers()
    products = db.session.scalars(
        scoped(select(Product), Product).options(selectinload(Product.photos), selectinload(Product.producer),
                                                 selectinload(Product.recognitions))
        .order_by(Product.updated_at.desc())
    ).all()
    return render_template("dashboard/index.html", producers=producers, products=products,
                           facts=public_facts.facts_of_many(db.session, products, today=local_today()),
                           me=db.session.get(Producer, current_user.producer_id),
                           open_reports=reports_service.open_count(db.session,
                                                                   producer_ids=owned_producer_ids(current_user)),
                           expiring=expiry.expiring(db.session, today=local_today(),
                                                    producer_ids=[p.id for p in producers]))


@bp.route("/producers/<int:producer_id>", methods=["GET", "POST"])
@writes
@producer_required
def edit_producer(producer_id: int):
    producer = owned_or_404(Producer, producer_id)
    owner_required(producer)
    form = ProducerForm(obj=producer)
    if producer.is_approved or producer.status == "suspended":
        for name in service.LOCKED_AFTER_APPROVAL:  # shown as text, changed by officers only
            delattr(form, name)
    bind_ward_choices(form)
    if not refreshing_wards() and form.validate_on_submit():
        logo_error, old_logo = None, None
        if form.logo.data and getattr(form.logo.data, "filename", ""):
            try:
                stored = save_image(form.logo.data)
            except ImageRejected as exc:
                logo_error = image_error(exc)
            else:
                old_logo, producer.logo = producer.logo, stored.stem
        if logo_error:
            form.logo.errors = [logo_error]
        else:
            service.update_producer(db.session, producer, form.producer_data())
            db.session.commit()
            if old_logo:  # only once the new one is saved
                remove_image(old_logo, current_app.config["UPLOAD_DIR"])
            flash(_("Đã lưu hồ sơ."), "success")
            return redirect(url_for("dashboard.index"))
    return render_template("dashboard/producer_form.html", form=form, producer=producer)


def _limits_text(limits) -> str:
    return ", ".join(_("%(exchange)s: %(n)d ký tự", exchange=name, n=limit) for name, limit in limits)


def _product_form(form: ProductForm, product: Product | None):
    limits = title_limits(db.session)
    hint = _("Sàn giới hạn độ dài tên (%(limits)s): khi tên dài hơn, sàn nhận tên ngắn này.",
             limits=_limits_text(limits)) if limits else None
    return render_template("dashboard/product_form.html", form=form, product=product, title_hint=hint)


def _flash_title_notice(product: Product) -> None:
    """Say which exchanges will leave the product out for its long name (pre-flight says it too)."""
    needed = short_name_needed(title_limits(db.session), product.name, product.short_name)
    if needed:
        flash(_("Tên dài %(n)d ký tự: các sàn sau sẽ không nhận sản phẩm cho tới khi có tên ngắn vừa giới hạn "
                "của sàn: %(limits)s.", n=len(product.name), limits=_limits_text(needed)), "warning")


@bp.route("/products/new", methods=["GET", "POST"])
@writes
@producer_required
def new_product():
    producers = _my_producers()
    me = db.session.get(Producer, current_user.producer_id)
    form = ProductForm()
    _bind_product_form(form, producers, me.province_code)
    if form.producer_id.data is None:  # the choice is only shown to cooperatives with members
        form.producer_id.data = me.id
    if form.validate_on_submit():
        producer = owned_or_404(Producer, form.producer_id.data)
        product = service.create_product(db.session, producer, form.product_data())
        db.session.commit()
        added = _store_photos(product, request.files.getlist("photos"))
        flash(_("Đã lưu sản phẩm (bản nháp) với %(n)d ảnh. Xem lại ảnh rồi gửi duyệt.", n=added) if added
              else _("Đã lưu sản phẩm (bản nháp). Thêm ảnh rồi gửi duyệt."), "success")
        _flash_title_notice(product)
        return redirect(url_for("dashboard.product", product_id=product.id))
    return _product_form(form, None)


@bp.route("/products/<int:product_id>")
@producer_required
def product(product_id: int):
    return _product_page(owned_or_404(Product, product_id))


def _product_page(product: Product, *, photo_form: PhotoForm | None = None, status: int = 200):
    today = local_today()
    return render_template("dashboard/product.html", product=product, photo_form=photo_form or PhotoForm(),
                           action_form=FlaskForm(), facts=public_facts.facts_of(product, today=today),
                           max_photos=service.MAX_PHOTOS,
                           exchanges=listing(db.session, product, base_url=current_app.config["PUBLIC_BASE_URL"],
                                             today=today)), status


@bp.route("/products/<int:product_id>/edit", methods=["GET", "POST"])
@writes
@producer_required
def edit_product(product_id: int):
    product = owned_or_404(Product, product_id)
    form = ProductForm(obj=product, product_id=product.id)
    _bind_product_form(form, [product.producer], product.producer.province_code)
    form.producer_id.data = product.producer_id
    if form.validate_on_submit():
        if service.update_product(db.session, product, form.product_data()):
            db.session.commit()
            flash(_("Đã lưu thay đổi."), "success")
            _flash_title_notice(product)
        return redirect(url_for("dashboard.product", product_id=product.id))
    return _product_form(form, product)


def _transition(product_id: int, action, message: str):
    product = owned_or_404(Product, product_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        action(product)
    except service.TransitionError:
        flash(_("Không thể thực hiện thao tác này với sản phẩm ở trạng thái hiện tại."), "error")
        return redirect(url_for("dashboard.product", product_id=product.id))
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("dashboard.product", product_id=product.id))


@bp.route("/products/<int:product_id>/submit", methods=["POST"])
@writes
@producer_required
def submit_product(product_id: int):
    return _transition(product_id, service.submit_product, _("Đã gửi sản phẩm để cán bộ duyệt."))


@bp.route("/products/<int:product_id>/archive", methods=["POST"])
@writes
@producer_required
def archive_product(product_id: int):
    return _transition(product_id, service.archive_product, _("Đã lưu trữ sản phẩm (ngừng bán)."))


@bp.route("/products/<int:product_id>/restore", methods=["POST"])
@writes
@producer_required
def restore_product(product_id: int):
    return _transition(product_id, service.restore_product, _("Đã khôi phục sản phẩm về bản nháp."))


@bp.route("/products/<int:product_id>/photos", methods=["POST"])
@writes
@producer_required
def upload_photo(product_id: int):
    product = owned_or_404(Product, product_id)
    form = PhotoForm()
    if not form.validate_on_submit():
        # Beside the field, where the producer looks (a flash at the top of a phone's page is
        # out of sight): the page again, with the message.
        return _product_page(product, photo_form=form, status=422)
    if not service.has_photo_room(product):
        flash(_("Mỗi sản phẩm có tối đa %(n)d ảnh.", n=service.MAX_PHOTOS), "error")
    elif added := _store_photos(product, form.photo.data):
        flash(_("Đã thêm ảnh.") if added == 1 else ngettext("Đã thêm %(num)d ảnh.", "Đã thêm %(num)d ảnh.", added),
              "success")
    return redirect(url_for("dashboard.product", product_id=product.id), code=303)


PHOTO_VIEWS = ("dashboard.new_product", "dashboard.upload_photo")


@bp.url_value_preprocessor
def _room_for_photos(endpoint, values) -> None:
    """The views that take several photos at once read a request as large as those photos
    (each still at most MAX_PHOTO_BYTES); URL preprocessors run before every before_request
    hook, so before CSRF's check reads the form."""
    if endpoint in PHOTO_VIEWS:
        request.max_content_length = service.MAX_PHOTOS * current_app.config["MAX_PHOTO_BYTES"] + 64 * 1024


def _store_photos(product: Product, files) -> int:
    """Store each chosen file as the product's next photo, committing each (one refused
    image loses none of the others, nor the product); says why a file was refused."""
    added = 0
    for upload in files or ():
        if not getattr(upload, "filename", ""):
            continue  # an empty file input sends one nameless part
        if not service.has_photo_room(product):
            flash(_("Mỗi sản phẩm có tối đa %(n)d ảnh.", n=service.MAX_PHOTOS), "error")
            break
        try:
            stored = save_image(upload)
        except ImageRejected as exc:
            flash(f"{upload.filename}: {image_error(exc)}", "error")
            continue
        service.add_photo(db.session, product, stored)
        db.session.commit()
        added += 1
    return added


@bp.route("/photos/<int:photo_id>/delete", methods=["POST"])
@writes
@producer_required
def delete_photo(photo_id: int):
    photo = owned_or_404(ProductPhoto, photo_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    product, stem = photo.product, photo.stem
    db.session.delete(photo)
    db.session.commit()
    remove_image(stem, current_app.config["UPLOAD_DIR"])
    flash(_("Đã xóa ảnh."), "success")
    return redirect(url_for("dashboard.product", product_id=product.id))


@bp.route("/photos/<int:photo_id>/first", methods=["POST"])
@writes
@producer_required
def make_cover(photo_id: int):
    """Move a photo to the front: it becomes the cover in lists and feeds."""
    photo = owned_or_404(ProductPhoto, photo_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    product = photo.product
    ordered = [photo] + [p for p in product.photos if p.id != photo.id]
    for i, p in enumerate(ordered, start=1):
        p.position = i
    db.session.commit()
    return redirect(url_for("dashboard.product", product_id=product.id))


@bp.route("/certifications", methods=["GET", "POST"])
@writes
@producer_required
def certifications():
    producers = _my_producers()
    form = CertificationForm()
    products = db.session.scalars(scoped(select(Product), Product).order_by(Product.name)).all()
    form.product_id.choices = [("", "—")] + [(p.id, p.name) for p in products]
    form.producer_id.choices = [(p.id, p.name) for p in producers]  # a cooperative files for members
    if form.producer_id.data is None:
        form.producer_id.data = current_user.producer_id
    if form.validate_on_submit():
        product = owned_or_404(Product, form.product_id.data) if form.product_id.data else None
        producer = product.producer if product else owned_or_404(Producer, form.producer_id.data)
        document, error = None, None
        if form.document.data and getattr(form.document.data, "filename", ""):
            try:
                document = save_document(form.document.data)
            except ImageRejected as exc:
                error = image_error(exc)
        if error:
            form.document.errors = [error]
        else:
            cert = Certification(
                producer=producer, product=product, scheme=form.scheme.data, number=form.number.data,
                body=form.body.data, scope=form.scope.data or "", valid_from=form.valid_from.data,
                valid_to=form.valid_to.data, document=document,
            )
            db.session.add(cert)
            db.session.commit()
            flash(_("Đã thêm chứng nhận; cán bộ sẽ xác minh."), "success")
            return redirect(url_for("dashboard.certifications"))
    certs = db.session.scalars(scoped(select(Certification), Certification).order_by(Certification.id.desc())).all()
    return render_template("dashboard/certifications.html", form=form, certs=certs, producers=producers)


@bp.route("/certifications/<int:cert_id>/document")
@producer_required
def certification_document(cert_id: int):
    cert = owned_or_404(Certification, cert_id)
    return send_document(cert)


@bp.route("/members", methods=["GET", "POST"])
@writes
@producer_required
def members():
    me = db.session.get(Producer, current_user.producer_id)
    if not me.is_cooperative:
        abort(404)
    owner_required(me)
    form = MemberForm()
    bind_ward_choices(form)
    if request.method == "GET":
        form.province_code.data = me.province_code
        bind_ward_choices(form)
    if not refreshing_wards() and form.validate_on_submit():
        service.create_producer(db.session, form.producer_data(), cooperative=me)
        db.session.commit()
        flash(_("Đã thêm thành viên; hồ sơ chờ cán bộ duyệt."), "success")
        return redirect(url_for("dashboard.members"))
    ids = owned_producer_ids(current_user) or set()
    member_list = [p for p in _my_producers() if p.id != me.id and p.id in ids]
    return render_template("dashboard/members.html", form=form, cooperative=me, members=member_list)


@bp.route("/reports")
@producer_required
def reports():
    """Buyers' reports about the products this producer (or its cooperative's members)
    makes; officers handle them, the producer reads them and looks at its stamps."""
    include_handled = request.args.get("handled") == "1"
    found = reports_service.list_reports(db.session, producer_ids=owned_producer_ids(current_user),
                                         include_handled=include_handled)
    return render_template("dashboard/reports.html", reports=found, include_handled=include_handled,
                           page=reports_service.PAGE, reason_label=reason_label, group_serial=group_serial)


@bp.route("/reports/<int:report_id>")
@producer_required
def report(report_id: int):
    found = owned_or_404(BuyerReport, report_id)
    return render_template("dashboard/report.html", report=found, reason_label=reason_label,
                           group_serial=group_serial)
