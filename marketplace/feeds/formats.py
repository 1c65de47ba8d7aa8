"""Feed formats, written as streams of text or bytes chunks from canonical items.

Each writer takes the exchange's :class:`Profile` and an iterable of canonical items
(tombstones among them for a delta) and yields chunks, so a feed of any size is sent with
flat memory.  Items the exchange would refuse (:func:`profiles.reasons`) are left out.

* ``json``: ``{"exchange", "generated_at", "items": [...]}`` in the profile's field names;
  a tombstone is ``{<id field>: …, "deleted": true, "version": …}``.
* ``csv``: UTF-8 with a BOM (Excel then reads Vietnamese correctly), a header row of the
  profile's field names, lists joined with `` | ``; deltas add a ``deleted`` column.
* ``xlsx``: the same table in a workbook (header row, frozen panes), written by openpyxl in
  write-only mode to a temporary file that is then streamed.
* ``xml``: Google Merchant RSS 2.0 with the ``g:`` namespace (no deletions in RSS: a delta
  lists changed items only).
* DFC (the ``dfc`` exchange's ``json``): a Data Food Consortium JSON-LD catalogue.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
from typing import Iterable, Iterator

import orjson

from . import profiles as p

MEDIA_TYPES = {
    "json": "application/json", "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xml": "application/rss+xml; charset=utf-8", "jsonld": "application/ld+json",
}
FLUSH_EVERY = 200  # items per chunk


def accepted(profile: p.Profile, items: Iterable[dict]) -> Iterator[dict]:
    """Tombstones and the items the exchange would take."""
    for item in items:
        if item.get("deleted") or not p.reasons(profile, item):
            yield item


def _tombstone(profile: p.Profile, item: dict) -> dict:
    return {p.id_field(profile): item["id"], "deleted": True, "version": item["version"]}


def write_json(profile: p.Profile, items: Iterable[dict], *, generated_at: dt.datetime) -> Iterator[bytes]:
    return json_document(profile, (orjson.dumps(_tombstone(profile, item) if item.get("deleted")
                                                else p.mapped(profile, item)) for item in accepted(profile, items)),
                         generated_at=generated_at)


def json_document(profile: p.Profile, bodies: Iterable[bytes], *, generated_at: dt.datetime) -> Iterator[bytes]:
    """The JSON feed around items already serialized (``bodies``), a few hundred a chunk."""
    yield b'{"exchange":%s,"generated_at":%s,"items":[' % (orjson.dumps(profile.code),
                                                         orjson.dumps(generated_at.isoformat()))
    buffer, first = [], True
    for body in bodies:
        buffer.append(body)
        if len(buffer) >= FLUSH_EVERY:
            yield (b"" if first else b",") + b",".join(buffer)
            buffer, first = [], False
    yield (b"" if first or not buffer else b",") + b",".join(buffer) + b"]}\n"


# Control characters that XML 1.0 (RSS, the XLSX parts) cannot carry; \t and \n can.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str) -> str:
    return _ILLEGAL.sub(" ", text)


def _cell(value) -> str | int:
    if value is None:
        return ""
    if isinstance(value, list):
        value = p._join(value)
    if isinstance(value, str):
        return clean(value)
    return value


def _rows(profile: p.Profile, items: Iterable[dict], delta: bool) -> Iterator[list]:
    """A header and a row per item, for the text formats (CSV, XLSX).  A column named with an
    XML namespace prefix (Google's ``g:id``) is headed by its local name (``id``): the prefix
    belongs to the XML feed, and Google's text feeds use the plain attribute names."""
    columns = [column.partition(":")[2] or column for column in profile.columns] + (["deleted"] if delta else [])
    yield columns
    for item in accepted(profile, items):
        if item.get("deleted"):  # a tombstone fills only the id and version columns
            kept = {"id": item["id"], "version": item["version"]}
            yield [_cell(kept.get(canonical)) for _, canonical in profile.fields] + ["yes"]
        else:
            values = p.mapped(profile, item)
            yield [_cell(values[c]) for c in profile.columns] + (["no"] if delta else [])


def write_csv(profile: p.Profile, items: Iterable[dict], *, delta: bool = False) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    for n, row in enumerate(_rows(profile, items, delta)):
        writer.writerow(row)  # machine data: values as they are (text.spreadsheet_text says why)
        if n % FLUSH_EVERY == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def write_xlsx(profile: p.Profile, items: Iterable[dict], *, delta: bool = False) -> Iterator[bytes]:
    """Rows go to a temporary file through openpyxl's write-only workbook (flat memory), and
    the finished file is streamed in 64 KiB pieces.

    openpyxl (with numpy, ~0.2 s) is imported here, when a workbook is written, not when
    the app starts: every worker and every CLI command would pay it otherwise."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(profile.code or "feed")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    rows = _rows(profile, items, delta)
    header = []
    for name in next(rows):
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        for n, value in enumerate(row):
            if isinstance(value, str) and value.startswith("="):
                cell = row[n] = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"  # text, never a formula
        sheet.append(row)
    with tempfile.TemporaryFile() as handle:
        workbook.save(handle)
        handle.seek(0)
        while chunk := handle.read(65536):
            yield chunk


XML_NSMAP = {"g": p.GOOGLE_NS}


def write_rss(profile: p.Profile, items: Iterable[dict], *, title: str, link: str,
              description: str) -> Iterator[bytes]:
    """Google Merchant RSS 2.0: a ``g:`` element per mapped field, repeated for lists.

    Written by lxml's incremental writer (element names from the profile, checked against
    the XML Name rule when the profile is parsed; text escaped by lxml), in chunks of
    ``FLUSH_EVERY`` items, so memory stays flat.  lxml is imported here, when an XML feed is
    written, not at start-up."""
    from lxml import etree

    names = {name: p.xml_element_name(name) for name, _ in profile.fields}
    out = io.BytesIO()

    def taken() -> bytes:
        chunk = out.getvalue()
        out.seek(0)
        out.truncate()
        return chunk

    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("rss", version="2.0", nsmap=XML_NSMAP):
            with xf.element("channel"):
                for tag, text in (("title", title), ("link", link), ("description", description)):
                    element = etree.Element(tag)
                    element.text = clean(text)
                    xf.write(element, "\n")
                count = 0
                for item in accepted(profile, items):
                    if item.get("deleted"):
                        continue
                    # The g: prefix on each item (written apart from the root, lxml declares
                    # it again there): "<g:id>", as Google's examples, not "<ns0:id xmlns:ns0=…>".
                    element = etree.Element("item", nsmap=XML_NSMAP)
                    for name, value in p.mapped(profile, item).items():
                        for one in value if isinstance(value, list) else [value]:
                            if one is None or one == "":
                                continue
                            etree.SubElement(element, names[name]).text = clean(str(one))
                    xf.write(element, "\n")
                    count += 1
                    if count % FLUSH_EVERY == 0:
                        xf.flush()
                        yield taken()
    yield taken() + b"\n"


def to_bytes(chunks: Iterable[str | bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk
