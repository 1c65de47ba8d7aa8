"""What a buyer is told (docs/decisions/0001-one-truth.md): the one place that decides the public facts.

Every channel (catalogue, product and producer pages, the stamp page and its JSON, lot pages,
link sets, dashboards, officers' figures, every exchange's feed and push, the API, EPCIS)
renders what this module decides and works none of it out on its own:

* a product is **listed** while it is published and its producer approved (an archived,
  rejected, pending or draft product is not; nor is any product of a suspended producer);
* it is **sellable** while listed, with stock, and no recall in force: while one of its lots
  is recalled it is for sale nowhere, until an officer lifts the recall;
* the **recalls in force** are its lots whose status is recalled (lot code, reason, time);
* the **OCOP stars in force** come from the recognition that is not revoked and still valid
  today with the most stars; the **certificates in force** are verified and within their
  dates (the product's own and its producer's facility-wide ones);
* an exchange **lists** a product when the product is listed, the exchange's pre-flight
  accepts its item, and the exchange has it: it pulls the feed (it holds a feed token) or
  the newest push it acknowledged carried the item (not a deletion);
* a buyer is sent to buy it on an exchange (its page there) only while that exchange lists
  it and it is sellable (:func:`buyable_on`);
* a stamp has one **verdict** from a closed list (:class:`Verdict`).

The deciding functions take plain values (statuses, counts, rows or objects with the named
attributes), so rows read with the driver (feeds, the stamp page) and ORM objects (pages,
the API) go through the same code.  The SQL forms used to filter lists (``*_sql``) sit
beside the Python forms they must agree with, and the tests hold the two together.
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

from sqlalchemy import and_, exists, or_, select

from .models import (Batch, BatchStatus, Certification, OcopRecognition, Producer, ProducerStatus, Product,
                     ProductStatus)

_PUBLISHED, _APPROVED, _RECALLED = ProductStatus.published.value, ProducerStatus.approved.value, BatchStatus.recalled.value


# ---- products ---------------------------------------------------------------------------

def is_listed(product_status: str, producer_status: str) -> bool:
    """Published by an approved producer: the product is on the public catalogue."""
    return product_status == _PUBLISHED and producer_status == _APPROVED


def recall_in_force(batch_status: str) -> bool:
    """A lot's recall is in force from the recall until an officer lifts it."""
    return batch_status == _RECALLED


def recognition_in_force(recognition, today: dt.date) -> bool:
    """An OCOP recognition counts while it is not revoked and ``valid_until`` is not past."""
    return not recognition.revoked and recognition.valid_until >= today


def ocop_in_force(recognitions: Iterable, today: dt.date):
    """The recognition whose stars buyers see: in force, most stars, then longest valid."""
    return max((r for r in recognitions if recognition_in_force(r, today)),
               key=lambda r: (r.stars, r.valid_until), default=None)


def certification_in_force(certification, today: dt.date) -> bool:
    """Verified by an officer and within its dates (a certificate may start later)."""
    return bool(certification.verified) and (certification.valid_from is None or certification.valid_from <= today) \
        and (certification.valid_to is None or certification.valid_to >= today)


@dataclass(frozen=True)
class Recall:
    """A recall in force: which lot, why, since when."""
    batch_id: int
    lot: str
    reason: str
    recalled_at: dt.datetime | None


class Availability(str, enum.Enum):
    """Why a product is or is not for sale, in the order buyers need to hear it."""
    not_listed = "not_listed"
    recalled = "recalled"
    out_of_stock = "out_of_stock"
    in_stock = "in_stock"


@dataclass(frozen=True)
class ProductFacts:
    """Everything a buyer is told about one product, decided once."""
    status: str
    listed: bool
    stock: int
    recalls: tuple[Recall, ...] = ()
    ocop: object | None = None
    certifications: tuple = ()

    @property
    def sellable(self) -> bool:
        return self.listed and self.stock > 0 and not self.recalls

    @property
    def availability(self) -> Availability:
        if not self.listed:
            return Availability.not_listed
        if self.recalls:
            return Availability.recalled
        return Availability.in_stock if self.stock > 0 else Availability.out_of_stock

    @property
    def state(self) -> str:
        """For the producer's and officers' lists: the product's status until it is
        published; then ``hidden`` (its producer is not approved) or its availability."""
        if self.status != _PUBLISHED:
            return self.status
        return "hidden" if not self.listed else self.availability.value

    @property
    def stock_for_sale(self) -> int:
        """What the exchanges may sell: the stock while sellable, else 0."""
        return self.stock if self.sellable else 0

    @property
    def recalled_lots(self) -> tuple[str, ...]:
        return tuple(r.lot for r in self.recalls)

    @property
    def stars(self) -> int | None:
        return self.ocop.stars if self.ocop is not None else None


