"""Catalogue items that change by the calendar alone, pushed like any other change.

An OCOP recognition stops counting the day after its ``valid_until`` (the stars leave the
item), a certificate the day after its ``valid_to``, and a certificate with a future
``valid_from`` starts counting on that day.  Nobody edits the product then, so nothing
bumps its version and the outbox would stay silent: the exchanges that take pushes would go
on showing stars that lapsed.  Once a day, the worker reports every listed product whose
item so changed since the last time (catching up on days it was not running) to
:func:`marketplace.changes.calendar_changed`: each gets a new version, and its deliveries
are queued, in the same transaction.

Pull feeds need none of this: they build items for the day they are asked.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import public_facts
from ..changes import calendar_changed
from ..models import Certification, DailyJob, OcopRecognition, Producer, Product

JOB = "catalogue-dates"


def changed_by_date(session, *, after: dt.date, through: dt.date) -> list[int]:
    """Ids of the listed products whose item changes by itself on a day ``d`` with
    ``after < d <= through``."""
    lapsed_ocop = select(OcopRecognition.product_id).where(
        OcopRecognition.revoked.is_(False), OcopRecognition.valid_until >= after, OcopRecognition.valid_until < through)
    certificate_turns = (Certification.verified.is_(True), or_(
        (Certification.valid_to >= after) & (Certification.valid_to < through),
        (Certification.valid_from > after) & (Certification.valid_from <= through)))
    for_product = select(Certification.product_id).where(Certification.product_id.is_not(None), *certificate_turns)
    producer_wide = select(Certification.producer_id).where(Certification.product_id.is_(None), *certificate_turns)
    return list(session.scalars(
        select(Product.id).join(Producer, Producer.id == Product.producer_id)
        .where(public_facts.listed_sql(), or_(Product.id.in_(lapsed_ocop), Product.id.in_(for_product),
                                                 Product.producer_id.in_(producer_wide)))
        .order_by(Product.id)))


def sweep(session, *, today: dt.date) -> int | None:
    """New versions for the products whose items changed by date since the last sweep (the
    first sweep looks back one day); None when another worker already swept today.  Commits."""
    last = session.scalar(select(DailyJob.last_day).where(DailyJob.name == JOB))
    if last is None:
        try:
            with session.begin_nested():
                session.execute(insert(DailyJob).values(name=JOB, last_day=today - dt.timedelta(days=1)))
        except IntegrityError:  # another worker made it first
            pass
        last = session.scalar(select(DailyJob.last_day).where(DailyJob.name == JOB))
    if last >= today:
        session.commit()
        return None
    # Compare-and-set: of workers racing here, exactly one moves the day on and sweeps.
    won = session.execute(update(DailyJob).where(DailyJob.name == JOB, DailyJob.last_day == last)
                          .values(last_day=today)).rowcount == 1
    if not won:
        session.rollback()
        return None
    ids = changed_by_date(session, after=last, through=today)
    calendar_changed(session, ids)  # a new version each; the outbox writes their deliveries at commit
    session.commit()
    return len(ids)
