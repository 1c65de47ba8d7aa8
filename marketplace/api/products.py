"""``/api/v1`` operations on producers and products (photos included)."""
from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from ..access import owned_or_404, scoped
from ..catalogue import service as catalogue
from ..extensions import db
from ..media import ImageRejected
from ..models import Producer, Product
from ..transactions import writes
from ..uploads import image_error, save_image
from ..validators import quantity
from ..vocab import domain_error
from . import answers as a
from . import schemas as s
from .routes import bp
from .framework import fail, operation, page
from .shapes import _saved, _since, photo_out, producer_out, product_out, refuse_nulls

# ---- producers ----------------------------------------------------------------------------------

@operation(bp, "/producers", summary="Your producer (and a cooperative's members); all for officers",
           tag="producers", query=s.ListQuery, response=a.ProducerPage)
def list_producers(query):
    stmt = _since(scoped(select(Producer), Producer), Producer.updated_at, query)
    return page(stmt, Producer.id, query, producer_out)


@operation(bp, "/producers/<int:producer_id>", summary="One producer you act for", tag="producers",
           response=a.ProducerOut)
def get_producer(producer_id: int):
    return producer_out(owned_or_404(Producer, producer_id))


# ---- products -----------------------------------------------------------------------------------

def _check_product_fields(data: dict, product_id: int | None) -> dict:
    """The product rules that need the database (``catalogue.product_problems``, as the
    form uses them); 422 names the field."""
    problems = catalogue.product_problems(db.session, data, product_id)
    if problems:
        fail(422, {field: domain_error(code) for field, code in problems.items()})
    if data.get("net_quantity") is not None:
        data["net_quantity"] = quantity(data["net_quantity"])
    return data


def _product(product_id: int) -> Product:
    return owned_or_404(Product, product_id)


@operation(bp, "/products", summary="Products you act for", tag="products", query=s.ProductListQuery,
           response=a.ProductPage)
def list_products(query):
    stmt = scoped(select(Product), Product).options(selectinload(Product.photos), selectinload(Product.recognitions),
                                                    selectinload(Product.batches), selectinload(Product.producer))
    if query.status:
        stmt = stmt.where(Product.status == query.status)
    return page(_since(stmt, Product.updated_at, query), Product.id, query, product_out)


@operation(bp, "/products", "POST", summary="Create a product (a draft)", access="producer", tag="products",
           body=s.ProductCreate, response=a.ProductOut, status=201, errors=(403,))
@writes
def create_product(body):
    """Officers manage products from the admin pages: only a producer's users create them."""
    producer = owned_or_404(Producer, body.producer_id or current_user.producer_id)
    data = _check_product_fields(body.model_dump(exclude={"producer_id"}), None)
    with _saved("name"):
        product = catalogue.create_product(db.session, producer, data)
    return product_out(product)


@operation(bp, "/products/<int:product_id>", summary="One product", tag="products", response=a.ProductOut)
def get_product(product_id: int):
    return product_out(_product(product_id))


@operation(bp, "/products/<int:product_id>", "PATCH", summary="Change a product's fields", access="producer", tag="products",
           body=s.ProductUpdate, response=a.ProductOut)
@writes
def update_product(product_id: int, body):
    """Only the fields sent change; a real change raises ``version`` and reaches the exchanges."""
    product = _product(product_id)
    data = body.model_dump(exclude_unset=True)
    refuse_nulls(data, s.ProductUpdate)
    data = _check_product_fields(data, product.id)
    with _saved("gtin"):
        catalogue.update_product(db.session, product, data)
    return product_out(product)


def _transition(product_id: int, change) -> a.ProductOut:
    product = _product(product_id)
    try:
        change(product)
    except catalogue.TransitionError:
        db.session.rollback()
        fail(409, message=_("Không thể thực hiện thao tác này với sản phẩm ở trạng thái hiện tại."))
    db.session.commit()
    return product_out(product)


@operation(bp, "/products/<int:product_id>/submit", "POST", summary="Send a draft for an officer's review",
           access="producer", tag="products", response=a.ProductOut, errors=(409,))
@writes
def submit_product(product_id: int):
    return _transition(product_id, catalogue.submit_product)


@operation(bp, "/products/<int:product_id>/archive", "POST", summary="Stop selling a product", access="producer", tag="products",
           response=a.ProductOut, errors=(409,))
@writes
def archive_product(product_id: int):
    return _transition(product_id, catalogue.archive_product)


@operation(bp, "/products/<int:product_id>/photos", "POST", summary="Add a photo (JPEG, PNG or WebP, ≤ 5 MB)",
           access="producer", tag="photos", multipart={"photo": "the image file"}, response=a.PhotoOut, status=201, errors=(409, 413))
@writes
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
    return photo_out(photo)
