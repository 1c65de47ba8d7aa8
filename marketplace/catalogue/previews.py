"""Share previews (issue 20, point 2): the 1200×630 picture that Zalo, Facebook and other apps
show under a shared product link (Open Graph's and Twitter's recommended size), made with
Pillow from the product's photo, with its name and price in Vietnamese.

A preview is drawn once per product *version* (which moves with every change of anything it
shows: name, price, photos) and kept as a file in ``UPLOAD_DIR/previews``; its URL names the
version, so a share made after a change fetches the new picture while caches keep the old
one for links shared before.  :func:`draw` is a plain function of its inputs; Pillow is
imported there, when a preview is drawn, not at start-up.
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from .. import geo
from ..i18n import quantity, vnd
from ..models import Product
from ..typeset import LINE, fit_text, font
from ..vocab import unit_label

SIZE = (1200, 630)
PHOTO = 630                     # the photo: a square on the left
PAD = 48
BACKGROUND = (255, 251, 240)
GREEN = (11, 93, 42)            # the site's colour (static/style.css)
INK, PRICE, MUTED = (28, 28, 28), (158, 38, 16), (86, 86, 86)
BRAND = "Chợ OCOP Triệu Sơn"


def draw(*, photo: Path | None, name: str, price: str, producer: str, place: str) -> bytes:
    """A JPEG of the preview: the photo (cropped to a square) or, without one, the brand's
    colour; beside it the name (up to three lines), the price, the producer and its place,
    and the site's name on a band along the bottom."""
    from PIL import Image, ImageDraw, ImageOps

    image = Image.new("RGB", SIZE, BACKGROUND)
    if photo is not None and photo.exists():
        with Image.open(photo) as source:
            image.paste(ImageOps.fit(source.convert("RGB"), (PHOTO, PHOTO), Image.Resampling.LANCZOS), (0, 0))
    else:
        image.paste(GREEN, (0, 0, PHOTO, PHOTO))
    pen = ImageDraw.Draw(image)
    left, width = PHOTO + PAD, SIZE[0] - PHOTO - 2 * PAD
    y = PAD
    size, lines = fit_text(name, width, 250, 60, 30, max_lines=3)
    for line in lines:
        pen.text((left, y), line, font=font(size, 700), fill=INK)
        y += round(size * LINE)
    y += 18
    size, lines = fit_text(price, width, 80, 58, 30, max_lines=1)
    pen.text((left, y), lines[0], font=font(size, 700), fill=PRICE)
    y += round(size * LINE) + 14
    for text in (producer, place):
        size, lines = fit_text(text, width, 80, 30, 20, max_lines=2, weight=500)
        for line in lines:
            pen.text((left, y), line, font=font(size, 500), fill=MUTED)
            y += round(size * LINE)
    band = SIZE[1] - 84
    pen.rectangle((PHOTO, band, SIZE[0], SIZE[1]), fill=GREEN)
    pen.text((left, band + 42), BRAND, font=font(34, 700), fill=(255, 255, 255), anchor="lm")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue()


def of_product(upload_dir: str | os.PathLike, product: Product) -> Path:
    """The preview file of ``product``'s current version: its name and its price in
    Vietnamese, whatever the language of the page that shared it, beside its cover photo."""
    producer, cover = product.producer, product.cover
    price = f"{vnd(product.price_vnd, 'vi')} / {quantity(product.net_quantity, 'vi')} {unit_label(product.unit, 'vi')}"
    return kept(upload_dir, product.id, product.version, lambda: draw(
        photo=Path(upload_dir) / f"{cover.stem}-m.jpg" if cover else None, name=product.name, price=price,
        producer=producer.name, place=geo.place_name(producer.ward_code)))


def path_of(upload_dir: str | os.PathLike, product_id: int, version: int) -> Path:
    return Path(upload_dir) / "previews" / f"p{product_id}-v{version}.jpg"


def kept(upload_dir: str | os.PathLike, product_id: int, version: int, make) -> Path:
    """The preview file of this product version, drawn by ``make()`` (→ JPEG bytes) the first
    time and kept; the product's older versions' files are removed then."""
    path = path_of(upload_dir, product_id, version)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = make()
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, path)  # whole or not at all, whoever else draws it at the same time
    for old in path.parent.glob(f"p{product_id}-v*.jpg"):
        if old != path:
            old.unlink(missing_ok=True)
    return path
