"""``/api/v1`` operations on producers and products (photos included)."""
from __future__ import annotations

from decimal import Decimal

from flask import request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from .. import geo
from ..access import owned_or_404, scoped
from ..catalogue import service as catalogue
from ..extensions import db
from ..media import ImageRejected
from ..models import Producer, Product, ProductGroup
from ..uploads import image_error, save_image
from ..validators import InvalidValue, normalize_gtin
from . import bp
from . import schemas as s
from .framework import fail, operation, page
from .shapes import _photo, _saved, _since, producer_out, product_out

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
