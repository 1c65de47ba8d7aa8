"""The catalogue as Data Food Consortium JSON-LD (DFC business ontology 1.16, the version
DFC's connectors read).

One ``dfc-b:Enterprise`` per producer (name, ``dfc-b:VATnumber`` when it has a tax code,
``dfc-b:hasAddress``, ``dfc-b:supplies`` its products, ``dfc-b:manages`` their catalogue
items); per product a ``dfc-b:SuppliedProduct`` (name, description, image, ``dfc-b:hasType``
from the profile's category of its group, ``dfc-b:hasQuantity``), a ``dfc-b:CatalogItem``
(``dfc-b:sku``, ``dfc-b:stockLimitation``, ``dfc-b:references`` the product,
``dfc-b:offeredThrough`` the offer) and a ``dfc-b:Offer`` (``dfc-b:offeredTo`` every buyer,
``dfc-b:hasPrice`` a ``dfc-b:Price`` with its ``dfc-b:VATrate``).

Every IRI dereferences (:mod:`marketplace.feeds.routes`): a product's nodes are fragments of
``<base>/dfc/ocop-<id>``, an enterprise is ``<base>/dfc/enterprises/<producer slug>``, and
what DFC's taxonomies lack is in our small vocabulary at ``<base>/ns/dfc`` (prefix
``ocop:``): the Vietnamese đồng, a SKOS concept narrower than ``dfc-m:CurrencyUnit`` with
the ISO 4217 code VND as its notation (DFC's measures list no đồng), and the customer
category "every buyer".  The context is inline, so the documents parse without fetching.
Streamed as an ``@graph``; enterprises are written after the items (they collect what
they supply).
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Iterator

import orjson

from . import profiles as p
from .formats import FLUSH_EVERY, accepted

DFC_B = "https://github.com/datafoodconsortium/ontology/releases/latest/download/DFC_BusinessOntology.owl#"
DFC_M = "https://github.com/datafoodconsortium/taxonomies/releases/latest/download/measures.rdf#"
DFC_PT = "https://github.com/datafoodconsortium/taxonomies/releases/latest/download/productTypes.rdf#"
UNITS = {"g": "dfc-m:Gram", "kg": "dfc-m:Kilogram", "ml": "dfc-m:Millilitre", "l": "dfc-m:Litre"}
PIECE = "dfc-m:Piece"  # bottles, boxes, bags…: counted
VND, EVERY_BUYER = "ocop:VND", "ocop:every-buyer"
VIET_NAM = "http://publications.europa.eu/resource/authority/country/VNM"  # the EU country list DFC uses
_IDS = ("hasUnit", "references", "offeredThrough", "supplies", "manages", "image", "hasType", "offeredTo",
        "hasAddress", "hasCountry")


def context(base_url: str) -> dict:
    return {"dfc-b": DFC_B, "dfc-m": DFC_M, "dfc-pt": DFC_PT, "ocop": f"{base_url}/ns/dfc#",
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "skos": "http://www.w3.org/2004/02/skos/core#",
            "skos:broader": {"@type": "@id"}, "skos:inScheme": {"@type": "@id"},
            "rdfs:isDefinedBy": {"@type": "@id"}, **{f"dfc-b:{name}": {"@type": "@id"} for name in _IDS}}


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


def vocabulary(base_url: str) -> dict:
    """Our vocabulary document, served at ``<base>/ns/dfc``: what DFC's taxonomies lack."""
    return {"@context": context(base_url), "@graph": [
        {"@id": "ocop:", "@type": "skos:ConceptScheme",
         "skos:prefLabel": [{"@value": "Chợ OCOP: bổ sung cho các danh mục của DFC", "@language": "vi"},
                            {"@value": "OCOP Marketplace: additions to DFC's taxonomies", "@language": "en"}]},
        # A single type: DFC's connector reads a node by its first type, as it reads dfc-m:Euro.
        {"@id": VND, "@type": "skos:Concept", "skos:broader": "dfc-m:CurrencyUnit", "skos:inScheme": "ocop:",
         "skos:notation": "VND", "rdfs:isDefinedBy": "http://qudt.org/vocab/currency/VND",
         "skos:prefLabel": [{"@value": "đồng", "@language": "vi"}, {"@value": "Vietnamese đồng", "@language": "en"}],
         "rdfs:comment": "ISO 4217 VND (code 704): not in DFC's measures taxonomy; defined by this catalogue"},
        every_buyer(),
    ]}


