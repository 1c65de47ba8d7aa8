"""Clone alerts (issue 6, refined by issue 14): stamps seen by more distinct scanners than
``SCAN_CLONE_THRESHOLD``, or from a second province, as the stamp page warns buyers; and
serial probes: links naming serials that do not exist, grouped by the product they aim at.

An officer looks at a stamp's scan history, voids the stamp or its run, or marks the alert
handled; a handled alert comes back when a buyer scans the stamp again afterwards.  Test
scans (by the stamp's producer, its cooperative or an officer) are listed in the history,
marked as such, and count for nothing.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, false, func, or_, select

from .models import Batch, Producer, Product, Scan, SerialProbe, Stamp, StampStatus

PAGE = 200
PROBE_DAYS = 30       # serial probes looked at
PROBE_GROUPS = 100    # products listed at most
PROBE_VALUES = 10     # lots (and provinces) named per product; "and n more" beyond


@dataclass(frozen=True)
class Alert:
    stamp: Stamp
    lot: str
    product_name: str
    producer_name: str
    provinces: int          # distinct known provinces buyers scanned it from
    last_scan_at: dt.datetime | None  # buyers' scans only

    @property
    def handled(self) -> bool:
        handled = self.stamp.alert_handled_at
        return handled is not None and (self.last_scan_at is None or self.last_scan_at <= handled)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


def _buyers_scans():
    """Scans of the stamp in the enclosing query that are not test scans."""
    return and_(Scan.stamp_id == Stamp.id, Scan.test.is_(false()))


def clone_alerts(session, *, threshold: int, include_handled: bool = False, limit: int = PAGE,
                 producer_ids: set[int] | None = None) -> list[Alert]:
    """Stamps over the threshold, most recently scanned first (handled ones only when asked);
    of these producers' products only when ``producer_ids`` is given (a commune officer's).

    A stamp is over it when more distinct scanners than ``threshold`` looked at it
    (``Stamp.scanner_count``: one phone reloading the page is one scanner), or when it was
    seen from a second province.
    """
    # Per-stamp subqueries on the scan(stamp_id) index: only the few stamps over the threshold
    # are looked at (aggregating the whole scan table first took 6 s on 2M scans).
    last_at = (select(func.max(Scan.scanned_at)).where(_buyers_scans())
               .correlate(Stamp).scalar_subquery().label("last_at"))
    provinces = (select(func.count(func.distinct(Scan.province_code))).where(_buyers_scans())
                 .correlate(Stamp).scalar_subquery())
    stmt = (select(Stamp, Batch.lot_code, Product.name, Producer.name, provinces, last_at)
            .join(Batch, Batch.id == Stamp.batch_id).join(Product, Product.id == Batch.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .where(or_(Stamp.scanner_count > threshold, Stamp.other_province_seen.is_(True)))
            .order_by(last_at.desc().nulls_last(), Stamp.id.desc()))
    if producer_ids is not None:
        stmt = stmt.where(Producer.id.in_(producer_ids or {-1}))
    if not include_handled:  # nor void stamps: voiding is the strongest way of handling one
        stmt = stmt.where(Stamp.status != StampStatus.void.value,
                          or_(Stamp.alert_handled_at.is_(None), last_at > Stamp.alert_handled_at))
    return [Alert(stamp, lot, product, producer, provinces or 0, _aware(last_at))
            for stamp, lot, product, producer, provinces, last_at in session.execute(stmt.limit(limit))]


def scan_history(session, stamp: Stamp, limit: int = 500) -> list[Scan]:
    """The stamp's scans, newest first, test scans included (``Scan.test`` marks them)."""
    return list(session.scalars(select(Scan).where(Scan.stamp_id == stamp.id)
                                .order_by(Scan.scanned_at.desc(), Scan.id.desc()).limit(limit)))


def buyer_scan_count(scans: list[Scan]) -> int:
    """Scans in ``scans`` that count (test scans do not)."""
    return sum(1 for scan in scans if not scan.test)


