"""GS1 Digital Link URIs: parsing and link sets (pure functions, no Flask, no DB).

* :func:`parse_path` reads an uncompressed path ``/01/<gtin>[/22/<cpv>][/10/<lot>][/21/<serial>]``
  with biip (:class:`biip.gs1_digital_link_uris.GS1DigitalLinkURI`): biip splits the path into
  element strings, matches each value against its AI's pattern (AIs 22, 10 and 21 are
  ``X..20``: 1–20 characters of the GS1 AI encodable character set 82), takes key
  qualifiers of a GTIN only in the order 22, 10, 21, each at most once, zero-fills the GTIN
  and verifies its check digit; the GTIN is returned as GTIN-14.
* What biip does not do is kept here: it raises one ``ParseError`` whose English text is
  the only clue, and the resolver answers with a reason code (``qualifier_order``,
  ``too_long``, ``bad_characters``… shown in Vietnamese or English); so when biip rejects a
  path, or reads one we do not serve, :func:`_why_not` walks the path with our own checks,
  in a fixed order, to name the reason.  We are also stricter than biip in two places: a
  GTIN must have 8, 12, 13 or 14 digits (biip zero-fills any length), and only 22, 10 and
  21 may follow it (biip also takes 235, the third-party-controlled extension).
* The compression codec ("GS1 Digital Link: Compression") is :mod:`.compression`; its
  public names are re-exported here.  A decompressed link (:func:`from_elements`) is
  checked with the same qualifier checks and biip's AI table.
* :func:`build_linkset` renders links as an RFC 9264 ``application/linkset+json`` document.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from ..text import ascii_number
from ..validators import InvalidValue, normalize_gtin
from .compression import (HEX, SAFE64, SAFE64_TOKEN, TABLE_F, TABLE_OPT, TABLE_P, CompressionError,  # noqa: F401
                          base64_to_bits, bits_to_base64, compress, compress_bits, decompress, decompress_bits,
                          determine_encoding, length_bits, value_bits)

# ---------------------------------------------------------------------------------------
# Uncompressed Digital Link paths
# ---------------------------------------------------------------------------------------

# GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
CSET82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
GTIN_QUALIFIERS = ("22", "10", "21")     # the only path order GS1 Digital Link allows for AI 01
QUALIFIER_MAX = {"22": 20, "10": 20, "21": 20}
QUALIFIER_NAMES = {"22": "cpv", "10": "lot", "21": "serial"}
GTIN_FORMAT = re.compile(r"[0-9]{8}|[0-9]{12,14}")  # ASCII digits only: \d would take any script's
# biip reads a Digital Link URI, not a bare path: the host is never looked at
_ROOT = "https://resolver.invalid"


class DigitalLinkError(ValueError):
    """A syntax error in a Digital Link URI: ``reason`` is a short code, ``field`` the AI
    (or ``"path"``) at fault, ``detail`` a free text for logs and tests."""

    def __init__(self, reason: str, field: str = "path", detail: str = ""):
        super().__init__(f"{reason} ({field}): {detail}" if detail else f"{reason} ({field})")
        self.reason = reason
        self.field = field
        self.detail = detail


@dataclass(frozen=True)
class DigitalLink:
    """A GTIN Digital Link: the primary key, its qualifiers and the data attributes/other
    key=value pairs that came with it (from a compressed URI: in the order decoded)."""

    gtin: str                                   # always GTIN-14
    lot: str | None = None
    serial: str | None = None
    cpv: str | None = None
    attributes: tuple[tuple[str, str], ...] = field(default=())

    def path(self) -> str:
        """The canonical uncompressed path, values percent-encoded (``/01/…/10/…/21/…``)."""
        parts = ["", "01", self.gtin]
        for ai, value in (("22", self.cpv), ("10", self.lot), ("21", self.serial)):
            if value is not None:
                parts += [ai, quote(value, safe="-._~")]
        return "/".join(parts)

    def query(self) -> str:
        return "&".join(f"{quote(k, safe='-._~')}={quote(v, safe='-._~')}" for k, v in self.attributes)


def check_gtin(value: str) -> str:
    """GTIN-8/12/13/14 with a correct check digit → GTIN-14, else DigitalLinkError: the
    product form's own check (:func:`validators.normalize_gtin`, biip), with the
    resolver's reasons."""
    if not GTIN_FORMAT.fullmatch(value or ""):
        raise DigitalLinkError("gtin_format", "01", value[:40])
    try:
        return normalize_gtin(value)
    except InvalidValue as exc:  # the format is checked above: a wrong check digit
        raise DigitalLinkError("gtin_check_digit", "01", str(exc)) from exc


