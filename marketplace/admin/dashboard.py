"""The officers' dashboard ``/admin/`` (issue 6): the review queues and the district's
figures (marketplace/stats.py) as SVG bar charts beside their tables, with filters and a
CSV download per figure."""
from __future__ import annotations

import csv
import datetime as dt
import io

from flask import abort, current_app, render_template, request
from flask_login import current_user
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import geo, params, public_facts, stats
from ..access import officer_required, scoped
from ..extensions import db
from ..feeds.profiles import exchange_name
from ..i18n import current_language
from ..models import Certification, Producer, ProducerStatus, Product, ProductGroup, ProductStatus
from ..models.base import local_today
from ..text import ascii_number
from ..trace.report import csv_cell
from .routes import bp

# Column titles, in the page's language (the CSV keeps the stable keys in its first row too).
COLUMN_LABELS = {
    "group": _l("Nhóm sản phẩm"), "3": "3★", "4": "4★", "5": "5★", "none": _l("Chưa có sao"),
    "exchange": _l("Sàn"), "listed": _l("Đang đăng"), "waiting": _l("Chờ sàn nhận"), "refused": _l("Bị từ chối"),
    "commune": _l("Xã/phường"), "producers": _l("Chủ thể"),
    "period": _l("Từ ngày"), "stamps_issued": _l("Tem phát hành"), "scans": _l("Lượt quét"),
    "pending": _l("Chờ gửi"), "delivered": _l("Đã gửi"), "dead": _l("Hỏng"), "superseded": _l("Thay bằng bản mới"),
    "unneeded": _l("Không cần gửi"),
}

# Okabe and Ito's colours, told apart with the common colour-vision deficiencies
# (https://jfly.uni-koeln.de/color/); neighbours in a bar also differ by a pattern (hatched,
# dotted), for greyscale prints and the rarer deficiencies.  Grey is "none".
OKABE_ITO = ORANGE, SKY_BLUE, BLUISH_GREEN, YELLOW, BLUE, VERMILLION, REDDISH_PURPLE, BLACK = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
GREY = "#999999"
SERIES = {  # column key → (colour, pattern: None, "hatch" or "dots"), drawn by templates/admin/_charts.html
    "3": (SKY_BLUE, None), "4": (ORANGE, "hatch"), "5": (BLUE, None), "none": (GREY, "dots"),
    "listed": (BLUISH_GREEN, None), "waiting": (ORANGE, "hatch"), "refused": (VERMILLION, "dots"),
    "producers": (BLUE, None),
    "pending": (ORANGE, "hatch"), "delivered": (BLUISH_GREEN, None), "dead": (VERMILLION, "dots"),
    "superseded": (SKY_BLUE, None), "unneeded": (GREY, "hatch"),
    "scans": (BLUE, None), "stamps_issued": (ORANGE, None),
}
TITLES = {
    "products": _l("Sản phẩm trên Chợ OCOP theo nhóm và hạng sao"),
    "listed": _l("Sản phẩm đăng trên từng sàn"),
    "producers": _l("Chủ thể theo xã/phường"),
    "activity": _l("Tem phát hành và lượt quét"),
    "deliveries": _l("Lượt gửi sang sàn theo trạng thái"),
}


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if ascii_number(value) and len(value) < 10 else None


def _date_arg(name: str, errors: list) -> dt.date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return params.parse_date(value)
    except params.ParamError:  # not a date, or outside the range the figures support
        errors.append(name)
        return None


def _filters() -> tuple[stats.Filters, str, list[str]]:
    errors: list[str] = []
    f = stats.Filters(ward_code=_int_arg("commune"), producer_id=_int_arg("producer"), product_id=_int_arg("product"),
                      group_id=_int_arg("group"), date_from=_date_arg("from", errors), date_to=_date_arg("to", errors),
                      wards=current_user.ward_scope)
    by = "week" if request.args.get("by") == "week" else "day"
    return f, by, errors


def _figures(f: stats.Filters, by: str, keys=tuple(stats.FIGURES)) -> dict[str, stats.Figure]:
    return stats.figures(db.session, f, keys, today=local_today(), base_url=current_app.config["PUBLIC_BASE_URL"],
                         language=current_language(), by=by)


@bp.route("/")
@officer_required
def index():
    """The officer's desk: what waits for a decision and the figures, of the officer's
    jurisdiction only (a commune officer's communes; the province for the others)."""
    pending_producers = db.session.scalars(scoped(
        select(Producer).where(Producer.status == ProducerStatus.pending.value).order_by(Producer.created_at), Producer)
    ).all()
    pending_products = db.session.scalars(scoped(
        select(Product).where(Product.status == ProductStatus.pending.value)
        .options(selectinload(Product.producer), selectinload(Product.photos)).order_by(Product.updated_at), Product)
    ).all()
    counts = dict(db.session.execute(scoped(select(Product.status, func.count()).group_by(Product.status),
                                            Product)).all())
    on_market = scoped(select(func.count()).select_from(Product).join(Producer, Producer.id == Product.producer_id),
                       Product)
    counts.update(listed=db.session.scalar(on_market.where(public_facts.listed_sql())),
                  sellable=db.session.scalar(on_market.where(public_facts.sellable_sql())),
                  recalled=db.session.scalar(on_market.where(public_facts.listed_sql(), public_facts.has_recall_sql())))
    unverified = db.session.scalar(scoped(select(func.count()).select_from(Certification)
                                          .where(Certification.verified.is_(False)), Certification))
    f, by, errors = _filters()
    approved = db.session.execute(scoped(select(Producer.id, Producer.name, Producer.ward_code)
                                         .where(Producer.status == ProducerStatus.approved.value)
                                         .order_by(Producer.name), Producer)).all()
    return render_template(
        "admin/index.html", pending_producers=pending_producers, pending_products=pending_products, counts=counts,
        unverified=unverified, figures=_figures(f, by), filters=f, by=by, errors=errors, titles=TITLES,
        labels=COLUMN_LABELS, producers=approved,
        communes=sorted({(code, geo.place_name(code)) for _id, _name, code in approved if code}, key=lambda c: c[1]),
        groups=db.session.scalars(select(ProductGroup).where(ProductGroup.parent_id.is_(None))
                                  .order_by(ProductGroup.position)).all(),
        products=db.session.execute(scoped(select(Product.id, Product.name)
                                           .where(Product.status == ProductStatus.published.value)
                                           .order_by(Product.name), Product)).all(),
        exchange_name=exchange_name, palette=SERIES)


@bp.route("/stats/<key>.csv")
@officer_required
def stats_csv(key: str):
    if key not in stats.FIGURES:
        abort(404)
    f, by, _errors = _filters()
    figure = _figures(f, by, (key,))[key]  # this figure only
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(figure.columns)
    writer.writerow([str(COLUMN_LABELS.get(c, c)) for c in figure.columns])
    for row in figure.rows:
        writer.writerow([csv_cell(v) for v in row])
    response = current_app.response_class("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{key}-{local_today().isoformat()}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
