"""``/api/v1``: producers' and cooperatives' own software, mobile apps and officers.

Thin views: they check access with the same rules as the pages (:mod:`marketplace.access`:
another tenant's object is 404), call the same domain functions as the pages, and shape
the answer with :mod:`.schemas`.  Every operation is declared with
:func:`.framework.operation`, which also writes it into the OpenAPI document.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

from flask import Response, current_app, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from .. import audit, geo, public_facts
from ..access import owned_or_404, scoped
from ..catalogue import service as catalogue
from ..catalogue.structured import absolute
from ..extensions import db
from ..media import ImageRejected
from ..models import (Batch, BatchStatus, Delivery, Exchange, Producer, Product, ProductGroup,
                      ProductPhoto, ProductStatus, Stamp, StampRun, TraceEvent)
from ..models.base import local_today, utcnow
from ..stamps import service as stamps
from ..stamps import sheets
from ..stamps.scratch import key_from_config
from ..stamps.serials import InvalidSerial, normalize
from ..trace import service as trace
from ..uploads import image_error, save_image
from ..validators import InvalidValue, normalize_gtin
from ..vocab import domain_error
from . import bp
from . import schemas as s
from .framework import fail, openapi_document, operation, page



def _absolute(endpoint: str, **values) -> str:
    return absolute(url_for(endpoint, **values))


def _since(stmt, column, query):
    if query.updated_since is not None:  # in UTC already (schemas.Moment)
        stmt = stmt.where(column >= query.updated_since)
    return stmt


# ---- shaping ----------------------------------------------------------------------------------

def _place(ward_code: int | None) -> dict:
    ward = geo.ward(ward_code)
    province = geo.province(ward.province_code) if ward else None
    return {"ward_code": ward_code, "ward": ward.name if ward else "",
            "province_code": province.code if province else None, "province": province.name if province else ""}


def producer_out(p: Producer) -> s.ProducerOut:
    return s.ProducerOut(
        id=p.id, kind=p.kind, name=p.name, slug=p.slug, status=p.status, representative=p.representative,
        phone=p.phone, email=p.email, address_line=p.address_line, place=_place(p.ward_code),
        cooperative_id=p.cooperative_id, updated_at=p.updated_at,
        url=_absolute("catalogue.producer", slug=p.slug) if p.is_approved else None)


def _photo(photo: ProductPhoto) -> dict:
    return {"id": photo.id, "url": _absolute("catalogue.media", name=f"{photo.stem}.jpg"),
            "thumbnail_url": _absolute("catalogue.media", name=f"{photo.stem}-t.jpg"),
            "width": photo.width, "height": photo.height, "position": photo.position}


def facts_out(f: public_facts.ProductFacts) -> dict:
    return {"listed": f.listed, "sellable": f.sellable, "availability": f.availability.value,
            "recalls": [{"lot_code": r.lot, "reason": r.reason, "recalled_at": r.recalled_at} for r in f.recalls]}


def product_out(p: Product) -> s.ProductOut:
    facts = public_facts.facts_of(p, today=local_today(), with_certifications=False)
    ocop = facts.ocop
    return s.ProductOut(
        id=p.id, producer_id=p.producer_id, name=p.name, slug=p.slug, status=p.status, review_note=p.review_note,
        group_id=p.group_id, description=p.description, ingredients=p.ingredients,
        net_quantity=float(p.net_quantity), unit=p.unit, price_vnd=p.price_vnd, stock=p.stock,
        shelf_life_days=p.shelf_life_days, storage_instructions=p.storage_instructions,
        usage_instructions=p.usage_instructions, warnings=p.warnings, origin_ward_code=p.origin_ward_code,
        gtin=p.gtin, version=p.version,
        ocop={"stars": ocop.stars, "decision_no": ocop.decision_no, "valid_until": ocop.valid_until} if ocop else None,
        photos=[_photo(ph) for ph in p.photos], facts=facts_out(facts),
        url=_absolute("catalogue.product", slug=p.slug) if facts.listed else None,
        created_at=p.created_at, updated_at=p.updated_at)


def batch_out(b: Batch) -> s.BatchOut:
    return s.BatchOut(
        id=b.id, product_id=b.product_id, lot_code=b.lot_code, quantity=float(b.quantity), unit=b.unit,
        production_date=b.production_date, expiry_date=b.expiry_date, growing_area=b.growing_area,
        status=b.status, recall_reason=b.recall_reason if b.is_recalled else "",
        recalled_at=b.recalled_at if b.is_recalled else None,
        trace_url=_absolute("scan.batch", batch_id=b.id), created_at=b.created_at, updated_at=b.updated_at)


def event_out(e: TraceEvent) -> s.EventOut:
    return s.EventOut(id=e.id, seq=e.seq, kind=e.kind, occurred_at=e.occurred_at, place=e.place,
                      description=e.description, details=dict(e.details or {}), corrects_id=e.corrects_id,
                      recorded_at=e.recorded_at, entry_hash=e.entry_hash)


def run_out(run: StampRun) -> s.RunOut:
    return s.RunOut(
        id=run.id, batch_id=run.batch_id, count=run.count, status=run.status, created_at=run.created_at,
        activated_at=run.activated_at, voided_at=run.voided_at, scratch=run.scratch,
        stamps=sheets.status_counts(db.session, run),
        pdf_url=_absolute("api.run_pdf", run_id=run.id), csv_url=_absolute("api.run_csv", run_id=run.id))


def stamp_out(stamp: Stamp) -> s.StampOut:
    return s.StampOut(serial=stamp.serial, url=sheets.url_for_stamp(stamp, current_app.config["PUBLIC_BASE_URL"]),
                      status=stamp.status, run_id=stamp.run_id, batch_id=stamp.batch_id, position=stamp.position,
                      scan_count=stamp.scan_count, first_scan_at=stamp.first_scan_at)


# ---- producers ----------------------------------------------------------------------------------

@operation(bp, "/producers", summary="Your producer (and a cooperative's members); all for officers",
           tag="producers", query=s.ListQuery, response=s.ProducerPage)
def list_producers(query):
    stmt = _since(scoped(select(Producer), Producer), Producer.updated_at, query)
    return page(stmt, Producer.id, query, producer_out)


@operation(bp, "/producers/<int:producer_id>", summary="One producer you act for", tag="producers",
           response=s.ProducerOut)
def get_producer(producer_id: int):
    return producer_out(owned_or_404(Producer, producer_id))


# ---- products -----------------------------------------------------------------------------------

def _check_product_fields(data: dict, product_id: int | None) -> dict:
    """The checks a JSON schema cannot make (they need the database); 422 names the field."""
    errors = {}
    if data.get("group_id") is not None:
        group = db.session.get(ProductGroup, data["group_id"])
        if group is None or group.parent_id is None:
            errors["group_id"] = _("Chọn một nhóm con OCOP có trong danh mục.")
    if data.get("origin_ward_code") is not None and geo.ward(data["origin_ward_code"]) is None:
        errors["origin_ward_code"] = _("Xã/phường không có trong danh mục.")
    if data.get("gtin"):
        try:
            data["gtin"] = normalize_gtin(data["gtin"])
        except InvalidValue:
            errors["gtin"] = _("Mã GTIN không hợp lệ (8, 12, 13 hoặc 14 chữ số, số kiểm tra đúng).")
        else:
            if catalogue.gtin_taken(db.session, data["gtin"], product_id):
                errors["gtin"] = _("Mã GTIN này đã được dùng cho một sản phẩm khác.")
    if errors:
        fail(422, errors)
    if data.get("net_quantity") is not None:
        data["net_quantity"] = Decimal(str(round(data["net_quantity"], 3)))
    return data


@contextmanager
def _saved(field: str):
    """Run the change and commit it; a unique value taken meanwhile by a parallel request
    (GTIN, slug, lot code) is a 409 naming the field, not a 500.  The change itself is inside
    the block: the database may refuse it at an autoflush, before the commit."""
    try:
        yield
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if "gtin" in str(exc.orig).lower():
            field = "gtin"
        fail(409, {field: _("Giá trị này vừa được dùng ở nơi khác; hãy thử lại.")})


def _product(product_id: int) -> Product:
    return owned_or_404(Product, product_id)


@operation(bp, "/products", summary="Products you act for", tag="products", query=s.ProductListQuery,
           response=s.ProductPage)
def list_products(query):
    stmt = scoped(select(Product), Product).options(selectinload(Product.photos), selectinload(Product.recognitions),
                                                    selectinload(Product.batches), selectinload(Product.producer))
    if query.status:
        stmt = stmt.where(Product.status == query.status)
    return page(_since(stmt, Product.updated_at, query), Product.id, query, product_out)


@operation(bp, "/products", "POST", summary="Create a product (a draft)", access="producer", tag="products",
           body=s.ProductCreate, response=s.ProductOut, status=201, errors=(403,))
def create_product(body):
    """Officers manage products from the admin pages: only a producer's users create them."""
    producer = owned_or_404(Producer, body.producer_id or current_user.producer_id)
    data = _check_product_fields(body.model_dump(exclude={"producer_id"}), None)
    with _saved("name"):
        product = catalogue.create_product(db.session, producer, data)
    return product_out(product)


