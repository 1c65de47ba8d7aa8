"""OCOP recognitions and certificates that expire soon or have expired (issue 6): the list
officers act on, and the warning producers see on their dashboard.

A recognition or certificate is listed only while it still matters: when no newer one has
taken its place (an OCOP recognition of the same product, or a verified certificate of the
same scheme for the same producer and product, that lasts longer), even ahead of expiry.  Products that
left the catalogue for good (archived, rejected) are left out.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import aliased

from .models import Certification, OcopRecognition, Producer, Product, ProductStatus

WARN_DAYS = 60       # "expiring": valid for at most this many more days
EXPIRED_DAYS = 365   # expired ones are listed for a year
_GONE = (ProductStatus.archived.value, ProductStatus.rejected.value)


@dataclass(frozen=True)
class Expiry:
    kind: str                 # "ocop" or "certification"
    id: int
    producer_id: int
    producer_name: str
    product_id: int | None
    product_name: str | None
    label: str                # "4★ · GCN-…" or the scheme code and number
    scheme: str | None        # certifications: the scheme code (labels are translated in templates)
    valid_until: dt.date
    days_left: int            # negative: expired that many days ago

    @property
    def expired(self) -> bool:
        return self.days_left < 0


def expiring(session, *, today: dt.date, producer_ids: list[int] | None = None, warn_days: int = WARN_DAYS,
             expired_days: int = EXPIRED_DAYS) -> list[Expiry]:
    """Recognitions and verified certificates valid until a day in
    ``[today - expired_days, today + warn_days]`` that nothing newer replaces: the expired
    ones first, most recently expired first, then the others, soonest first."""
    first, last = today - dt.timedelta(days=expired_days), today + dt.timedelta(days=warn_days)
    found: list[Expiry] = []

    newer_ocop = aliased(OcopRecognition)
    ocop = (select(OcopRecognition, Product.name, Producer.id, Producer.name)
            .join(Product, Product.id == OcopRecognition.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .where(OcopRecognition.revoked.is_(False), OcopRecognition.valid_until.between(first, last),
                   Product.status.not_in(_GONE),
                   ~exists().where(  # renewed (even early): the newer one is what counts
                       newer_ocop.product_id == OcopRecognition.product_id, newer_ocop.revoked.is_(False),
                       newer_ocop.id != OcopRecognition.id, newer_ocop.valid_until > OcopRecognition.valid_until)))
    if producer_ids is not None:
        ocop = ocop.where(Producer.id.in_(producer_ids))
    for rec, product_name, producer_id, producer_name in session.execute(ocop):
        found.append(Expiry("ocop", rec.id, producer_id, producer_name, rec.product_id, product_name,
                            f"{rec.stars}★ · {rec.certificate_no or rec.decision_no}", None, rec.valid_until,
                            (rec.valid_until - today).days))

    newer_cert = aliased(Certification)
    certs = (select(Certification, Product.name, Producer.name)
             .join(Producer, Producer.id == Certification.producer_id)
             .outerjoin(Product, Product.id == Certification.product_id)
             .where(Certification.verified.is_(True), Certification.valid_to.between(first, last),
                    or_(Product.id.is_(None), Product.status.not_in(_GONE)),
                    ~exists().where(  # renewed (even early): the newer one is what counts
                        newer_cert.producer_id == Certification.producer_id, newer_cert.scheme == Certification.scheme,
                        or_(newer_cert.product_id == Certification.product_id,
                            and_(newer_cert.product_id.is_(None), Certification.product_id.is_(None))),
                        newer_cert.verified.is_(True), newer_cert.id != Certification.id,
                        or_(newer_cert.valid_to.is_(None), newer_cert.valid_to > Certification.valid_to))))
    if producer_ids is not None:
        certs = certs.where(Certification.producer_id.in_(producer_ids))
    for cert, product_name, producer_name in session.execute(certs):
        found.append(Expiry("certification", cert.id, cert.producer_id, producer_name, cert.product_id,
                            product_name, cert.number, cert.scheme, cert.valid_to, (cert.valid_to - today).days))
    return sorted(found, key=lambda e: (not e.expired, -e.days_left if e.expired else e.days_left, e.kind, e.id))