def product_facts(*, product_status: str, producer_status: str, stock: int, recalls: Sequence[Recall] = (),
                  recognitions: Iterable = (), certifications: Iterable = (), today: dt.date) -> ProductFacts:
    """The facts of one product from its own values and related rows (any objects or rows
    with the attributes the rules above read)."""
    return ProductFacts(
        status=product_status, listed=is_listed(product_status, producer_status), stock=stock, recalls=tuple(recalls),
        ocop=ocop_in_force(recognitions, today),
        certifications=tuple(c for c in certifications if certification_in_force(c, today)))


def recalls_of(batches: Iterable) -> tuple[Recall, ...]:
    """The recalls in force among ``batches`` (objects or rows: id, lot_code, status,
    recall_reason, recalled_at), in lot creation order."""
    return tuple(Recall(b.id, b.lot_code, b.recall_reason or "", b.recalled_at)
                 for b in sorted(batches, key=lambda b: b.id) if recall_in_force(b.status))


def recalls_by_product(session, product_ids: Iterable[int]) -> dict[int, tuple[Recall, ...]]:
    """Recalls in force of several products in one query."""
    ids = list(product_ids)
    found: dict[int, list] = {}
    if not ids:
        return {}
    for row in session.execute(select(Batch.product_id, Batch.id, Batch.lot_code, Batch.status, Batch.recall_reason,
                                      Batch.recalled_at)
                               .where(Batch.product_id.in_(ids), recall_in_force_sql(Batch)).order_by(Batch.id)):
        found.setdefault(row.product_id, []).append(row)
    return {pid: recalls_of(rows) for pid, rows in found.items()}


def certifications_for(product: Product) -> list:
    """The certificates that may speak for ``product``: its own and its producer's
    facility-wide ones (before the in-force rule)."""
    return list(product.certifications) + [c for c in product.producer.certifications if c.product_id is None]


def facts_of(product: Product, *, today: dt.date, recalls: Sequence[Recall] | None = None,
             with_certifications: bool = True) -> ProductFacts:
    """The facts of an ORM product (its producer, recognitions and batches loaded as
    needed; pass ``recalls`` from :func:`recalls_by_product` for a list of products)."""
    if recalls is None:
        recalls = recalls_of(product.batches)
    return product_facts(product_status=product.status, producer_status=product.producer.status, stock=product.stock,
                         recalls=recalls, recognitions=product.recognitions,
                         certifications=certifications_for(product) if with_certifications else (), today=today)


def facts_of_many(session, products: Sequence[Product], *, today: dt.date,
                  with_certifications: bool = False) -> dict[int, ProductFacts]:
    """Facts of a page of products (cards, lists): recalls fetched in one query."""
    recalls = recalls_by_product(session, [p.id for p in products])
    return {p.id: facts_of(p, today=today, recalls=recalls.get(p.id, ()), with_certifications=with_certifications)
            for p in products}


def facility_certifications(producer: Producer, *, today: dt.date) -> list:
    """The producer's facility-wide certificates in force (its page; each product page adds
    the product's own)."""
    return [c for c in producer.certifications if c.product_id is None and certification_in_force(c, today)]


# ---- the same rules in SQL (list filters; must agree with the functions above) -----------

def listed_sql():
    """``is_listed`` for a statement that joins Product and Producer."""
    return and_(Product.status == _PUBLISHED, Producer.status == _APPROVED)


def recall_in_force_sql(batch=Batch):
    return batch.status == _RECALLED


def has_recall_sql():
    """The product (``Product``) has a recall in force."""
    return exists().where(Batch.product_id == Product.id, recall_in_force_sql())


def sellable_sql():
    """``ProductFacts.sellable`` for a statement that joins Product and Producer."""
    return and_(listed_sql(), Product.stock > 0, ~has_recall_sql())


def recognition_in_force_sql(today: dt.date, recognition=OcopRecognition):
    return and_(recognition.revoked.is_(False), recognition.valid_until >= today)


