"""Exchange profiles: data, not code (docs/architecture.md, "Exchanges").

A profile names the exchange, the formats it takes, and how canonical fields map to its own
field names (``fields``: ordered ``[exchange field, canonical field]`` pairs), which
canonical fields it requires and its limits (``title`` and ``description`` length, number
of ``images``), and how product groups map to the exchange's own categories (``categories``:
OCOP sub-group code → one of the exchange's ``category_list`` codes; the canonical field
``exchange_category`` reads it).  The shipped profiles are JSON files beside this module; an officer's edit is
stored on the exchange row and validated here: a mapping to a canonical field that does not
exist is refused.

Canonical fields are addressed flat (``producer.name``, ``ocop.stars``, ``image_link``…),
see :data:`FIELDS`.  Pre-flight (:func:`reasons`) lists why an exchange would refuse an
item; such items are left out of that exchange's feed, never sent half-filled.  A profile
with a ``title`` limit sends the product's short name when its name is longer.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from flask_babel import lazy_gettext as _l

from ..models.base import LOCAL_TZ
from .profile_texts import ProfileError, refuse_control_characters, shown, texts

PROFILE_DIR = Path(__file__).with_name("profiles")
CODES = ("thanhhoa", "postmart", "google", "dfc")
FORMATS = ("json", "csv", "xlsx", "xml")
LIST_SEPARATOR = " | "


def _join(values) -> str:
    return LIST_SEPARATOR.join(str(v) for v in values)


def _address(a: dict) -> str:
    return ", ".join(part for part in (a.get("line"), a.get("commune_name"), a.get("province_name")) if part)


def _certifications(item: dict) -> str:
    return "; ".join(f"{c['scheme']} {c['number']} ({c['body']})" for c in item["certifications"])


def _shipping(key: str, unit: str = ""):
    def read(item):
        value = item["shipping"][key]
        return None if value is None else (f"{value} {unit}" if unit else value)
    return read


def _ocop(key: str):
    return lambda item: item["ocop"][key] if item["ocop"] else None


# Every canonical field a profile may map, and how to read it from a canonical item.
FIELDS = {
    "id": lambda i: i["id"],
    "sku": lambda i: i["sku"],
    "title": lambda i: i["title"],
    "short_title": lambda i: i["short_title"],
    "title_en": lambda i: i["title_en"],
    "description_en": lambda i: i["description_en"],
    "description": lambda i: i["description"],
    "category": lambda i: i["category"],
    "category_code": lambda i: i["category_code"],
    # The exchange's own category of the item's group (the profile's ``categories``; read
    # through _reader, which knows the profile).
    "exchange_category": lambda i: None,
    "gtin": lambda i: i["gtin"],
    "identifier_exists": lambda i: i["identifier_exists"],
    "net_quantity": lambda i: i["net_quantity"],
    "unit": lambda i: i["unit"],
    "quantity": lambda i: f"{i['net_quantity']} {i['unit']}",
    "price": lambda i: i["price"],
    "currency": lambda i: i["currency"],
    "price_text": lambda i: f"{i['price']} {i['currency']}",
    "vat_rate": lambda i: i["vat_rate"],
    "shipping.weight_g": _shipping("weight_g"),
    "shipping.length_cm": _shipping("length_cm"),
    "shipping.width_cm": _shipping("width_cm"),
    "shipping.height_cm": _shipping("height_cm"),
    # As Google's shipping attributes are written: a number and its unit.
    "shipping_weight": _shipping("weight_g", "g"),
    "shipping_length": _shipping("length_cm", "cm"),
    "shipping_width": _shipping("width_cm", "cm"),
    "shipping_height": _shipping("height_cm", "cm"),
    "stock": lambda i: i["stock"],
    "availability": lambda i: i["availability"],
    "sellable": lambda i: i["sellable"],
    "condition": lambda i: "new",
    "image_link": lambda i: i["images"][0] if i["images"] else None,
    "additional_image_links": lambda i: i["images"][1:],
    "images": lambda i: i["images"],
    "link": lambda i: i["link"],
    "producer.name": lambda i: i["producer"]["name"],
    "producer.kind": lambda i: i["producer"]["kind"],
    "producer.link": lambda i: i["producer"]["link"],
    "producer.tax_code": lambda i: i["producer"]["tax_code"],
    "producer.phone": lambda i: i["producer"]["phone"],
    "producer.address": lambda i: _address(i["producer"]["address"]),
    "producer.province_code": lambda i: i["producer"]["address"]["province_code"],
    "producer.province_name": lambda i: i["producer"]["address"]["province_name"],
    "producer.commune_code": lambda i: i["producer"]["address"]["commune_code"],
    "producer.commune_name": lambda i: i["producer"]["address"]["commune_name"],
    "origin": lambda i: _address(i["origin"]),
    "origin.province_code": lambda i: i["origin"]["province_code"],
    "origin.province_name": lambda i: i["origin"]["province_name"],
    "origin.commune_code": lambda i: i["origin"]["commune_code"],
    "origin.commune_name": lambda i: i["origin"]["commune_name"],
    "ocop.stars": _ocop("stars"),
    "ocop.certificate_no": _ocop("certificate_no"),
    "ocop.issuer": _ocop("issuer"),
    "ocop.valid_until": _ocop("valid_until"),
    "certifications": _certifications,
    "traceability_url": lambda i: i["traceability_url"],
    # Each recall on its day in Vietnam, as every page dates it (``recalled_at`` is a UTC moment).
    "recalls": lambda i: "; ".join(f"{r['lot']}: {r['reason']} "
                                   f"({dt.datetime.fromisoformat(r['recalled_at']).astimezone(LOCAL_TZ):%Y-%m-%d})"
                                   for r in i["recalls"]),
    "updated_at": lambda i: i["updated_at"],
    "version": lambda i: i["version"],
}

# How a missing field is named to people (pre-flight reasons).
FIELD_LABELS = {
    "image_link": _l("ảnh sản phẩm"), "title": _l("tên sản phẩm"), "description": _l("mô tả"),
    "price": _l("giá"), "price_text": _l("giá"), "sku": _l("mã SKU"), "id": _l("mã sản phẩm"),
    "link": _l("đường dẫn"), "availability": _l("tình trạng hàng"), "net_quantity": _l("khối lượng tịnh"),
    "producer.name": _l("tên cơ sở sản xuất"), "producer.phone": _l("số điện thoại của cơ sở"),
    "origin.province_name": _l("tỉnh xuất xứ"), "gtin": _l("mã GTIN"),
    "shipping.weight_g": _l("khối lượng cả bao bì (gam)"), "shipping_weight": _l("khối lượng cả bao bì (gam)"),
    "shipping.length_cm": _l("chiều dài kiện hàng"), "shipping_length": _l("chiều dài kiện hàng"),
    "shipping.width_cm": _l("chiều rộng kiện hàng"), "shipping_width": _l("chiều rộng kiện hàng"),
    "shipping.height_cm": _l("chiều cao kiện hàng"), "shipping_height": _l("chiều cao kiện hàng"),
    "exchange_category": _l("danh mục của sàn cho nhóm sản phẩm"),
    "producer.address": _l("địa chỉ của cơ sở"), "producer.tax_code": _l("mã số thuế của cơ sở"),
}

# The exchanges' names as people read them, in the page's language (the rows hold the
# Vietnamese name; an exchange added later without a label shows that).
EXCHANGE_NAMES = {
    "thanhhoa": _l("Sàn giao dịch nông sản Thanh Hóa"), "postmart": _l("Postmart (Bưu điện Việt Nam)"),
    "google": "Google Merchant Center", "dfc": "Data Food Consortium",
}

# Short names, where a sentence names the exchange ("Postmart: thiếu ảnh sản phẩm").
EXCHANGE_SHORT_NAMES = {"thanhhoa": _l("Sàn Thanh Hóa"), "postmart": "Postmart", "google": "Google",
                        "dfc": "DFC"}


def exchange_name(code: str, fallback: str = "") -> str:
    return str(EXCHANGE_NAMES.get(code, fallback or code))


def exchange_short_name(code: str, fallback: str = "") -> str:
    return str(EXCHANGE_SHORT_NAMES.get(code) or exchange_name(code, fallback))


@dataclass(frozen=True, eq=False)
class Profile:
    code: str
    name: str
    formats: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]
    required: tuple[str, ...]
    limits: dict
    categories: dict = None            # OCOP sub-group code → the exchange's category code
    category_list: tuple = ()          # the exchange's categories: (code, label) pairs

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self.fields]

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "formats": list(self.formats),
                "fields": [list(f) for f in self.fields], "required": list(self.required),
                "limits": dict(self.limits), "categories": dict(self.categories or {}),
                "category_list": [list(c) for c in self.category_list]}

    def category_label(self, code: str | None) -> str:
        return next((label for c, label in self.category_list if c == code), code or "")


def shipped(code: str) -> dict:
    return json.loads((PROFILE_DIR / f"{code}.json").read_text(encoding="utf-8"))


GOOGLE_NS = "http://base.google.com/ns/1.0"
XML_PREFIXES = {"g": GOOGLE_NS}  # the only namespace an RSS feed's field may use


def xml_element_name(name: str) -> str:
    """An exchange field name as an RSS element name: ``g:price`` → ``{Google's
    namespace}price``, ``title`` → ``title``; ValueError unless it is an XML name (the XML
    Name rule, checked by lxml) with no prefix or the ``g:`` prefix."""
    from lxml import etree  # imported here, when a profile is read, not at start-up

    prefix, colon, local = name.rpartition(":")
    if colon and prefix not in XML_PREFIXES:
        raise ValueError(f"unknown namespace prefix in {name!r} (only g: is declared)")
    return etree.QName(XML_PREFIXES.get(prefix) if colon else None, local).text


def parse(data: dict, *, stored: bool = False) -> Profile:
    """A profile from its JSON form, checked: every part of its type (any other value, at any
    depth, is a ProfileError, never a TypeError), known formats and canonical fields, unique
    exchange field names, non-negative integer limits, no control characters in any text (looked
    for where a profile is typed, not in a ``stored`` one read back: pages and feeds read it)."""
    printable = refuse_control_characters if not stored else (lambda part, values: None)
    if not isinstance(data, dict):
        raise ProfileError("profile", "a profile is a JSON object")
    for key in ("code", "name"):
        if not isinstance(data.get(key, ""), str):
            raise ProfileError(key, str(_l("%(key)s phải là một chuỗi văn bản, không phải %(value)s",
                                           key=key, value=shown(data[key]))))
    printable("name", [data.get("name", "")])
    formats, refused = data.get("formats") or [], f"formats must be a non-empty list of {', '.join(FORMATS)}"
    if not texts("formats", formats, refused, None, printable) or any(f not in FORMATS for f in formats):
        raise ProfileError("formats", refused)
    fields, seen = data.get("fields", []), set()
    if not isinstance(fields, list):
        raise ProfileError("fields", "fields must be a list of [exchange field, canonical field] pairs")
    for pair in fields:
        name, canonical = texts("fields", pair, "not an [exchange field, canonical field] pair: %(value)s", 2,
                                printable)
        if canonical not in FIELDS:
            raise ProfileError("fields", f"unknown canonical field {shown(canonical)} (for {shown(name)})")
        if name in seen:
            raise ProfileError("fields", f"exchange field {name!r} is mapped twice")
        if "xml" in formats:
            try:
                xml_element_name(name)
            except ValueError:
                raise ProfileError("fields", f"exchange field {name!r} is not an XML element name "
                                            f"(letters, digits, - _ . ; optionally the g: prefix)") from None
        seen.add(name)
    required = texts("required", data.get("required", []),
                     _l("required phải là danh sách tên trường chuẩn, không phải %(value)s"), None, printable)
    if unknown := [r for r in required if r not in FIELDS]:
        raise ProfileError("required", f"unknown canonical field(s) in required: {shown(unknown)}")
    limits = data.get("limits", {})
    if not isinstance(limits, dict) or any(k not in ("title", "description", "images") for k in limits) or any(
            not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in limits.values()):
        raise ProfileError("limits", "limits are title, description and images, as whole numbers ≥ 0")
    category_list, refused = data.get("category_list", []), "category_list is a list of [code, label] pairs"
    if not isinstance(category_list, list) or not all(texts("category_list", c, refused, 2, printable)
                                                      for c in category_list):
        raise ProfileError("category_list", refused)
    codes = {c for c, _ in category_list}
    if len(codes) != len(category_list):
        raise ProfileError("category_list", "a category code is listed twice")
    categories = data.get("categories", {})
    if not isinstance(categories, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in categories.items()):
        raise ProfileError("categories", "categories map product group codes to category codes (text)")
    printable("categories", [*categories, *categories.values()])
    if unknown := sorted(v for v in categories.values() if codes and v not in codes):
        raise ProfileError("categories", f"not in the exchange's category_list: {', '.join(unknown)}")
    return Profile(code=data.get("code", ""), name=data.get("name", ""), formats=tuple(formats),
                   fields=tuple((n, c) for n, c in fields), required=tuple(required), limits=dict(limits),
                   categories=dict(categories), category_list=tuple((c, label) for c, label in category_list))


def profile_of(exchange) -> Profile:
    """The exchange's profile: the officer's edit when there is one, else the shipped one."""
    data = exchange.profile if exchange.profile is not None else shipped(exchange.code)
    return parse(dict(data, code=exchange.code, name=data.get("name") or exchange.name), stored=True)


@dataclass(frozen=True)
class Reason:
    """Why an exchange (its code) would refuse an item: ``kind`` is missing, unmapped (the
    item's group has no category of the exchange), too_long (a title: no short name that
    fits either) or too_many (images)."""
    exchange: str
    field: str
    kind: str
    limit: int | None = None

    def __str__(self) -> str:
        """As a sentence that names the exchange: "Postmart: thiếu ảnh sản phẩm"."""
        return f"{exchange_short_name(self.exchange)}: {self.text}"

    @property
    def text(self) -> str:
        """What is wrong, where the exchange is named already (its row of a table)."""
        label = FIELD_LABELS.get(self.field, self.field)
        if self.kind == "missing":
            text = _l("thiếu %(field)s", field=label)
        elif self.kind == "unmapped":
            text = _l("nhóm sản phẩm chưa gắn với danh mục nào của sàn")
        elif self.kind == "too_long" and self.field == "title":
            text = _l("tên dài quá %(n)d ký tự: ghi tên ngắn (tối đa %(n)d ký tự)", n=self.limit)
        elif self.kind == "too_long":
            text = _l("%(field)s dài quá %(n)d ký tự", field=label, n=self.limit)
        else:
            text = _l("quá %(n)d ảnh", n=self.limit)
        return str(text)


def _empty(value) -> bool:
    return value is None or value == "" or value == []


def title_for(profile: Profile, item: dict) -> str:
    """The title the exchange gets: the name, or the short name where the name is longer than
    the exchange's limit (and the short name not empty)."""
    limit = profile.limits.get("title")
    if limit is None or len(item["title"] or "") <= limit:
        return item["title"]
    return item.get("short_title") or item["title"]