def every_buyer() -> dict:
    return {"@id": EVERY_BUYER, "@type": "dfc-b:CustomerCategory",
            "dfc-b:description": "Mọi người mua: cá nhân, cửa hàng và doanh nghiệp (every buyer)"}


def node_base(item: dict, base_url: str) -> str:
    return f"{base_url}/dfc/{item['id']}"


def enterprise_iri(producer: dict, base_url: str) -> str:
    return f"{base_url}/dfc/enterprises/{producer['slug']}"


def item_nodes(item: dict, base_url: str, profile: p.Profile) -> list[dict]:
    node = node_base(item, base_url)
    product = {
        "@id": f"{node}#product", "@type": "dfc-b:SuppliedProduct", "dfc-b:name": item["title"],
        "dfc-b:description": item["description"],
        "dfc-b:hasQuantity": {"@type": "dfc-b:QuantitativeValue", "dfc-b:hasUnit": UNITS.get(item["unit"], PIECE),
                              "dfc-b:value": float(item["net_quantity"])},
    }
    kind = (profile.categories or {}).get(item["category_code"])
    if kind:
        product["dfc-b:hasType"] = kind
    if item["images"]:
        product["dfc-b:image"] = item["images"][0]
    catalog_item = {"@id": f"{node}#item", "@type": "dfc-b:CatalogItem", "dfc-b:sku": item["sku"],
                    "dfc-b:stockLimitation": item["stock"], "dfc-b:references": f"{node}#product",
                    "dfc-b:offeredThrough": f"{node}#offer"}
    offer = {"@id": f"{node}#offer", "@type": "dfc-b:Offer", "dfc-b:offeredTo": EVERY_BUYER,
             "dfc-b:hasPrice": {"@type": "dfc-b:Price", "dfc-b:value": item["price"], "dfc-b:hasUnit": VND,
                                "dfc-b:VATrate": item["vat_rate"]}}
    return [product, catalog_item, offer]


def enterprise_nodes(producer: dict, base_url: str, supplies: list[str], manages: list[str]) -> list[dict]:
    """A producer as an enterprise and its address (a named node: DFC's connector fetches
    what it cannot find by its IRI)."""
    iri = enterprise_iri(producer, base_url)
    address = producer["address"]
    enterprise = {"@id": iri, "@type": "dfc-b:Enterprise", "dfc-b:name": producer["name"],
                  "dfc-b:hasAddress": f"{iri}#address", "dfc-b:supplies": supplies, "dfc-b:manages": manages}
    if producer["tax_code"]:
        enterprise["dfc-b:VATnumber"] = producer["tax_code"]
    place = {"@id": f"{iri}#address", "@type": "dfc-b:Address", "dfc-b:hasStreet": address["line"] or "",
             "dfc-b:hasCity": address["commune_name"], "dfc-b:region": address["province_name"],
             "dfc-b:hasCountry": VIET_NAM}
    return [enterprise, place]


def document(nodes: list[dict], base_url: str) -> dict:
    """Nodes as a document of their own (what a node's IRI answers)."""
    return {"@context": context(base_url), "@graph": nodes}


def write_catalog(profile: p.Profile, items: Iterable[dict], *, base_url: str,
                  generated_at: dt.datetime) -> Iterator[str]:
    vocab = vocabulary(base_url)["@graph"]
    yield '{"@context":%s,"@graph":[' % _dumps(context(base_url))
    yield ",".join(_dumps(n) for n in vocab[1:])  # the đồng and every buyer, as at their IRIs
    enterprises: dict[str, tuple] = {}
    buffer = []
    for item in accepted(profile, items):
        if item.get("deleted"):
            continue  # DFC catalogues list what is offered; a delta omits withdrawn items
        nodes = item_nodes(item, base_url, profile)
        buffer.extend("," + _dumps(n) for n in nodes)
        producer = item["producer"]
        _, supplies, manages = enterprises.setdefault(producer["slug"], (producer, [], []))
        supplies.append(nodes[0]["@id"])
        manages.append(nodes[1]["@id"])
        if len(buffer) >= FLUSH_EVERY:
            yield "".join(buffer)
            buffer = []
    yield "".join(buffer)
    for producer, supplies, manages in enterprises.values():
        yield "".join("," + _dumps(n) for n in enterprise_nodes(producer, base_url, supplies, manages))
    yield "]}\n"
