"""The catalogue as Data Food Consortium JSON-LD (DFC business ontology).

One ``dfc-b:Enterprise`` per producer (``dfc-b:supplies`` its products, ``dfc-b:manages``
their catalogue items); per product a ``dfc-b:SuppliedProduct`` (name, description, image,
``dfc-b:hasQuantity``), a ``dfc-b:CatalogItem`` (``dfc-b:sku``, ``dfc-b:stockLimitation``,
``dfc-b:references`` the product, ``dfc-b:offeredThrough`` the offer) and a ``dfc-b:Offer``
with a ``dfc-b:Price``.  DFC's measures list no Vietnamese đồng, so the price unit is our own
IRI, ``<base>/ns/dfc#VND`` (prefix ``ocop:``), declared in the document as a currency unit.
The context is inline, so the document parses without fetching anything.  Streamed as an
``@graph``; enterprises are written after the items (they collect what they supply), each
named after its producer's public page (``<page>#enterprise``), so feeds agree on it.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Iterator

import orjson

from . import profiles as p
from .formats import FLUSH_EVERY, accepted

DFC_B = "https://github.com/datafoodconsortium/ontology/releases/latest/download/DFC_BusinessOntology.owl#"
DFC_M = "https://github.com/datafoodconsortium/taxonomies/releases/latest/download/measures.rdf#"
UNITS = {"g": "dfc-m:Gram", "kg": "dfc-m:Kilogram", "ml": "dfc-m:Millilitre", "l": "dfc-m:Litre"}
PIECE = "dfc-m:Piece"  # bottles, boxes, bags…: counted


def context(base_url: str) -> dict:
    return {"dfc-b": DFC_B, "dfc-m": DFC_M, "ocop": f"{base_url}/ns/dfc#",
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
            "dfc-b:hasUnit": {"@type": "@id"}, "dfc-b:references": {"@type": "@id"},
            "dfc-b:offeredThrough": {"@type": "@id"}, "dfc-b:supplies": {"@type": "@id"},
            "dfc-b:manages": {"@type": "@id"}, "dfc-b:image": {"@type": "@id"}}


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


def item_nodes(item: dict, base_url: str) -> list[dict]:
    node = f"{base_url}/dfc/{item['id']}"
    product = {
        "@id": f"{node}#product", "@type": "dfc-b:SuppliedProduct", "dfc-b:name": item["title"],
        "dfc-b:description": item["description"],
        "dfc-b:hasQuantity": {"@type": "dfc-b:QuantitativeValue", "dfc-b:hasUnit": UNITS.get(item["unit"], PIECE),
                              "dfc-b:value": float(item["net_quantity"])},
    }
    if item["images"]:
        product["dfc-b:image"] = item["images"][0]
    catalog_item = {"@id": f"{node}#item", "@type": "dfc-b:CatalogItem", "dfc-b:sku": item["sku"],
                    "dfc-b:stockLimitation": item["stock"], "dfc-b:references": f"{node}#product",
                    "dfc-b:offeredThrough": f"{node}#offer"}
    offer = {"@id": f"{node}#offer", "@type": "dfc-b:Offer",
             "dfc-b:hasPrice": {"@type": "dfc-b:Price", "dfc-b:value": item["price"], "dfc-b:hasUnit": "ocop:VND"}}
    return [product, catalog_item, offer]


def write_catalog(profile: p.Profile, items: Iterable[dict], *, base_url: str,
                  generated_at: dt.datetime) -> Iterator[str]:
    yield '{"@context":%s,"@graph":[' % _dumps(context(base_url))
    yield _dumps({"@id": "ocop:VND", "@type": "dfc-m:Unit", "rdfs:label": "Vietnamese đồng (VND)",
                  "rdfs:comment": "ISO 4217 VND: not in the DFC measures taxonomy; defined by this catalogue"})
    enterprises: dict[tuple, dict] = {}
    buffer = []
    for item in accepted(profile, items):
        if item.get("deleted"):
            continue  # DFC catalogues list what is offered; a delta omits withdrawn items
        nodes = item_nodes(item, base_url)
        buffer.extend("," + _dumps(n) for n in nodes)
        producer = item["producer"]
        enterprise = enterprises.setdefault(producer["link"], {"name": producer["name"], "supplies": [], "manages": []})
        enterprise["supplies"].append(nodes[0]["@id"])
        enterprise["manages"].append(nodes[1]["@id"])
        if len(buffer) >= FLUSH_EVERY:
            yield "".join(buffer)
            buffer = []
    yield "".join(buffer)
    for link, e in enterprises.items():  # named by the producer's page: the same in every feed
        yield "," + _dumps({"@id": f"{link}#enterprise", "@type": "dfc-b:Enterprise",
                            "dfc-b:name": e["name"], "dfc-b:supplies": e["supplies"], "dfc-b:manages": e["manages"]})
    yield "]}\n"
