"""The Google Merchant RSS writer (issue 15, point 6): element names come from profiles that
officers edit, so they are checked against the XML Name rule where profiles are parsed, and
the document is written by lxml's incremental writer (text escaped by lxml)."""
from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from marketplace.feeds import formats
from marketplace.feeds import profiles as p

G = "{http://base.google.com/ns/1.0}"


def google(**changes) -> dict:
    data = p.shipped("google")
    data.update(changes)
    return data


@pytest.mark.parametrize("name", ["g:id><script>", "g:a b", "g:1price", "x:price", "g:", "<g:id>", "g:pri&ce"])
def test_a_profile_with_a_name_that_is_no_xml_name_is_refused(name):
    fields = [[name, "id"]] + [f for f in google()["fields"] if f[1] != "id"]
    with pytest.raises(p.ProfileError) as refused:
        p.parse(google(fields=fields))
    assert refused.value.field == "fields" and repr(name) in str(refused.value)


def test_a_json_or_csv_only_profile_may_use_any_column_name():
    fields = [["Mã sản phẩm (SKU)", "id"]]
    assert p.parse(google(formats=["json", "csv"], fields=fields)).fields == (("Mã sản phẩm (SKU)", "id"),)


def test_names_map_to_the_google_namespace():
    assert p.xml_element_name("g:price") == f"{G}price"
    assert p.xml_element_name("title") == "title"


def item(n: int, title: str) -> dict:
    return {"id": f"ocop-{n}", "title": title, "description": "Mô tả", "link": f"https://x.example/p/{n}",
            "image_link": "https://x.example/m.jpg", "additional_image_links": [], "price": 1000 * n,
            "availability": "in_stock", "updated_at": dt.datetime(2025, 11, 1).isoformat(), "version": 1}


def test_the_writer_streams_well_formed_rss_in_chunks():
    profile = p.Profile(code="google", name="Google", formats=("xml",),
                        fields=(("g:id", "id"), ("g:title", "title")), required=(), limits={})
    evil = 'Gạo <b>"ngon"</b> & rẻ\x0b]]>'
    items = [item(n, evil if n == 1 else f"Sản phẩm {n}") for n in range(1, 2 * formats.FLUSH_EVERY + 2)]
    chunks = list(formats.write_rss(profile, items, title="Chợ <OCOP>", link="https://x.example/",
                                    description="a & b"))
    assert len(chunks) >= 3 and all(isinstance(c, bytes) for c in chunks)  # flushed as it goes
    root = etree.fromstring(b"".join(chunks))
    assert root.tag == "rss" and root.nsmap == {"g": G[1:-1]}
    channel = root.find("channel")
    assert channel.findtext("title") == "Chợ <OCOP>" and channel.findtext("description") == "a & b"
    found = channel.findall("item")
    assert len(found) == len(items)
    assert found[0].findtext(f"{G}title") == 'Gạo <b>"ngon"</b> & rẻ ]]>'  # control character replaced
    assert [e.findtext(f"{G}id") for e in found] == [i["id"] for i in items]
