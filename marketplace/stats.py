"""The district's figures (issue 6): plain functions over the database, each returning a
:class:`Figure` (column keys and rows) that the dashboard draws as a bar chart beside its
table and offers as CSV.  Filters: commune, producer, product group, date range; and the
officer's jurisdiction (``wards``: a commune officer counts only its communes, issue 18).

* ``products``: listed products (``public_facts``) per OCOP group and star level (the stars
  in force today; "none" without any).
* ``listed``: per exchange, the listed products it has (``public_facts.exchange_listing``,
  the same definition as the product pages'), those it would take but has not yet, and
  those it refuses.
* ``producers``: approved producers per commune.
* ``activity``: stamps issued and scans per day or week (local dates), last 90 days by
  default.
* ``deliveries``: deliveries per exchange and status (pending, delivered, dead, superseded, unneeded).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select

from . import geo, public_facts
from .feeds.service import all_exchanges, exchange_states, refusals
from .models import (Batch, Delivery, DeliveryStatus, Exchange, OcopRecognition, Producer, ProducerStatus, Product,
                     ProductGroup, ScanDay, StampRun)
from .models.base import LOCAL_TZ, local_day

ACTIVITY_DAYS = 90
STAR_LEVELS = ("3", "4", "5", "none")
DELIVERY_STATES = (DeliveryStatus.pending, DeliveryStatus.delivered, DeliveryStatus.dead, DeliveryStatus.superseded,
                   DeliveryStatus.unneeded)


@dataclass(frozen=True)
class Filters:
    ward_code: int | None = None
    producer_id: int | None = None
    product_id: int | None = None
    group_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    wards: frozenset[int] | None = None  # the officer's jurisdiction; None: the whole province

    @property
    def narrows_products(self) -> bool:
        return bool(self.ward_code or self.producer_id or self.product_id or self.group_id) or self.wards is not None

    def period(self, today: dt.date) -> tuple[dt.date, dt.date]:
        last = self.date_to or today
        first = self.date_from or (last - dt.timedelta(days=ACTIVITY_DAYS - 1))
        return (first, last) if first <= last else (last, first)


@dataclass
class Figure:
    key: str
    columns: tuple[str, ...]           # stable keys; the first is the row label
    rows: list[tuple] = field(default_factory=list)

    def totals(self) -> list[int]:
        return [sum(r[i] for r in self.rows) for i in range(1, len(self.columns))]

    @property
    def row_peak(self) -> int:
        """The largest row total (a stacked bar's full width)."""
        return max((sum(r[1:]) for r in self.rows), default=0)


def _products(stmt, f: Filters):
    """Narrow a statement joined to Product and Producer by the filters."""
    stmt = _in_scope(stmt, f)
    if f.ward_code:
        stmt = stmt.where(Producer.ward_code == f.ward_code)
    if f.producer_id:
        stmt = stmt.where(Producer.id == f.producer_id)
    if f.product_id:
        stmt = stmt.where(Product.id == f.product_id)
    if f.group_id:
        stmt = stmt.where(or_(Product.group_id == f.group_id,
                              Product.group_id.in_(select(ProductGroup.id).where(ProductGroup.parent_id == f.group_id))))
    return stmt


def _in_scope(stmt, f: Filters):
    """Narrow a statement joined to Producer to the officer's jurisdiction."""
    if f.wards is not None:
        stmt = stmt.where(Producer.ward_code.in_(f.wards or {-1}))
    return stmt


def _top_group(session) -> dict[int, ProductGroup]:
    """Each group id → its top-level group (products sit in sub-groups)."""
    groups = {g.id: g for g in session.scalars(select(ProductGroup))}
    return {gid: (groups[g.parent_id] if g.parent_id in groups else g) for gid, g in groups.items()}


def products_by_group(session, f: Filters, *, today: dt.date, language: str = "vi") -> Figure:
    top = _top_group(session)
    public = _products(select(Product.id, Product.group_id).join(Producer, Producer.id == Product.producer_id)
                       .where(public_facts.listed_sql()), f)
    rows = session.execute(public).all()
    stars = dict(session.execute(
        select(OcopRecognition.product_id, func.max(OcopRecognition.stars))
        .where(public_facts.recognition_in_force_sql(today),
               OcopRecognition.product_id.in_([r.id for r in rows] or [0]))
        .group_by(OcopRecognition.product_id)).all())
    counts: dict[str, Counter] = defaultdict(Counter)
    order: dict[str, int] = {}
    for product_id, group_id in rows:
        group = top[group_id]
        name = group.display_name(language)
        order[name] = group.position
        counts[name][str(stars.get(product_id) or "none")] += 1
    figure = Figure("products", ("group", *STAR_LEVELS))
    for name in sorted(counts, key=lambda n: (order[n], n)):
        figure.rows.append((name, *(counts[name][level] for level in STAR_LEVELS)))
    return figure


LISTING_STATES = ("listed", "waiting", "refused")


def listed_per_exchange(session, f: Filters, *, base_url: str, today: dt.date) -> Figure:
    """Where the listed products (filtered) stand on each exchange, by the one definition the
    product pages use too (``feeds.service.exchange_states``): listed there, accepted but
    not yet taken, refused by its pre-flight.  Whether an exchange refuses a product is the
    verdict kept with the product's item for the feeds (``feeds.service.refusals``): a
    country's catalogue is not built again for every look at this figure."""
    exchanges = all_exchanges(session)
    public = _products(select(Product.id).join(Producer, Producer.id == Product.producer_id)
                       .where(public_facts.listed_sql()), f)
    refused = refusals(session, base_url=base_url, today=today, products=public if f.narrows_products else None)
    counts = exchange_states(session, exchanges, session.scalars(public).all(), refused)
    figure = Figure("listed", ("exchange", *LISTING_STATES))
    for exchange in exchanges:
        figure.rows.append((exchange.code, *(counts[(exchange.code, state)] for state in LISTING_STATES)))
    return figure


def producers_per_commune(session, f: Filters) -> Figure:
    stmt = (select(Producer.ward_code, func.count()).where(Producer.status == ProducerStatus.approved.value)
            .group_by(Producer.ward_code))
    stmt = _in_scope(stmt, f)
    if f.ward_code:
        stmt = stmt.where(Producer.ward_code == f.ward_code)
    if f.producer_id:
        stmt = stmt.where(Producer.id == f.producer_id)
    if f.group_id or f.product_id:
        stmt = stmt.where(Producer.id.in_(_products(
            select(Product.producer_id).join(Producer, Producer.id == Product.producer_id), f)))
    figure = Figure("producers", ("commune", "producers"))
    rows = [(geo.place_name(code) if code else "—", int(n)) for code, n in session.execute(stmt)]
    figure.rows = sorted(rows, key=lambda r: (-r[1], r[0]))
    return figure


def _period_start(day: dt.date, by: str) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if by == "week" else day


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def activity(session, f: Filters, *, today: dt.date, by: str = "day") -> Figure:
    """Stamps issued (by stamp run) and buyers' scans, per local day or week (weeks start
    Monday): stamp runs and the daily scan aggregates, never the raw scan rows."""
    first, last = f.period(today)
    start = dt.datetime.combine(first, dt.time(), LOCAL_TZ)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), LOCAL_TZ)
    dialect = session.get_bind().dialect.name
    issued, scans = Counter(), Counter()
    run_day = local_day(dialect, StampRun.created_at).label("day")
    runs = (select(run_day, func.sum(StampRun.count)).where(StampRun.created_at >= start, StampRun.created_at < end)
            .group_by(run_day))
    # buyers' scans per day, from the daily aggregates (scan/retention.py), not the raw rows
    scanned = (select(ScanDay.day, func.sum(ScanDay.scans)).where(ScanDay.day >= first, ScanDay.day <= last)
               .group_by(ScanDay.day))
    if f.narrows_products:  # else every lot counts: no join (a country's days are millions of rows)
        lots = _products(select(Batch.id).join(Product, Product.id == Batch.product_id)
                         .join(Producer, Producer.id == Product.producer_id), f)
        runs, scanned = runs.where(StampRun.batch_id.in_(lots)), scanned.where(ScanDay.batch_id.in_(lots))
    for day, count in session.execute(runs):
        issued[_period_start(_as_date(day), by)] += int(count)
    for day, count in session.execute(scanned):
        scans[_period_start(_as_date(day), by)] += int(count)
    figure = Figure("activity", ("period", "stamps_issued", "scans"))
    step = dt.timedelta(days=7 if by == "week" else 1)
    period = _period_start(first, by)
    while period <= last:
        figure.rows.append((period, issued[period], scans[period]))
        period += step
    return figure