@operation(bp, "/products/<int:product_id>", summary="One product", tag="products", response=s.ProductOut)
def get_product(product_id: int):
    return product_out(_product(product_id))


@operation(bp, "/products/<int:product_id>", "PATCH", summary="Change a product's fields", access="producer", tag="products",
           body=s.ProductUpdate, response=s.ProductOut)
def update_product(product_id: int, body):
    """Only the fields sent change; a real change raises ``version`` and reaches the exchanges."""
    product = _product(product_id)
    data = body.model_dump(exclude_unset=True)
    for name in ("name", "group_id", "net_quantity", "unit", "price_vnd", "stock", "description", "ingredients",
                 "storage_instructions", "usage_instructions", "warnings"):
        if name in data and data[name] is None:
            fail(422, {name: _("Trường này không được để trống.")})
    data = _check_product_fields(data, product.id)
    with _saved("gtin"):
        catalogue.update_product(db.session, product, data)
    return product_out(product)


def _transition(product_id: int, change) -> s.ProductOut:
    product = _product(product_id)
    try:
        change(product)
    except catalogue.TransitionError:
        db.session.rollback()
        fail(409, message=_("Không thể thực hiện thao tác này với sản phẩm ở trạng thái hiện tại."))
    db.session.commit()
    return product_out(product)