def stars_at_least_sql(stars: int, today: dt.date):
    """The product's OCOP stars in force are at least ``stars``."""
    return exists().where(OcopRecognition.product_id == Product.id, OcopRecognition.stars >= stars,
                          recognition_in_force_sql(today))


def certification_in_force_sql(today: dt.date, certification=Certification):
    return and_(certification.verified.is_(True),
                or_(certification.valid_from.is_(None), certification.valid_from <= today),
                or_(certification.valid_to.is_(None), certification.valid_to >= today))


# ---- exchanges --------------------------------------------------------------------------

class ExchangeState(str, enum.Enum):
    """Where a product stands on one exchange."""
    listed = "listed"            # the exchange has it
    waiting = "waiting"          # accepted, but the exchange has not taken it yet (no pull token, push pending)
    refused = "refused"          # the exchange's pre-flight refuses the item
    not_listed = "not_listed"    # the product is not on the public catalogue


class ExchangeListing(NamedTuple):  # (a tuple: a country's figure makes one per product and exchange)
    code: str
    state: ExchangeState
    reasons: tuple = ()
    pullable: bool = False
    sent_version: int | None = None
    pending: int = 0

    @property
    def listed(self) -> bool:
        return self.state is ExchangeState.listed


def exchange_listing(code: str, *, listed: bool, reasons: Sequence = (), pullable: bool,
                     pushed_item: bool, sent_version: int | None = None, pending: int = 0) -> ExchangeListing:
    """One definition of "listed on an exchange", for the product pages and the figures.

    :param listed: the product is listed (:func:`is_listed`)
    :param reasons: the exchange's pre-flight reasons against the product's item
    :param pullable: the exchange pulls the feed (it holds a feed token)
    :param pushed_item: the newest push the exchange acknowledged for the product carried the
        item, not a deletion
    """
    if not listed:
        state = ExchangeState.not_listed
    elif reasons:
        state = ExchangeState.refused
    elif pullable or pushed_item:
        state = ExchangeState.listed
    else:
        state = ExchangeState.waiting
    return ExchangeListing(code, state, tuple(reasons), pullable, sent_version, pending)


def buyable_on(listing: ExchangeListing, *, sellable: bool, url: str | None) -> bool:
    """Whether a buyer is sent to buy the product on an exchange ("Mua trên Postmart"): only
    where the exchange lists it (:func:`exchange_listing`), it is sellable (no link to a
    recalled or sold-out product, whatever the exchange still shows), and its page there
    is known."""
    return bool(url) and sellable and listing.listed


# ---- stamps -----------------------------------------------------------------------------

class Verdict(str, enum.Enum):
    """What a stamp page says, one of these and only one."""
    genuine = "genuine"                # ✓ the stamp is ours, active, its product listed and its lot not recalled
    recalled = "recalled"              # the stamp is ours but its lot is recalled: do not use
    not_activated = "not_activated"    # issued, never confirmed as stuck on a package
    void = "void"                      # voided by its producer (a lost or damaged roll)
    withdrawn = "withdrawn"            # product not verified or withdrawn (not published, producer suspended)
    suspected_copy = "suspected_copy"  # scanned too often or from too many places
    unknown = "unknown"                # no such stamp: perhaps counterfeit


def copy_suspected(*, scanners: int, threshold: int, other_province_seen: bool, first_province: int | None,
                   province: int | None) -> bool:
    """Signs that a stamp was copied: more distinct scanners than ``threshold`` (people, not
    page loads: marketplace.scan.scanner; test scans never count), or scans from two
    provinces."""
    return scanners > threshold or other_province_seen or (
        province is not None and first_province not in (None, province))


def stamp_verdict(*, stamp_status: str | None, lot_recalled: bool = False, listed: bool = True,
                  suspicious: bool = False) -> Verdict:
    """The one verdict of a stamp (``stamp_status`` None: the serial does not exist).

    In this order: an unknown serial; a void stamp (we cannot vouch for what carries it);
    a recalled lot (safety first: do not use, whatever else is true); a product that is not
    listed (not verified or withdrawn); a stamp never activated; signs of copying; genuine.
    """
    if stamp_status is None:
        return Verdict.unknown
    if stamp_status == "void":
        return Verdict.void
    if lot_recalled:
        return Verdict.recalled
    if not listed:
        return Verdict.withdrawn
    if stamp_status != "active":
        return Verdict.not_activated
    if suspicious:
        return Verdict.suspected_copy
    return Verdict.genuine