@functools.lru_cache(maxsize=1024)
def _reader(profile: Profile, canonical: str):
    """How ``profile`` reads a canonical field: through the profile for the fields it shapes
    (its categories, its title limit), else as :data:`FIELDS` does."""
    if canonical == "exchange_category":
        categories = profile.categories or {}
        return lambda item: categories.get(item["category_code"])
    if canonical == "title" and profile.limits.get("title") is not None:
        return lambda item: title_for(profile, item)
    return FIELDS[canonical]


def reasons(profile: Profile, item: dict) -> list[Reason]:
    """Everything that would make ``profile``'s exchange refuse ``item`` (empty: it is sent)."""
    found = []
    for field in profile.required:
        if _empty(_reader(profile, field)(item)):
            found.append(Reason(profile.code, field, "unmapped" if field == "exchange_category" else "missing"))
    for field in ("title", "description"):
        limit = profile.limits.get(field)
        if limit is not None and len((title_for(profile, item) if field == "title" else item[field]) or "") > limit:
            found.append(Reason(profile.code, field, "too_long", limit))
    return found


def mapped(profile: Profile, item: dict) -> dict:
    """The item in the exchange's own field names (images capped at the profile's limit)."""
    return {name: getter(item) for name, getter in _getters(profile)}


@functools.lru_cache(maxsize=64)
def _getters(profile: Profile) -> tuple:
    """The profile's fields as (exchange name, reader) pairs, made once per profile."""
    limit = profile.limits.get("images")
    pairs = []
    for name, canonical in profile.fields:
        getter = _reader(profile, canonical)
        if limit is not None and canonical == "images":
            getter = (lambda g, n: lambda item: g(item)[:n])(getter, limit)
        elif limit is not None and canonical == "additional_image_links":
            getter = (lambda g, n: lambda item: g(item)[:n])(getter, max(limit - 1, 0))
        pairs.append((name, getter))
    return tuple(pairs)


def id_field(profile: Profile) -> str:
    """The exchange's name for the item id (tombstones carry it), ``id`` when unmapped."""
    return next((name for name, canonical in profile.fields if canonical == "id"), "id")


def register_template_globals(app) -> None:
    """The exchanges' names and formats, for templates (the exchanges' own vocabulary lives
    here, not in marketplace.vocab, which knows nothing of feeds)."""
    app.jinja_env.globals.update(exchange_name=exchange_name,
                                 exchange_formats=lambda exchange: profile_of(exchange).formats)