@operation(bp, "/products/<int:product_id>/submit", "POST", summary="Send a draft for an officer's review",
           access="producer", tag="products", response=s.ProductOut, errors=(409,))
def submit_product(product_id: int):
    return _transition(product_id, catalogue.submit_product)


@operation(bp, "/products/<int:product_id>/archive", "POST", summary="Stop selling a product", access="producer", tag="products",
           response=s.ProductOut, errors=(409,))
def archive_product(product_id: int):
    return _transition(product_id, catalogue.archive_product)


@operation(bp, "/products/<int:product_id>/photos", "POST", summary="Add a photo (JPEG, PNG or WebP, ≤ 5 MB)",
           access="producer", tag="photos", multipart={"photo": "the image file"}, response=s.PhotoOut, status=201, errors=(409, 413))
def upload_photo(product_id: int):
    """The photo is re-encoded, stripped of EXIF and resized, like photos sent from the pages."""
    product = _product(product_id)
    upload = request.files.get("photo")
    if not isinstance(upload, FileStorage) or not upload.filename:
        fail(422, {"photo": _("Hãy chọn một ảnh.")})
    if not catalogue.has_photo_room(product):
        fail(409, message=_("Mỗi sản phẩm có tối đa %(n)d ảnh.", n=catalogue.MAX_PHOTOS))
    try:
        stored = save_image(upload)
    except ImageRejected as exc:
        fail(422, {"photo": image_error(exc)})
    photo = catalogue.add_photo(db.session, product, stored)
    db.session.commit()
    return s.PhotoOut(**_photo(photo))


