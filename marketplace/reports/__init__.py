"""Buyers' reports of suspicious products (issue 14, "a buyer can act").

A buyer who doubts a product (a copied stamp, the wrong product in the pack, a spoiled one)
sends a short report without an account; officers see it beside the clone alerts, the
product's producer in its dashboard.  ``service`` holds the rules, ``routes`` the pages.
"""
from __future__ import annotations

from ..access import register_owner
from ..models import BuyerReport, Product

# A report belongs to the producer of the product it names (a stamp's product when the
# buyer's code is a real stamp): that producer's users and its cooperative's read it.
register_owner(BuyerReport, lambda: (Product.producer_id, (Product, BuyerReport.product_id == Product.id)))
