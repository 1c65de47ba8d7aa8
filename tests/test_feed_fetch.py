"""Scheduled fetch (issue 16, point 3): Google Merchant Center's scheduled fetch supplies a
user name and password (HTTP Basic), not a bearer token, and reads text feeds with the plain
attribute names Google documents (``id``, ``title``…, not ``g:id``)."""
from __future__ import annotations

import base64
import csv
import io
from pathlib import Path

from tests.test_feeds import catalogue, fetch, http, tokens, web  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]
# Google Merchant Center's product data specification: attribute names in text feeds
GOOGLE_TEXT_ATTRIBUTES = {"id", "title", "description", "link", "image_link", "additional_image_link",
                          "availability", "price", "gtin", "identifier_exists", "brand", "condition",
                          "product_type", "google_product_category", "shipping_weight", "shipping_length",
                          "shipping_width", "shipping_height"}


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_feed_takes_the_token_as_the_password_of_http_basic(catalogue, http, tokens):  # noqa: F811
    bearer = fetch(http, "google", "csv", tokens["google"])
    assert bearer.status_code == 200
    scheduled = http.get("/feeds/google.csv", headers=basic("google", tokens["google"]))
    assert scheduled.status_code == 200 and scheduled.data == bearer.data
    for user, password in (("thanhhoa", tokens["google"]), ("google", tokens["thanhhoa"]), ("google", ""),
                           ("", tokens["google"])):
        refused = http.get("/feeds/google.csv", headers=basic(user, password))
        assert refused.status_code == 401, (user, password)
    anonymous = http.get("/feeds/google.csv")
    challenges = anonymous.headers.getlist("WWW-Authenticate")
    assert anonymous.status_code == 401 and any(c.startswith("Basic ") for c in challenges) \
        and any(c.startswith("Bearer ") for c in challenges)


def test_googles_text_feed_uses_the_plain_attribute_names(catalogue, http, tokens):  # noqa: F811
    body = http.get("/feeds/google.csv", headers=basic("google", tokens["google"])).data.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(body)))
    assert set(header) <= GOOGLE_TEXT_ATTRIBUTES and {"id", "title", "price", "availability"} <= set(header)
    assert not any(":" in name for name in header)
    assert fetch(http, "google", "json", tokens["google"]).get_json()["items"][0]["g:id"]  # JSON as before


def test_the_readme_says_what_to_type_into_merchant_center():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "/feeds/google.csv" in readme and "Merchant Center" in readme and "user name" in readme