# ---- batches and the diary ----------------------------------------------------------------------

def _trace_error(exc: trace.TraceError, field: str):
    db.session.rollback()
    status = 409 if exc.code in ("not_open", "lot_taken", "not_recalled", "already_recalled") else 422
    if status == 409:
        fail(409, {field: domain_error(exc.code)} if exc.code == "lot_taken" else None, message=domain_error(exc.code))
    fail(422, {field: domain_error(exc.code)})


@operation(bp, "/batches", summary="Batches (lots) you act for", tag="batches", query=s.BatchListQuery,
           response=s.BatchPage)
def list_batches(query):
    stmt = scoped(select(Batch), Batch)
    if query.product_id:
        stmt = stmt.where(Batch.product_id == query.product_id)
    if query.status:
        stmt = stmt.where(Batch.status == query.status)
    return page(_since(stmt, Batch.updated_at, query), Batch.id, query, batch_out)


@operation(bp, "/batches", "POST", summary="Create a batch (lot) of a product", access="producer", tag="batches",
           body=s.BatchCreate, response=s.BatchOut, status=201, errors=(409,))
def create_batch(body):
    product = owned_or_404(Product, body.product_id)
    if product.status == ProductStatus.archived.value:
        fail(409, message=_("Sản phẩm đã lưu trữ: khôi phục trước khi tạo lô."))
    if not dt.date(2000, 1, 1) <= body.production_date <= local_today():
        fail(422, {"production_date": _("Ngày sản xuất không hợp lệ (không được ở tương lai).")})
    if body.expiry_date and body.expiry_date.year > 2100:
        fail(422, {"expiry_date": _("Hạn sử dụng không hợp lệ.")})
    try:
        with _saved("lot_code"):
            batch = trace.create_batch(
                db.session, product, lot_code=body.lot_code, quantity=Decimal(str(round(body.quantity, 3))),
                unit=body.unit, production_date=body.production_date, expiry_date=body.expiry_date,
                growing_area=body.growing_area, user=current_user)
    except trace.TraceError as exc:
        _trace_error(exc, "expiry_date" if exc.code == "expiry_before_production" else "lot_code")
    return batch_out(batch)


@operation(bp, "/batches/<int:batch_id>", summary="One batch", tag="batches", response=s.BatchOut)
def get_batch(batch_id: int):
    return batch_out(owned_or_404(Batch, batch_id))


@operation(bp, "/batches/<int:batch_id>", "PATCH", summary="Correct an open batch", access="producer", tag="batches",
           body=s.BatchUpdate, response=s.BatchOut, errors=(409,))
def update_batch(batch_id: int, body):
    """Quantity and growing area may be corrected while the batch is open; the expiry date
    (HSD) only until stamps are issued, since labels and stamp pages show it."""
    batch = owned_or_404(Batch, batch_id)
    if batch.status != BatchStatus.open.value:
        fail(409, message=domain_error("not_open"))
    data = body.model_dump(exclude_unset=True)
    for name in ("quantity", "growing_area"):
        if name in data and data[name] is None:
            fail(422, {name: _("Trường này không được để trống.")})
    changed = False
    if "quantity" in data:
        quantity = Decimal(str(round(data["quantity"], 3)))
        changed |= quantity != batch.quantity
        batch.quantity = quantity
    if "expiry_date" in data and data["expiry_date"] != batch.expiry_date:
        expiry = data["expiry_date"]
        if expiry is not None and (expiry < batch.production_date or expiry.year > 2100):
            fail(422, {"expiry_date": _("Hạn sử dụng phải sau ngày sản xuất.")})
        if db.session.scalar(select(func.count(StampRun.id)).where(StampRun.batch_id == batch.id)):
            fail(409, {"expiry_date": _("Đã phát hành tem cho lô này: hạn sử dụng in trên nhãn không đổi được.")})
        batch.expiry_date, changed = expiry, True
    if "growing_area" in data and data["growing_area"] != batch.growing_area:
        batch.growing_area, changed = data["growing_area"], True
    if changed:
        db.session.commit()
    return batch_out(batch)