def check_qualifier(ai: str, value: str) -> str:
    if not value:
        raise DigitalLinkError("empty_value", ai)
    if len(value) > QUALIFIER_MAX[ai]:
        raise DigitalLinkError("too_long", ai, f"{len(value)} > {QUALIFIER_MAX[ai]}")
    if any(ch not in CSET82 for ch in value):
        raise DigitalLinkError("bad_characters", ai)
    return value


def parse_path(gtin: str, segments: list[str] | tuple[str, ...] = ()) -> DigitalLink:
    """Read ``/01/<gtin>`` followed by ``segments`` (``["10", lot, "21", serial]``…, already
    percent-decoded) with biip; DigitalLinkError with our reason when it is not a GTIN
    Digital Link we serve.

    biip (its GS1 prefix and AI tables, ~0.1 s) is imported here, when a GS1 code is
    checked, not when the app starts.
    """
    from biip import ParseError
    from biip.gs1_digital_link_uris import GS1DigitalLinkURI

    path = "/".join(["", "01", quote(gtin, safe=""), *(quote(part, safe="") for part in segments)])
    try:
        uri = GS1DigitalLinkURI.parse(_ROOT + path)
    except ParseError as exc:
        raise _why_not(gtin, segments, str(exc)) from exc
    primary, *qualifiers = uri.element_strings
    if (not GTIN_FORMAT.fullmatch(gtin) or primary.gtin is None
            or any(es.ai.ai not in GTIN_QUALIFIERS for es in qualifiers)):
        raise _why_not(gtin, segments, primary.gtin_error or "")
    values = {es.ai.ai: es.value for es in qualifiers}
    return DigitalLink(gtin=primary.gtin.as_gtin_14(), cpv=values.get("22"), lot=values.get("10"),
                       serial=values.get("21"))


def _why_not(gtin: str, segments: list[str] | tuple[str, ...], biip_says: str) -> DigitalLinkError:
    """The reason a path biip rejected (or read as something we do not serve) is wrong:
    our checks, in the order a reader meets the path (the GTIN, then each qualifier)."""
    try:
        check_gtin(gtin)
        if len(segments) % 2:
            raise DigitalLinkError("missing_value", "path", "/".join(segments)[:60])
        seen: set[str] = set()
        last = -1
        for i in range(0, len(segments), 2):
            ai, value = segments[i], segments[i + 1]
            if ai not in GTIN_QUALIFIERS:
                raise DigitalLinkError("not_a_qualifier", "path", ai[:20])
            position = GTIN_QUALIFIERS.index(ai)
            if ai in seen:
                raise DigitalLinkError("repeated_qualifier", ai)
            if position < last:
                raise DigitalLinkError("qualifier_order", "path", "/".join(segments[::2]))
            seen.add(ai)
            last = position
            check_qualifier(ai, value)
    except DigitalLinkError as exc:
        return exc
    # our checks and biip's AI table agree on every path: this is a new biip refusing more
    return DigitalLinkError("syntax", "path", biip_says[:200])


def attribute_is_valid(ai: str, value: str) -> bool | None:
    """True/False for a known GS1 AI used as a data attribute (biip's AI table and
    patterns); None when ``ai`` is not a GS1 AI (then it is just another query parameter).

    biip (its GS1 prefix and AI tables, ~0.1 s) is imported here, when a GS1 code is
    checked, not when the app starts.
    """
    from biip.gs1_application_identifiers import GS1ApplicationIdentifier

    if not ascii_number(ai):
        return None
    try:
        known = GS1ApplicationIdentifier.extract(ai)
    except Exception:
        return None
    if known.ai != ai:
        return None
    return re.fullmatch(known.pattern, ai + value) is not None


