"""Scans kept sensibly (issue 18, point 5): raw scans older than ``SCAN_RETENTION_DAYS`` are
folded into the daily aggregates and deleted by the daily job (``flask expire`` and the
worker), oldest day first.

Folding a local day is one short transaction: its ``scan_day`` rows are rebuilt from its raw
rows, now with the distinct stamps each lot had scanned per province; each stamp scanned that
day keeps its distinct scanners in ``scanners_folded``; and the day is marked in
``scan_fold``.  Its rows are then deleted in batches of ``batch_size``, each its own short
transaction, so the stamp page's writes wait for one small delete at most.  A second run (or
a second worker) finds the mark and only goes on deleting: nothing is counted twice.  What
a stamp page says is kept on the stamp itself (scan count, first scan, provinces seen).

``rebuild_day`` derives one day's aggregates from its raw rows again: the daily job checks
the day before yesterday's with it (scans recorded by any other way than the scan writer count too).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from ..models import Scan, ScanDay, ScanFold, Stamp
from ..models.base import LOCAL_TZ, day_bounds, utcnow


@dataclass
class Folded:
    days: int = 0        # days folded by this run
    deleted: int = 0     # raw scans deleted
    batches: int = 0     # delete transactions


def _buyers_scans_of(day: dt.date):
    start, end = day_bounds(day)
    return Scan.scanned_at >= start, Scan.scanned_at < end, Scan.test.is_(False)


def rebuild_day(session, day: dt.date, *, with_stamps: bool = False) -> None:
    """``scan_day`` of ``day`` derived from its raw rows (not for a folded day: its rows are
    gone or going).  The caller commits."""
    if session.get(ScanFold, day) is not None:
        return
    session.execute(delete(ScanDay).where(ScanDay.day == day))
    province = func.coalesce(Scan.province_code, 0)
    columns = [ScanDay.day, ScanDay.batch_id, ScanDay.province_code, ScanDay.scans]
    values = [func.count()]
    if with_stamps:
        columns.append(ScanDay.stamps)
        values.append(func.count(func.distinct(Scan.stamp_id)))
    rows = (select(Stamp.batch_id, province, *values).join(Stamp, Stamp.id == Scan.stamp_id)
            .where(*_buyers_scans_of(day)).group_by(Stamp.batch_id, province))
    found = session.execute(rows).all()
    if found:
        session.execute(insert(ScanDay), [dict(zip((c.key for c in columns), (day, *row))) for row in found])


def _fold_day(session, day: dt.date) -> bool:
    """Fold ``day`` (one transaction); False when it was folded already (by anyone)."""
    if session.get(ScanFold, day) is not None:
        session.rollback()
        return False
    rebuild_day(session, day, with_stamps=True)
    scanners = (select(func.count(func.distinct(func.coalesce(Scan.scanner, ""))))
                .where(Scan.stamp_id == Stamp.id, *_buyers_scans_of(day)).scalar_subquery())
    seen = select(Scan.stamp_id).where(*_buyers_scans_of(day))
    session.execute(Stamp.__table__.update().where(Stamp.id.in_(seen))
                    .values(scanners_folded=Stamp.scanners_folded + scanners))
    try:
        with session.begin_nested():
            session.add(ScanFold(day=day, folded_at=utcnow()))
        session.commit()
    except IntegrityError:  # another worker folded it meanwhile: its counts stand, not ours
        session.rollback()
        return False
    return True


def _delete_day(session, day: dt.date, batch_size: int, report: Folded) -> None:
    start, end = day_bounds(day)
    while True:
        ids = select(Scan.id).where(Scan.scanned_at >= start, Scan.scanned_at < end).order_by(Scan.id) \
            .limit(batch_size).scalar_subquery()
        gone = session.execute(delete(Scan).where(Scan.id.in_(ids))).rowcount
        session.commit()
        if not gone:
            return
        report.deleted += gone
        report.batches += 1


def fold_old_scans(session, *, today: dt.date, retention_days: int, batch_size: int = 5000) -> Folded:
    """Fold and delete the raw scans of every local day before ``today - retention_days``,
    oldest first.  Commits as it goes."""
    report = Folded()
    cutoff, _ = day_bounds(today - dt.timedelta(days=retention_days))
    while True:
        first = session.scalar(select(func.min(Scan.scanned_at)).where(Scan.scanned_at < cutoff))
        if first is None:
            session.commit()
            return report
        first = first if first.tzinfo else first.replace(tzinfo=dt.timezone.utc)
        day = first.astimezone(LOCAL_TZ).date()
        if _fold_day(session, day):
            report.days += 1
        _delete_day(session, day, batch_size, report)


def daily(session, config, *, today: dt.date) -> Folded:
    """The daily job's part: the aggregates of the day before yesterday (no scan of it can
    still be on its way) derived from its raw rows again, then the old days folded."""
    rebuild_day(session, today - dt.timedelta(days=2))
    session.commit()
    return fold_old_scans(session, today=today, retention_days=config["SCAN_RETENTION_DAYS"],
                          batch_size=config["SCAN_FOLD_BATCH"])