@operation(bp, "/batches/<int:batch_id>/close", "POST", summary="Close a batch (no more diary entries expected)",
           access="producer", tag="batches", response=s.BatchOut, errors=(409,))
def close_batch(batch_id: int):
    batch = owned_or_404(Batch, batch_id)
    try:
        trace.close_batch(batch)
    except trace.TraceError as exc:
        _trace_error(exc, "status")
    db.session.commit()
    return batch_out(batch)


@operation(bp, "/batches/<int:batch_id>/recall", "POST", summary="Recall a batch", tag="batches",
           body=s.RecallBody, response=s.BatchOut, errors=(409,))
def recall_batch(batch_id: int, body):
    """Every stamp of the batch shows the recall banner at its next scan, and the exchanges
    get the product as unavailable.  Audited."""
    batch = owned_or_404(Batch, batch_id)
    before = audit.snapshot(batch, ("status",))
    try:
        trace.recall_batch(batch, body.reason, current_user)
    except trace.TraceError as exc:
        _trace_error(exc, "reason")
    audit.record(db.session, "batch.recall", batch, summary=f"{batch.product.name}: {batch.lot_code}",
                 before=before, after=audit.snapshot(batch, ("status", "recall_reason", "recalled_at")))
    db.session.commit()
    return batch_out(batch)


@operation(bp, "/batches/<int:batch_id>/events", summary="The batch's diary, oldest first", tag="diary",
           response=s.EventList)
def list_events(batch_id: int):
    batch = owned_or_404(Batch, batch_id)
    return s.EventList(data=[event_out(e) for e in batch.events])


@operation(bp, "/batches/<int:batch_id>/events", "POST", summary="Append a diary entry", access="producer", tag="diary",
           body=s.EventCreate, response=s.EventOut, status=201)
def add_event(batch_id: int, body):
    """The diary is append-only and hash-chained: a correction is a new entry with ``corrects_id``."""
    batch = owned_or_404(Batch, batch_id)
    when = body.occurred_at
    if when.tzinfo is None:
        fail(422, {"occurred_at": _("Thời điểm phải có múi giờ.")})
    if not dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc) <= when <= utcnow() + dt.timedelta(minutes=5):
        fail(422, {"occurred_at": _("Ngày không hợp lệ (không được ở tương lai).")})
    details = body.details.model_dump()
    needed = trace.REQUIRED_DETAIL.get(body.kind)
    if needed and not details[needed]:
        fail(422, {f"details.{needed}": domain_error(f"{needed}_required")})
    corrects = None
    if body.corrects_id is not None:
        corrects = db.session.get(TraceEvent, body.corrects_id)
        if corrects is None or corrects.batch_id != batch.id:
            fail(422, {"corrects_id": domain_error("corrects_other_batch")})
    try:
        event = trace.append_event(db.session, batch, kind=body.kind, occurred_at=when, place=body.place,
                                   description=body.description, details=details, corrects=corrects,
                                   user=current_user)
        db.session.commit()
    except trace.TraceError as exc:
        _trace_error(exc, "kind")
    return event_out(event)


# ---- stamp runs and stamps ----------------------------------------------------------------------

@operation(bp, "/batches/<int:batch_id>/stamp-runs", "POST", summary="Issue a run of unique stamps",
           access="producer", tag="stamps", body=s.RunCreate, response=s.RunOut, status=201, errors=(409,))
def create_run(batch_id: int, body):
    batch = owned_or_404(Batch, batch_id)
    try:
        run = stamps.issue_run(db.session, batch, body.count, user=current_user, scratch=body.scratch)
        db.session.commit()
    except stamps.StampError as exc:
        db.session.rollback()
        if exc.code in ("batch_recalled", "product_not_listed"):
            fail(409, message=domain_error(exc.code))
        fail(422, {"count": domain_error(exc.code)})
    return run_out(run)