def deliveries_per_exchange(session, f: Filters, *, today: dt.date) -> Figure:
    stmt = (select(Exchange.code, Delivery.status, func.count()).join(Exchange, Exchange.id == Delivery.exchange_id)
            .group_by(Exchange.code, Delivery.status))
    if f.date_from or f.date_to:
        first, last = f.period(today)
        stmt = stmt.where(Delivery.created_at >= dt.datetime.combine(first, dt.time(), LOCAL_TZ),
                          Delivery.created_at < dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), LOCAL_TZ))
    if f.narrows_products:
        stmt = stmt.where(Delivery.product_id.in_(_products(
            select(Product.id).join(Producer, Producer.id == Product.producer_id), f)))
    counts = {(code, status): n for code, status, n in session.execute(stmt)}
    figure = Figure("deliveries", ("exchange", *DELIVERY_STATES))
    for code in session.scalars(select(Exchange.code).order_by(Exchange.id)):
        figure.rows.append((code, *(int(counts.get((code, s), 0)) for s in DELIVERY_STATES)))
    return figure


FIGURES = {
    "products": lambda session, f, o: products_by_group(session, f, today=o["today"], language=o["language"]),
    "listed": lambda session, f, o: listed_per_exchange(session, f, base_url=o["base_url"], today=o["today"]),
    "producers": lambda session, f, o: producers_per_commune(session, f),
    "activity": lambda session, f, o: activity(session, f, today=o["today"], by=o["by"]),
    "deliveries": lambda session, f, o: deliveries_per_exchange(session, f, today=o["today"]),
}


def figures(session, f: Filters, keys=tuple(FIGURES), *, today: dt.date, base_url: str, language: str = "vi",
            by: str = "day") -> dict[str, Figure]:
    """The figures named by ``keys`` (all of them by default; a CSV needs only its own)."""
    options = {"today": today, "base_url": base_url, "language": language, "by": by}
    return {key: FIGURES[key](session, f, options) for key in keys}