def from_elements(elements: list[tuple[str, str]], others: list[tuple[str, str]] = ()) -> DigitalLink:
    """A DigitalLink from decompressed AI/value pairs: exactly one AI 01, its qualifiers, and
    every other AI (validated) and non-GS1 pair kept as attributes, in order."""
    seen = [ai for ai, _ in elements]
    if seen.count("01") != 1:
        raise DigitalLinkError("no_gtin" if "01" not in seen else "repeated_qualifier", "01")
    if len(set(seen)) != len(seen):
        raise DigitalLinkError("repeated_qualifier", "path")
    values = dict(elements)
    gtin14 = check_gtin(values["01"])
    qualifiers = {ai: check_qualifier(ai, values[ai]) for ai in GTIN_QUALIFIERS if ai in values}
    attributes = []
    for ai, value in elements:
        if ai == "01" or ai in GTIN_QUALIFIERS:
            continue
        if attribute_is_valid(ai, value) is False:
            raise DigitalLinkError("bad_attribute", ai)
        attributes.append((ai, value))
    attributes += list(others)
    return DigitalLink(gtin=gtin14, cpv=qualifiers.get("22"), lot=qualifiers.get("10"),
                       serial=qualifiers.get("21"), attributes=tuple(attributes))


def compress_digital_link(link: DigitalLink, *, optimise: bool = True) -> str:
    elements = {"01": link.gtin}
    for ai, value in (("22", link.cpv), ("10", link.lot), ("21", link.serial)):
        if value is not None:
            elements[ai] = value
    others = {}
    for key, value in link.attributes:
        (elements if ascii_number(key) else others)[key] = value
    return compress(elements, optimise=optimise, others=others)


# ---------------------------------------------------------------------------------------
# Link sets (RFC 9264, as a GS1-Conformant resolver serves them)
# ---------------------------------------------------------------------------------------

GS1_VOC = "https://gs1.org/voc/"
LINKSET_CONTEXT = "https://ref.gs1.org/standards/resolver/linkset-context"
_LINK_TYPE_PREFIXES = ("gs1:", "https://gs1.org/voc/", "http://gs1.org/voc/", "https://www.gs1.org/voc/",
                       "http://www.gs1.org/voc/", "https://ref.gs1.org/voc/", "http://ref.gs1.org/voc/")


def link_type_name(value: str | None) -> str | None:
    """``gs1:pip`` or ``https://gs1.org/voc/pip`` → ``pip``; anything else → None."""
    if not value:
        return None
    for prefix in _LINK_TYPE_PREFIXES:
        if value.startswith(prefix) and re.fullmatch(r"[A-Za-z]+", value[len(prefix):]):
            return value[len(prefix):]
    return None


@dataclass(frozen=True)
class Link:
    """One target.  ``link_type`` None: the link is offered only as ``gs1:defaultLink``."""

    link_type: str | None
    href: str
    title_vi: str
    title_en: str
    type: str = "text/html"
    hreflang: tuple[str, ...] = ("vi", "en")

    def target(self, language: str = "vi") -> dict:
        """The link object: only the members GS1's link-set schema allows (``href``,
        ``title``, ``hreflang``, ``type``…; no RFC 8288 ``title*``), so the title is in the
        language the client asked for (the response varies on Accept-Language)."""
        target = {"href": self.href, "title": self.title_en if language == "en" else self.title_vi,
                  "type": self.type}
        if self.hreflang:
            target["hreflang"] = list(self.hreflang)
        return target


def build_linkset(anchor: str, links: list[Link], default: Link, item_description: str = "",
                  language: str = "vi") -> dict:
    """The ``application/linkset+json`` document: one link context object whose anchor is
    the request's (uncompressed) Digital Link URI, one ``gs1:defaultLink`` and every link
    grouped by its link type (GS1 Web Vocabulary URIs as relation types)."""
    context: dict = {"anchor": anchor}
    if item_description:
        context["itemDescription"] = item_description
    context[GS1_VOC + "defaultLink"] = [default.target(language)]
    for link in links:
        if link.link_type:
            context.setdefault(GS1_VOC + link.link_type, []).append(link.target(language))
    return {"linkset": [context]}