@operation(bp, "/stamp-runs/<int:run_id>", summary="A stamp run and its stamps per status", tag="stamps",
           response=s.RunOut)
def get_run(run_id: int):
    return run_out(owned_or_404(StampRun, run_id))


@operation(bp, "/stamp-runs/<int:run_id>/activate", "POST", summary="Activate a printed run (stuck on packages)",
           access="producer", tag="stamps", response=s.RunOut, errors=(409,))
def activate_run(run_id: int):
    """Its issued stamps become active: their pages say "genuine".  Refused (409) for a void
    run, or while the product is not listed (not published, or its producer not approved)."""
    run = owned_or_404(StampRun, run_id)
    try:
        stamps.activate_run(db.session, run)
        db.session.commit()
    except stamps.StampError as exc:
        db.session.rollback()
        fail(409, message=domain_error(exc.code))
    return run_out(run)


@operation(bp, "/stamp-runs/<int:run_id>/stamps.pdf", summary="Label sheet (A4, 3×8) of a run, as PDF",
           tag="stamps", produces="application/pdf", query=s.PdfQuery)
def run_pdf(run_id: int, query):
    """Runs over 2,400 stamps come in parts: ``part`` 1, 2, … (see ``parts`` on the run page)."""
    run = owned_or_404(StampRun, run_id)
    layout = sheets.layout_or_none(query.layout)
    parts = sheets.parts(run.count)
    if layout is None:
        fail(422, {"layout": _("Không có mẫu tem này.")})
    if query.part > len(parts):
        fail(422, {"part": _("Đợt tem này có %(n)d phần.", n=len(parts))})
    data = sheets.download_part(db.session, run, layout, query.part, current_app.config["PUBLIC_BASE_URL"],
                                scratch_key=key_from_config(current_app.config))
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="tem-dot-{run.id}-phan-{query.part}.pdf"',
        "Cache-Control": "no-store"})


@operation(bp, "/stamp-runs/<int:run_id>/stamps.csv", summary="serial,url,lot,product of every stamp of a run",
           tag="stamps", produces="text/csv")
