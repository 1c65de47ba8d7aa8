"""What a GS1 Digital Link resolves to, and which of its links answers a request.

Plain functions over their arguments: no request and no application are looked up here.
The resolver's views (:mod:`.routes`) pass in the database session, a :class:`Site` (the
public base URL, a URL builder, today's date) and the client's ``Accept`` header.

* :func:`find`: the product, batch and stamp a link names.  A serial's check character is
  verified before any query; a stamp counts only under the link's GTIN (and lot, when the
  link names one).  Stamps, batches and the products they belong to are found whatever the
  product's catalogue status, because a printed stamp must keep working.
* :func:`link_levels`: the link builders of the item, most specific level first (serial, lot,
  product), built lazily: a default redirect at serial level needs no further query.  The
  product page (``gs1:pip``) is offered only for a published product of an approved producer.
* :func:`choose`: the link of a requested type (most specific level first, its media type
  chosen by ``Accept``) or the default link; :func:`linkset`: the RFC 9264 document of every
  level; :func:`with_query`: a target with the passed-on query string.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from typing import Callable, NamedTuple, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import public_facts
from ..models import Batch, Producer, ProducerStatus, Product, Stamp
from ..stamps.serials import InvalidSerial, group_serial, normalize
from .digital_link import DigitalLink, Link, build_linkset

LinkLevel = Callable[[], list[Link]]


class Accept(Protocol):
    """The client's ``Accept`` header (``request.accept_mimetypes``)."""

    def best_match(self, matches: list[str]) -> str | None: ...


@dataclass(frozen=True)
class Site:
    """Where the links point: ``base`` is ``PUBLIC_BASE_URL`` without its trailing slash
    (never the Host header), ``url_for`` builds the path of an endpoint (``flask.url_for``),
    ``today`` is the local date (certificates in force)."""

    base: str
    url_for: Callable[..., str]
    today: dt.date


class Found(NamedTuple):
    """The item a link names: ``batch`` and ``stamp`` None when unknown."""

    product: Product
    batch: Batch | None
    stamp: Stamp | None


def find(session: Session, link: DigitalLink) -> Found | None:
    """(product, batch, stamp) for the link, the last two None when unknown; None when
    no product carries the GTIN.  The serial's check character is verified before any query."""
    product = session.scalars(select(Product).where(Product.gtin == link.gtin)).first()
    if product is None:
        return None
    batch = stamp = None
    if link.lot is not None:
        batch = _batch(session, product, link.lot)
    if link.serial is not None and (link.lot is None or batch is not None):
        try:
            serial = normalize(link.serial)
        except InvalidSerial:
            serial = None
        if serial is not None:
            stamp = session.scalars(select(Stamp).where(Stamp.serial == serial)).first()
            if stamp is not None and (stamp.batch.product_id != product.id
                                      or (batch is not None and stamp.batch_id != batch.id)):
                stamp = None
            if stamp is not None and batch is None:
                batch = stamp.batch  # /01/<gtin>/21/<serial>: the stamp still belongs to a lot
    return Found(product, batch, stamp)


def _batch(session: Session, product: Product, lot: str) -> Batch | None:
    query = select(Batch).where(Batch.product_id == product.id)
    found = session.scalars(query.where(Batch.lot_code == lot)).first()
    if found is None and lot.upper() != lot:  # lot codes are stored in capitals
        found = session.scalars(query.where(Batch.lot_code == lot.upper())).first()
    return found


def stamp_page_url(base: str, serial: str) -> str:
    """The stamp page: a serial's default link."""
    return f"{base}/s/{serial}"


def serial_links(site: Site, stamp: Stamp) -> list[Link]:
    shown = group_serial(stamp.serial)
    return [Link(None, stamp_page_url(site.base, stamp.serial), f"Tem {shown}: nguồn gốc và xác thực",
                 f"Stamp {shown}: origin and authenticity")]


def lot_links(site: Site, batch: Batch) -> list[Link]:
    base, lot_code = site.base, batch.lot_code
    page = base + site.url_for("scan.batch", batch_id=batch.id)
    if public_facts.recall_in_force(batch.status):  # the title states the recall status itself
        recall = (f"Lô {lot_code} đang bị thu hồi: không sử dụng", f"Lot {lot_code} is recalled: do not use")
    else:
        recall = (f"Lô {lot_code} không bị thu hồi", f"Lot {lot_code} is not recalled")
    return [
        Link("traceability", page, f"Truy xuất nguồn gốc lô {lot_code}", f"Traceability of lot {lot_code}"),
        Link("traceability", base + site.url_for("scan.batch_epcis", batch_id=batch.id),
             f"Sự kiện EPCIS 2.0 của lô {lot_code}", f"EPCIS 2.0 events of lot {lot_code}",
             type="application/ld+json", hreflang=()),
        Link("recallStatus", page + "#recall", *recall),
    ]


def product_links(site: Site, product: Product) -> list[Link]:
    producer: Producer = product.producer
    if producer.status != ProducerStatus.approved.value:
        return []
    base, links = site.base, []
    facts = public_facts.facts_of(product, today=site.today)
    if facts.listed:
        page = base + site.url_for("catalogue.product", slug=product.slug)
        links.append(Link("pip", page, f"Thông tin sản phẩm: {product.name}", f"Product information: {product.name}"))
        certified = facts.certifications
    else:  # not listed: the producer's own page still shows its facility-wide certificates
        page = base + site.url_for("catalogue.producer", slug=producer.slug)
        certified = public_facts.facility_certifications(producer, today=site.today)
    if certified:
        links.append(Link("certificationInfo", page + "#certifications",
                          f"Chứng nhận: {product.name}", f"Certifications: {product.name}"))
    return links


def link_levels(site: Site, found: Found) -> list[LinkLevel]:
    """Link builders, most specific level first (built lazily: a default redirect at serial
    level needs no further query)."""
    product, batch, stamp = found
    builders: list[LinkLevel] = []
    if stamp is not None:
        builders.append(partial(serial_links, site, stamp))
    if batch is not None:
        builders.append(partial(lot_links, site, batch))
    builders.append(partial(product_links, site, product))
    return builders


def choose(levels: list[LinkLevel], wanted: str | None, accept: Accept) -> Link | None:
    """The link of type ``wanted`` (most specific level first), or the default link when
    none is wanted; None when the item has no link of that type (the caller answers 404)."""
    if wanted and wanted != "defaultLink":
        for level in levels:
            candidates = [link for link in level() if link.link_type == wanted]
            if candidates:
                best = accept.best_match([c.type for c in candidates])
                return next((c for c in candidates if c.type == best), candidates[0])
        return None
    for level in levels:
        links = level()
        if links:
            return links[0]
    return None


def linkset(anchor: str, levels: list[LinkLevel], item_description: str, language: str) -> dict | None:
    """The link set of every level (the first link is the default); None when the item
    has no link at all."""
    every = [item for level in levels for item in level()]
    if not every:
        return None
    return build_linkset(anchor, every, every[0], item_description, language)


def with_query(href: str, parts: list[str]) -> str:
    """``href`` with the ``key=value`` ``parts`` added to its query string (before any
    fragment)."""
    if not parts:
        return href
    target, hash_, fragment = href.partition("#")
    target += ("&" if "?" in target else "?") + "&".join(parts)
    return target + hash_ + fragment