@dataclass(frozen=True)
class ProbeGroup:
    """Made-up serials asked for one product (or one GTIN we do not know) lately."""

    product_id: int | None
    product_name: str | None
    gtin: str | None
    count: int
    last_at: dt.datetime
    lots: tuple[str, ...]       # at most PROBE_VALUES, most asked first
    more_lots: int              # distinct lots beyond those
    provinces: tuple[int, ...]  # known provinces, at most PROBE_VALUES


@dataclass(frozen=True)
class ProbeReport:
    groups: list[ProbeGroup]
    unqualified: int            # ``/s/`` probes: no GTIN, so no product to name
    since: dt.datetime


def serial_probes(session, *, now: dt.datetime, days: int = PROBE_DAYS, limit: int = PROBE_GROUPS,
                  producer_ids: set[int] | None = None) -> ProbeReport:
    """Probes of the last ``days`` grouped by product (and GTIN), most probed first: someone
    trying serials on a product.  A few grouped queries, so a flood of probes costs the page
    the number of products and lots it names, not the number of probes.  With
    ``producer_ids`` (a commune officer's), only probes naming these producers' products."""
    since = now - dt.timedelta(days=days)
    recent = SerialProbe.probed_at >= since
    qualified = or_(SerialProbe.gtin.is_not(None), SerialProbe.product_id.is_not(None))
    if producer_ids is not None:  # a probe names a commune's product, or no commune at all
        qualified = SerialProbe.product_id.in_(select(Product.id).where(Product.producer_id.in_(producer_ids or {-1})))
    key = (SerialProbe.product_id, SerialProbe.gtin)
    rows = session.execute(
        select(*key, Product.name, func.count(), func.max(SerialProbe.probed_at))
        .outerjoin(Product, Product.id == SerialProbe.product_id)
        .where(recent, qualified).group_by(*key, Product.name)
        .order_by(func.count().desc(), func.max(SerialProbe.probed_at).desc()).limit(limit)).all()
    wanted = {(product_id, gtin) for product_id, gtin, *_ in rows}
    lots: dict[tuple, list[str]] = defaultdict(list)
    lot_counts: dict[tuple, int] = {}
    provinces: dict[tuple, list[int]] = defaultdict(list)
    if wanted:
        for product_id, gtin, lot, distinct in _top_values(session, SerialProbe.lot, recent, qualified):
            if (product_id, gtin) in wanted:
                lots[(product_id, gtin)].append(lot)
                lot_counts[(product_id, gtin)] = distinct
        for product_id, gtin, province, _ in _top_values(session, SerialProbe.province_code, recent, qualified):
            if (product_id, gtin) in wanted:
                provinces[(product_id, gtin)].append(province)
    groups = [ProbeGroup(product_id, name, gtin, count, _aware(last_at), tuple(lots[(product_id, gtin)]),
                         lot_counts.get((product_id, gtin), 0) - len(lots[(product_id, gtin)]),
                         tuple(provinces[(product_id, gtin)]))
              for product_id, gtin, name, count, last_at in rows]
    unqualified = 0 if producer_ids is not None else session.scalar(select(func.count()).select_from(SerialProbe).where(
        recent, SerialProbe.gtin.is_(None), SerialProbe.product_id.is_(None))) or 0
    return ProbeReport(groups, unqualified, since)


def _top_values(session, column, *conditions):
    """Per (product, GTIN): its ``PROBE_VALUES`` most frequent non-null values of ``column``
    and how many distinct ones there are, as rows (product id, GTIN, value, number of distinct values).  A
    window over the grouped rows, so made-up lots by the thousand never reach Python."""
    key = (SerialProbe.product_id, SerialProbe.gtin)
    grouped = (select(*key, column.label("value"),
                      func.row_number().over(partition_by=key, order_by=(func.count().desc(), column)).label("ordinal"),
                      func.count().over(partition_by=key).label("kinds"))
               .where(*conditions, column.is_not(None)).group_by(*key, column).subquery())
    return session.execute(select(grouped.c.product_id, grouped.c.gtin, grouped.c.value, grouped.c.kinds)
                           .where(grouped.c.ordinal <= PROBE_VALUES)
                           .order_by(grouped.c.product_id, grouped.c.gtin, grouped.c.ordinal)).all()