def run_csv(run_id: int):
    """A scratch run (``scratch``) adds ``scratch_code``: the file is then secret, for the print shop only."""
    run = owned_or_404(StampRun, run_id)
    chunks = sheets.csv_text(db.session, run.id, current_app.config["PUBLIC_BASE_URL"],
                             scratch_key=key_from_config(current_app.config))
    return Response(stream_with_context(chunks), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="tem-dot-{run.id}.csv"', "Cache-Control": "no-store"})


_SERIAL = {"type": "string", "minLength": 1, "maxLength": 40,
           "description": "the serial printed on the stamp, in any case, with or without separators"}


def _stamp(serial: str) -> Stamp:
    try:
        serial = normalize(serial)
    except InvalidSerial:
        fail(404)
    found = db.session.scalar(scoped(select(Stamp).where(Stamp.serial == serial), Stamp))
    if found is None:  # unknown, or another tenant's: the same answer
        fail(404)
    return found


@operation(bp, "/stamps/<serial>", summary="One stamp of yours", tag="stamps", response=s.StampOut,
           path_params={"serial": _SERIAL})
def get_stamp(serial: str):
    return stamp_out(_stamp(serial))


@operation(bp, "/stamps/<serial>/void", "POST", summary="Void one stamp (torn, lost, misprinted)", tag="stamps",
           response=s.StampOut, path_params={"serial": _SERIAL})
def void_stamp(serial: str):
    """A void stamp's page tells buyers it is void.  Voiding twice changes nothing."""
    stamp = _stamp(serial)
    n = stamps.void_stamps(db.session, stamp.run, first=stamp.position, last=stamp.position)
    if n:
        audit.record(db.session, "stamps.void", stamp.run, summary="1",
                     after={"first": stamp.position, "last": stamp.position, "voided": n})
    db.session.commit()
    db.session.refresh(stamp)
    return stamp_out(stamp)


# ---- deliveries (officers) and the public catalogue -----------------------------------------------

@operation(bp, "/deliveries", summary="Pushes of product changes to the exchanges", tag="deliveries",
           access="officer", query=s.DeliveryListQuery, response=s.DeliveryPage)
def list_deliveries(query):
    stmt = select(Delivery).options(selectinload(Delivery.exchange))
    if query.exchange:
        stmt = stmt.join(Exchange, Delivery.exchange_id == Exchange.id).where(Exchange.code == query.exchange)
    if query.status:
        stmt = stmt.where(Delivery.status == query.status)
    if query.updated_since is not None:  # queued, tried or delivered since then
        since = query.updated_since
        stmt = stmt.where(or_(Delivery.created_at >= since, Delivery.delivered_at >= since,
                              Delivery.next_attempt_at >= since))

    def item(d: Delivery) -> s.DeliveryOut:
        return s.DeliveryOut(id=d.id, exchange=d.exchange.code, product_id=d.product_id, version=d.version,
                             status=d.status, attempts=d.attempts, last_status=d.last_status,
                             last_error=d.last_error or "", sent_version=d.sent_version, created_at=d.created_at,
                             next_attempt_at=d.next_attempt_at, delivered_at=d.delivered_at)

    return page(stmt, Delivery.id, query, item)


def catalogue_item(p: Product) -> s.CatalogueItem:
    facts = public_facts.facts_of(p, today=local_today(), with_certifications=False)
    ocop = facts.ocop
    cover = p.cover
    return s.CatalogueItem(
        id=p.id, name=p.name, url=_absolute("catalogue.product", slug=p.slug), producer=p.producer.name,
        producer_url=_absolute("catalogue.producer", slug=p.producer.slug),
        place=_place(p.origin_ward_code or p.producer.ward_code), group_id=p.group_id, price_vnd=p.price_vnd,
        net_quantity=float(p.net_quantity), unit=p.unit, in_stock=facts.sellable, sellable=facts.sellable,
        availability=facts.availability.value, recalls=facts_out(facts)["recalls"],
        ocop_stars=ocop.stars if ocop else None, gtin=p.gtin,
        photo_url=_absolute("catalogue.media", name=f"{cover.stem}.jpg") if cover else None,
        updated_at=p.updated_at)


@operation(bp, "/catalogue", summary="Published products of approved producers", tag="catalogue",
           access="public", query=s.CatalogueQuery, response=s.CataloguePage)
def catalogue_list(query):
    """Public: no token needed.  With ``updated_since``, products changed since then that are
    still listed; products that left the catalogue are not reported (the exchanges' feeds
    carry deletions)."""
    stmt = catalogue.public_products_query(q=query.q or "").order_by(None).options(selectinload(Product.batches))
    return page(_since(stmt, Product.updated_at, query), Product.id, query, catalogue_item)


@operation(bp, "/catalogue/<int:product_id>", summary="One published product", tag="catalogue",
           access="public", response=s.CatalogueItem)
def catalogue_get(product_id: int):
    product = db.session.scalar(catalogue.public_products_query().where(Product.id == product_id))
    if product is None:
        fail(404)
    return catalogue_item(product)


# ---- the document and its reference page -------------------------------------------------------------

def document() -> dict:
    return openapi_document(
        title="OCOP Marketplace API", version="1.0.0", server_url=absolute("/api/v1"),
        description=("Products, batches, diaries and traceability stamps of a district's OCOP producers. "
                     "Authenticate with a personal access token (account page) as "
                     "`Authorization: Bearer <token>`; it acts with its user's rights. Lists are "
                     "paged by cursor (`next_cursor`), errors are `{\"error\": {\"code\", \"message\", "
                     "\"fields\"}}`, and every client has a rate limit (429 with `Retry-After`)."))


@bp.route("/openapi.json")
def openapi_json():
    response = current_app.response_class(
        current_app.json.dumps(document()), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.vary.update(("Accept-Language", "Cookie"))  # its descriptions follow the language
    return response


@bp.route("/docs")
def reference():
    """The API reference, readable without JavaScript, generated from the same document."""
    return render_template("api/reference.html", doc=document())
