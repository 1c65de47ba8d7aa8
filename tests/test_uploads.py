"""Uploads: product photos, producer logos and certification documents.

Tested like a user through the Flask test client (producer A uploads to its own product),
plus unit tests of :mod:`marketplace.media`.  Attacks covered: EXIF/GPS leaks, decompression
bombs, JPEG/HTML polyglots, SVG and other non-images under image names, oversize requests,
cross-tenant access.  After each attack the app must still answer and leave no stray files.
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import resource
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import select

from marketplace.media import (LARGE_EDGE, THUMB_EDGE, ImageRejected, is_safe_media_name,
                               process_image, store_image)
from marketplace.models import Certification, Producer, Product, ProductPhoto
from tests.conftest import login

MAX_PIXELS = 40_000_000
MAX_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 10  # catalogue.service.MAX_PHOTOS: photos per product, and per request
SCRIPT = b"<html><script>alert(1)</script></html>"

MSG_NOT_IMAGE = "Tệp không phải ảnh JPEG, PNG hoặc WebP."
MSG_PIXELS = "Ảnh có kích thước điểm ảnh quá lớn."
MSG_TOO_LARGE = "Ảnh quá lớn (tối đa 5 MB)."
MSG_CORRUPT = "Không đọc được ảnh (tệp hỏng)."
MSG_EMPTY = "Tệp rỗng."
MSG_NOT_PDF = "Tài liệu phải là PDF hoặc ảnh JPEG, PNG, WebP."
MSG_ADDED = "Đã thêm ảnh."


# ---- building test images -------------------------------------------------------------

def encode(img: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"          # Make
    exif[0x0110] = "EOS 5D"         # Model
    exif[0x0131] = "Firmware 1.0"   # Software
    if orientation:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)      # GPS IFD
    gps[1] = "N"
    gps[2] = (19.0, 48.0, 30.0)     # Triệu Sơn, Thanh Hóa
    gps[3] = "E"
    gps[4] = (105.0, 36.0, 10.0)
    return exif


def jpeg_with_gps(size=(640, 480), orientation: int | None = None) -> bytes:
    img = Image.new("RGB", size, (180, 120, 40))
    data = encode(img, "JPEG", exif=gps_exif(orientation), quality=90)
    assert b"Exif" in data and Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)
    return data


def small_jpeg(color=(200, 30, 30), size=(64, 48)) -> bytes:
    return encode(Image.new("RGB", size, color), "JPEG")


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


@functools.lru_cache(maxsize=None)
def png_bomb(width=20000, height=20000) -> bytes:
    """A real, fully valid 1-bit greyscale PNG of zeros: 400 megapixels, a few dozen KB.

    Built row by row (never allocating the image) so the test itself stays light.
    """
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    parts = [comp.compress(row) for _ in range(height)]
    idat = b"".join(parts) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
       b'<script>alert(document.cookie)</script><rect width="100" height="100"/></svg>')
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


# ---- helpers ------------------------------------------------------------------------------

def upload_dir(app) -> Path:
    return Path(app.config["UPLOAD_DIR"])


def renditions(stem: str) -> set[str]:
    """The files one stored image makes: large, medium (phones) and thumbnail."""
    return {f"{stem}.jpg", f"{stem}-m.jpg", f"{stem}-t.jpg"}


def files_in(app) -> dict[str, str]:
    folder = upload_dir(app)
    if not folder.exists():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def upload(client, product_id, data: bytes, name="photo.jpg", mimetype="image/jpeg", follow=True):
    return client.post(f"/dashboard/products/{product_id}/photos",
                       data={"photo": (io.BytesIO(data), name, mimetype)},
                       content_type="multipart/form-data", follow_redirects=follow)


def photos_of(db, product_id) -> list[ProductPhoto]:
    db.session.expire_all()
    return db.session.scalars(select(ProductPhoto).where(ProductPhoto.product_id == product_id)
                              .order_by(ProductPhoto.position)).all()


def product_version(db, product_id) -> int:
    db.session.expire_all()
    return db.session.get(Product, product_id).version


def has_no_exif(data: bytes) -> bool:
    img = Image.open(io.BytesIO(data))
    return not img.getexif() and b"Exif" not in data and "exif" not in img.info


@pytest.fixture
def as_a(client, world):
    login(client, "a@example.vn")
    return client


@pytest.fixture
def ids(world):
    return {"a": world.a.id, "b": world.b.id, "product_a": world.product_a.id,
            "product_b": world.product_b.id}


# ---- 1. EXIF / GPS stripped, served safely, resized ----------------------------------------

def test_jpeg_with_gps_is_accepted_and_stored_without_exif(app, db, as_a, ids):
    data = jpeg_with_gps()
    r = upload(as_a, ids["product_a"], data)
    assert r.status_code == 200
    assert MSG_ADDED in r.get_data(as_text=True)

    [photo] = photos_of(db, ids["product_a"])
    assert (photo.width, photo.height) == (640, 480)
    large = upload_dir(app) / f"{photo.stem}.jpg"
    medium = upload_dir(app) / f"{photo.stem}-m.jpg"
    thumb = upload_dir(app) / f"{photo.stem}-t.jpg"
    assert set(files_in(app)) == renditions(photo.stem)
    for path in (large, medium, thumb):
        stored = path.read_bytes()
        assert stored.startswith(b"\xff\xd8")
        assert has_no_exif(stored)
        assert b"Canon" not in stored and b"EOS 5D" not in stored
        assert Image.open(path).format == "JPEG"
    assert max(Image.open(thumb).size) <= THUMB_EDGE

    r = as_a.get(f"/media/{photo.stem}.jpg")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.data == large.read_bytes()
    r = as_a.get(f"/media/{photo.stem}-t.jpg")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_large_photo_is_downscaled(app, db, as_a, ids):
    data = encode(Image.new("RGB", (3000, 2000), (10, 120, 60)), "JPEG", quality=80)
    r = upload(as_a, ids["product_a"], data)
    assert MSG_ADDED in r.get_data(as_text=True)
    [photo] = photos_of(db, ids["product_a"])
    large = Image.open(upload_dir(app) / f"{photo.stem}.jpg")
    thumb = Image.open(upload_dir(app) / f"{photo.stem}-t.jpg")
    assert max(large.size) <= LARGE_EDGE == 1600
    assert large.size == (1600, 1067) or large.size == (1600, 1066)  # aspect ratio kept
    assert (photo.width, photo.height) == large.size
    assert max(thumb.size) <= THUMB_EDGE == 480


def test_exif_orientation_is_applied_then_dropped(app, db, as_a, ids):
    data = jpeg_with_gps(size=(300, 200), orientation=6)  # "rotate 90° clockwise to view"
    r = upload(as_a, ids["product_a"], data)
    assert MSG_ADDED in r.get_data(as_text=True)
    [photo] = photos_of(db, ids["product_a"])
    assert (photo.width, photo.height) == (200, 300)
    stored = (upload_dir(app) / f"{photo.stem}.jpg").read_bytes()
    assert Image.open(io.BytesIO(stored)).size == (200, 300)
    assert has_no_exif(stored)


# ---- 2. PNG and WebP ------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,name,mimetype", [
    ("PNG", "photo.png", "image/png"),
    ("WEBP", "photo.webp", "image/webp"),
])
def test_png_and_webp_with_transparency_become_jpeg(app, db, as_a, ids, fmt, name, mimetype):
    img = Image.new("RGBA", (120, 80), (0, 0, 255, 0))           # fully transparent …
    img.paste((255, 0, 0, 255), (0, 0, 60, 80))                  # … with an opaque red half
    r = upload(as_a, ids["product_a"], encode(img, fmt), name, mimetype)
    assert MSG_ADDED in r.get_data(as_text=True)
    [photo] = photos_of(db, ids["product_a"])
    stored = Image.open(upload_dir(app) / f"{photo.stem}.jpg")
    assert stored.format == "JPEG" and stored.mode == "RGB" and stored.size == (120, 80)
    red = stored.getpixel((10, 40))
    white = stored.getpixel((110, 40))                           # transparency → white, not black
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    assert min(white) > 230


def test_palette_png_with_transparency(app, db, as_a, ids):
    img = Image.new("P", (50, 50), 0)
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    img.paste(1, (25, 0, 50, 50))
    data = encode(img, "PNG", transparency=0)
    r = upload(as_a, ids["product_a"], data, "logo.png", "image/png")
    assert MSG_ADDED in r.get_data(as_text=True)
    [photo] = photos_of(db, ids["product_a"])
    stored = Image.open(upload_dir(app) / f"{photo.stem}.jpg")
    assert min(stored.getpixel((5, 25))) > 230                  # transparent → white
    assert stored.getpixel((40, 25))[1] > 150                   # green kept


# ---- 3..6. hostile files ---------------------------------------------------------------------

def assert_rejected(app, db, client, product_id, data, name, mimetype, message):
    before = files_in(app)
    version = product_version(db, product_id)
    r = upload(client, product_id, data, name, mimetype, follow=False)
    assert r.status_code == 303, r.status_code
    assert r.headers["Location"].endswith(f"/dashboard/products/{product_id}")
    page = client.get(r.headers["Location"])
    assert page.status_code == 200
    assert message in page.get_data(as_text=True)
    assert photos_of(db, product_id) == []
    assert product_version(db, product_id) == version
    assert files_in(app) == before
    return page


def test_decompression_bomb_is_rejected_cheaply(app, db, as_a, ids):
    bomb = png_bomb()
    assert len(bomb) < 200_000
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.perf_counter()
    assert_rejected(app, db, as_a, ids["product_a"], bomb, "bomb.png", "image/png", MSG_PIXELS)
    assert time.perf_counter() - started < 3
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB"


def test_bomb_just_over_the_pixel_limit_is_rejected(app, db, as_a, ids, monkeypatch):
    """Between MAX_IMAGE_PIXELS and twice it Pillow only *warns*; the app must still refuse."""
    monkeypatch.setitem(app.config, "MAX_IMAGE_PIXELS", 10_000)
    data = encode(Image.new("RGB", (150, 100)), "PNG")          # 15 000 px: 1.5 × the limit
    assert_rejected(app, db, as_a, ids["product_a"], data, "p.png", "image/png", MSG_PIXELS)
    data = encode(Image.new("RGB", (100, 100)), "PNG")          # exactly the limit: fine
    r = upload(as_a, ids["product_a"], data, "ok.png", "image/png")
    assert MSG_ADDED in r.get_data(as_text=True)


def test_jpeg_html_polyglot_appended_is_neutralised(app, db, as_a, ids):
    data = small_jpeg() + SCRIPT
    r = upload(as_a, ids["product_a"], data, "photo.jpg", "image/jpeg")
    # Either rejected (no row) or re-encoded so that no script survives.
    photos = photos_of(db, ids["product_a"])
    assert r.status_code == 200
    for name, _ in files_in(app).items():
        assert b"<script" not in (upload_dir(app) / name).read_bytes()
    for photo in photos:
        served = as_a.get(f"/media/{photo.stem}.jpg")
        assert b"<script" not in served.data
        assert served.headers["Content-Type"] == "image/jpeg"
        assert served.headers["X-Content-Type-Options"] == "nosniff"


# Regression: _encode() used to keep img.info["comment"], and Pillow's JPEG encoder writes
# im.info["comment"] as a COM segment, so a JPEG COM / PNG tEXt "comment" payload survived.
@pytest.mark.parametrize("kind", ["jpeg-com", "png-text-comment"])
def test_polyglot_payload_in_metadata_does_not_survive(app, db, as_a, ids, kind):
    img = Image.new("RGB", (64, 48), (20, 20, 200))
    if kind == "jpeg-com":
        data, name, mimetype = encode(img, "JPEG", comment=SCRIPT), "photo.jpg", "image/jpeg"
    else:
        info = PngImagePlugin.PngInfo()
        info.add_text("comment", SCRIPT.decode())
        data, name, mimetype = encode(img, "PNG", pnginfo=info), "photo.png", "image/png"
    assert SCRIPT in data
    upload(as_a, ids["product_a"], data, name, mimetype)
    for name in files_in(app):
        assert b"<script" not in (upload_dir(app) / name).read_bytes(), name


NON_IMAGES = {
    "svg-as-png": (SVG, "photo.png", "image/png"),
    "svg": (SVG, "photo.svg", "image/svg+xml"),
    "text-as-jpg": (b"Xin chao, day khong phai la anh.\n" * 20, "photo.jpg", "image/jpeg"),
    "pdf-as-jpg": (PDF, "photo.jpg", "image/jpeg"),
    "html-then-jpeg": (SCRIPT + small_jpeg(), "photo.jpg", "image/jpeg"),
    "gif": (encode(Image.new("RGB", (40, 40)), "GIF"), "photo.gif", "image/gif"),
    "bmp-as-jpg": (encode(Image.new("RGB", (40, 40)), "BMP"), "photo.jpg", "image/jpeg"),
    "tiff-as-png": (encode(Image.new("RGB", (40, 40)), "TIFF"), "photo.png", "image/png"),
}


def test_non_images_and_other_formats_are_rejected(app, db, as_a, ids):
    # One test (not parametrized) to keep the per-test database setup cost down.
    for case, (data, name, mimetype) in NON_IMAGES.items():
        page = assert_rejected(app, db, as_a, ids["product_a"], data, name, mimetype, MSG_NOT_IMAGE)
        assert "<script>alert" not in page.get_data(as_text=True), case


def test_truncated_jpeg_is_rejected_as_corrupt(app, db, as_a, ids):
    data = encode(Image.effect_noise((200, 200), 60).convert("RGB"), "JPEG")
    assert_rejected(app, db, as_a, ids["product_a"], data[: len(data) // 2], "half.jpg",
                    "image/jpeg", MSG_CORRUPT)


def test_empty_file_and_missing_file(app, db, as_a, ids):
    assert_rejected(app, db, as_a, ids["product_a"], b"", "empty.jpg", "image/jpeg", MSG_EMPTY)
    r = as_a.post(f"/dashboard/products/{ids['product_a']}/photos", data={},
                  content_type="multipart/form-data", follow_redirects=True)
    # Said beside the field (issue 17): a flash at the top of a phone's page is out of sight.
    assert r.status_code == 422
    assert "Chưa chọn ảnh nào" in r.get_data(as_text=True)
    assert photos_of(db, ids["product_a"]) == []


# Regression: _to_rgb() called ImageOps.exif_transpose() outside the guarded _open(); with an
# Orientation tag, malformed EXIF made exif.tobytes() raise struct.error/TypeError -> HTTP 500.
def test_malformed_exif_is_not_a_server_error(app, db, as_a, ids):
    data = jpeg_with_gps(size=(64, 48), orientation=6)
    # Retag Model (0x0110, ASCII) as Thresholding (0x0107, a SHORT tag): still parseable,
    # but Pillow cannot serialise it back when exif_transpose rewrites the EXIF block.
    patched = data.replace(b"\x01\x10\x00\x02", b"\x01\x07\x00\x02", 1)
    assert patched != data
    r = upload(as_a, ids["product_a"], patched, follow=False)
    assert r.status_code == 303
    page = as_a.get(r.headers["Location"]).get_data(as_text=True)
    photos = photos_of(db, ids["product_a"])
    assert (MSG_ADDED in page and len(photos) == 1) or (photos == [] and files_in(app) == {})
    for name in files_in(app):
        assert has_no_exif((upload_dir(app) / name).read_bytes())


# ---- 7. size limits ------------------------------------------------------------------------

def test_request_over_max_content_length_gets_friendly_413(app, db, as_a, ids):
    assert app.config["MAX_CONTENT_LENGTH"] == MAX_BYTES + 64 * 1024
    # The photo views take several photos at once: up to MAX_PHOTOS of them in one request.
    # A 6 MB file there is refused with the form's message; a request over all of them, 413.
    assert_rejected(app, db, as_a, ids["product_a"], small_jpeg() + os.urandom(6 * 1024 * 1024), "big.jpg",
                    "image/jpeg", MSG_TOO_LARGE)
    data = small_jpeg() + os.urandom(MAX_PHOTOS * MAX_BYTES + 128 * 1024)
    r = upload(as_a, ids["product_a"], data, follow=False)
    assert r.status_code == 413
    page = r.get_data(as_text=True)
    assert "Tệp tải lên quá lớn (tối đa 5 MB)." in page
    assert "<html" in page.lower()
    assert photos_of(db, ids["product_a"]) == []
    assert files_in(app) == {}


def test_file_just_over_max_photo_bytes_gets_form_message(app, db, as_a, ids):
    assert app.config["MAX_PHOTO_BYTES"] == MAX_BYTES
    jpeg = small_jpeg()
    data = jpeg + os.urandom(MAX_BYTES + 1 - len(jpeg))           # one byte too many
    assert MAX_BYTES < len(data) < app.config["MAX_CONTENT_LENGTH"]
    assert_rejected(app, db, as_a, ids["product_a"], data, "big.jpg", "image/jpeg", MSG_TOO_LARGE)


def test_file_of_exactly_max_photo_bytes_is_accepted(app, db, as_a, ids):
    jpeg = small_jpeg()
    data = jpeg + os.urandom(MAX_BYTES - len(jpeg))               # trailing junk after EOI
    r = upload(as_a, ids["product_a"], data, "edge.jpg", "image/jpeg")
    assert MSG_ADDED in r.get_data(as_text=True)
    [photo] = photos_of(db, ids["product_a"])
    stored = (upload_dir(app) / f"{photo.stem}.jpg").read_bytes()
    assert len(stored) < 50_000                                   # the junk is gone


# ---- 8. still up, nothing left behind --------------------------------------------------------

def test_app_survives_a_barrage_and_leaves_no_stray_files(app, db, as_a, ids):
    attacks = [
        (png_bomb(), "bomb.png", "image/png"),
        (SVG, "photo.png", "image/png"),
        (PDF, "photo.jpg", "image/jpeg"),
        (b"not an image", "photo.jpg", "image/jpeg"),
        (b"", "photo.jpg", "image/jpeg"),
        (small_jpeg()[:300], "cut.jpg", "image/jpeg"),
        (small_jpeg() + os.urandom(MAX_BYTES), "big.jpg", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0)),
         "header-only.png", "image/png"),
        (b"RIFF\xff\xff\xff\xffWEBPVP8 " + b"\x00" * 40, "bad.webp", "image/webp"),
    ]
    for data, name, mimetype in attacks:
        r = upload(as_a, ids["product_a"], data, name, mimetype, follow=False)
        assert r.status_code == 303, (name, r.status_code)
    r = upload(as_a, ids["product_a"], small_jpeg() + os.urandom(MAX_PHOTOS * MAX_BYTES + 128 * 1024), follow=False)
    assert r.status_code == 413

    assert photos_of(db, ids["product_a"]) == []
    assert files_in(app) == {}
    assert as_a.get("/").status_code == 200
    assert as_a.get("/healthz").status_code == 200
    assert as_a.get(f"/dashboard/products/{ids['product_a']}").status_code == 200
    # and a genuine photo still works afterwards
    r = upload(as_a, ids["product_a"], small_jpeg())
    assert MSG_ADDED in r.get_data(as_text=True)
    assert len(files_in(app)) == 3  # large, medium, thumbnail


# ---- 9. ordering, cover, deletion, version ------------------------------------------------

def test_photo_order_cover_and_delete(app, db, as_a, ids):
    pid = ids["product_a"]
    versions = [product_version(db, pid)]
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for colour in colours:
        r = upload(as_a, pid, small_jpeg(colour))
        assert MSG_ADDED in r.get_data(as_text=True)
        versions.append(product_version(db, pid))
    assert versions == sorted(set(versions)), "each upload bumps the product version"

    first, second, third = photos_of(db, pid)
    assert [p.position for p in (first, second, third)] == [1, 2, 3]
    assert len(files_in(app)) == 9

    r = as_a.post(f"/dashboard/photos/{third.id}/first")
    assert r.status_code == 302
    db.session.expire_all()
    product = db.session.get(Product, pid)
    assert [p.id for p in product.photos] == [third.id, first.id, second.id]
    assert product.cover.id == third.id
    assert product.version > versions[-1]
    version = product.version

    # the dashboard shows the new cover first
    page = as_a.get(f"/dashboard/products/{pid}").get_data(as_text=True)
    assert page.index(f"{third.stem}-t.jpg") < page.index(f"{first.stem}-t.jpg") < page.index(f"{second.stem}-t.jpg")

    stem = first.stem
    r = as_a.post(f"/dashboard/photos/{first.id}/delete", follow_redirects=True)
    assert r.status_code == 200 and "Đã xóa ảnh." in r.get_data(as_text=True)
    assert not (upload_dir(app) / f"{stem}.jpg").exists()
    assert not (upload_dir(app) / f"{stem}-t.jpg").exists()
    assert not (upload_dir(app) / f"{stem}-m.jpg").exists()
    assert len(files_in(app)) == 6  # two photos left, three renditions each
    assert as_a.get(f"/media/{stem}.jpg").status_code == 404
    assert [p.id for p in photos_of(db, pid)] == [third.id, second.id]
    assert product_version(db, pid) > version

    # a new upload goes to the end
    upload(as_a, pid, small_jpeg((9, 9, 9)))
    photos = photos_of(db, pid)
    assert [p.id for p in photos[:2]] == [third.id, second.id] and len(photos) == 3
    assert photos[-1].position > second.position


def test_at_most_ten_photos(app, db, as_a, ids):
    pid = ids["product_a"]
    data = small_jpeg(size=(16, 16))
    for _ in range(10):
        assert upload(as_a, pid, data, follow=False).status_code == 303
    assert len(photos_of(db, pid)) == 10
    before = files_in(app)
    r = upload(as_a, pid, data)
    assert "Mỗi sản phẩm có tối đa 10 ảnh." in r.get_data(as_text=True)
    assert len(photos_of(db, pid)) == 10
    assert files_in(app) == before


def test_anonymous_cannot_upload(app, db, client, ids):
    r = upload(client, ids["product_a"], small_jpeg(), follow=False)
    assert r.status_code == 302 and "/account/login" in r.headers["Location"]
    assert photos_of(db, ids["product_a"]) == []
    assert files_in(app) == {}


# ---- 10. cross-tenant ----------------------------------------------------------------------

def test_producer_b_cannot_touch_a_photos(app, db, client, ids):
    login(client, "a@example.vn")
    upload(client, ids["product_a"], small_jpeg((1, 2, 3)))
    upload(client, ids["product_a"], small_jpeg((3, 2, 1)))
    photos = photos_of(db, ids["product_a"])
    state = [(p.id, p.stem, p.position) for p in photos]
    files = files_in(app)
    version = product_version(db, ids["product_a"])
    client.post("/account/logout")
    client.delete_cookie("session")

    login(client, "b@example.vn")
    assert client.get(f"/dashboard/products/{ids['product_a']}").status_code == 404
    r = upload(client, ids["product_a"], small_jpeg(), follow=False)
    assert r.status_code == 404
    r = client.post(f"/dashboard/products/{ids['product_a']}/photos",
                    data={"photo": (io.BytesIO(b"x" * (6 * 1024 * 1024)), "big.jpg", "image/jpeg")},
                    content_type="multipart/form-data")
    assert r.status_code in (404, 413)
    for photo in photos:
        assert client.post(f"/dashboard/photos/{photo.id}/delete").status_code == 404
        assert client.post(f"/dashboard/photos/{photo.id}/first").status_code == 404

    assert [(p.id, p.stem, p.position) for p in photos_of(db, ids["product_a"])] == state
    assert product_version(db, ids["product_a"]) == version
    assert files_in(app) == files
    # B can still use its own product
    r = upload(client, ids["product_b"], small_jpeg())
    assert MSG_ADDED in r.get_data(as_text=True)
    assert len(photos_of(db, ids["product_b"])) == 1


# ---- 11. producer logo and certification documents ------------------------------------------

def profile_form(**overrides) -> dict:
    data = {
        "kind": "household", "name": "Hộ Trịnh Văn A (đổi tên)", "representative": "Trịnh Văn A",
        "tax_code": "", "phone": "0912345678", "email": "", "address_line": "Thôn 3",
        "province_code": "38", "ward_code": "15724", "description": "Gạo nếp.",
    }
    data.update(overrides)
    return data


def test_logo_that_is_not_an_image_is_rejected_and_nothing_saved(app, db, as_a, ids):
    before = db.session.get(Producer, ids["a"])
    name, logo = before.name, before.logo
    r = as_a.post(f"/dashboard/producers/{ids['a']}",
                  data=profile_form(logo=(io.BytesIO(SVG), "logo.png", "image/png")),
                  content_type="multipart/form-data")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert f'<p class="error" id="logo-error">{MSG_NOT_IMAGE}</p>' in page
    assert "Đã lưu hồ sơ." not in page
    db.session.expire_all()
    after = db.session.get(Producer, ids["a"])
    assert (after.name, after.logo) == (name, logo)
    assert files_in(app) == {}


def test_logo_upload_and_replacement(app, db, as_a, ids):
    r = as_a.post(f"/dashboard/producers/{ids['a']}",
                  data=profile_form(logo=(io.BytesIO(jpeg_with_gps()), "logo.jpg", "image/jpeg")),
                  content_type="multipart/form-data", follow_redirects=True)
    assert r.status_code == 200 and "Đã lưu hồ sơ." in r.get_data(as_text=True)
    db.session.expire_all()
    producer = db.session.get(Producer, ids["a"])
    assert producer.name == "Hộ Trịnh Văn A"  # approved: the name is changed by officers only
    first = producer.logo
    assert first and set(files_in(app)) == renditions(first)
    assert has_no_exif((upload_dir(app) / f"{first}.jpg").read_bytes())
    served = as_a.get(f"/media/{first}-t.jpg")
    assert served.status_code == 200 and served.headers["X-Content-Type-Options"] == "nosniff"

    r = as_a.post(f"/dashboard/producers/{ids['a']}",
                  data=profile_form(logo=(io.BytesIO(small_jpeg()), "logo2.jpg", "image/jpeg")),
                  content_type="multipart/form-data")
    assert r.status_code == 302
    db.session.expire_all()
    second = db.session.get(Producer, ids["a"]).logo
    assert second and second != first
    assert set(files_in(app)) == renditions(second)   # old logo removed

    # saving the profile without a new file keeps the logo
    r = as_a.post(f"/dashboard/producers/{ids['a']}", data=profile_form(),
                  content_type="multipart/form-data")
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Producer, ids["a"]).logo == second


def test_producer_b_cannot_edit_a_profile(app, db, client, ids):
    login(client, "b@example.vn")
    r = client.post(f"/dashboard/producers/{ids['a']}",
                    data=profile_form(logo=(io.BytesIO(small_jpeg()), "logo.jpg", "image/jpeg")),
                    content_type="multipart/form-data")
    assert r.status_code == 404
    db.session.expire_all()
    assert db.session.get(Producer, ids["a"]).logo is None
    assert files_in(app) == {}


def cert_form(document, **overrides) -> dict:
    data = {"scheme": "vietgap", "product_id": "", "number": "VG-38-0001", "body": "Trung tâm Chứng nhận",
            "scope": "Lúa nếp", "valid_from": "2025-01-01", "valid_to": "2027-12-31"}
    if document is not None:
        data["document"] = document
    data.update(overrides)
    return data


def test_certification_pdf_is_downloadable_only_as_attachment(app, db, client, ids):
    login(client, "a@example.vn")
    r = client.post("/dashboard/certifications",
                    data=cert_form((io.BytesIO(PDF), "giay-chung-nhan.pdf", "application/pdf")),
                    content_type="multipart/form-data", follow_redirects=True)
    assert r.status_code == 200
    assert "Đã thêm chứng nhận" in r.get_data(as_text=True)
    db.session.expire_all()
    [cert] = db.session.scalars(select(Certification)).all()
    assert cert.producer_id == ids["a"]
    assert cert.document.endswith(".pdf") and is_safe_media_name(cert.document)
    assert (upload_dir(app) / "private" / cert.document).read_bytes() == PDF

    r = client.get(f"/dashboard/certifications/{cert.id}/document")
    assert r.status_code == 200
    assert r.data == PDF
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert f"certificate-{cert.id}.pdf" in r.headers["Content-Disposition"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in r.headers["Cache-Control"]

    # never served inline through the public media route
    assert client.get(f"/media/{cert.document}").status_code == 404

    client.post("/account/logout")
    client.delete_cookie("session")
    login(client, "b@example.vn")
    assert client.get(f"/dashboard/certifications/{cert.id}/document").status_code == 404


def test_certification_image_document_is_reencoded_and_html_rejected(app, db, as_a, ids):
    r = as_a.post("/dashboard/certifications",
                  data=cert_form((io.BytesIO(SCRIPT), "scan.pdf", "application/pdf")),
                  content_type="multipart/form-data")
    assert r.status_code == 200
    assert f'<p class="error" id="document-error">{MSG_NOT_PDF}</p>' in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(Certification)).all() == []
    assert files_in(app) == {}

    r = as_a.post("/dashboard/certifications",
                  data=cert_form((io.BytesIO(jpeg_with_gps()), "scan.jpg", "image/jpeg"),
                                 product_id=str(ids["product_a"])),
                  content_type="multipart/form-data")
    assert r.status_code == 302
    db.session.expire_all()
    [cert] = db.session.scalars(select(Certification)).all()
    assert cert.document.endswith(".jpg") and cert.product_id == ids["product_a"]
    r = as_a.get(f"/dashboard/certifications/{cert.id}/document")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert has_no_exif(r.data)
    # a scan is private: never reachable through the public /media route
    assert as_a.get(f"/media/{cert.document}").status_code == 404


# ---- media route --------------------------------------------------------------------------

def test_media_route_refuses_odd_names(client, app):
    folder = upload_dir(app)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "x.png").write_bytes(b"\x89PNG")
    (folder / "x.pdf").write_bytes(PDF)
    for name in ["..%2F..%2Fetc%2Fpasswd", "..%2Fsecret.jpg", "x.png", "x.svg", "x.html", "a.b.jpg",
                 ".jpg", "missing.jpg", "x.pdf", "%2Fetc%2Fhostname.jpg"]:
        assert client.get(f"/media/{name}").status_code == 404, name


# ---- unit tests of marketplace.media -------------------------------------------------------

def test_process_image_strips_exif_and_sizes():
    large, thumb, w, h = process_image(jpeg_with_gps((2400, 600)), max_bytes=MAX_BYTES,
                                       max_pixels=MAX_PIXELS)
    assert (w, h) == (1600, 400)
    assert Image.open(io.BytesIO(thumb)).size == (480, 120)
    assert has_no_exif(large) and has_no_exif(thumb)
    assert b"GPS" not in large and b"Canon" not in large

    # a small image is not enlarged
    large, thumb, w, h = process_image(small_jpeg(size=(30, 20)), max_bytes=MAX_BYTES,
                                       max_pixels=MAX_PIXELS)
    assert (w, h) == (30, 20) and Image.open(io.BytesIO(thumb)).size == (30, 20)


@pytest.mark.parametrize("mode", ["RGB", "L", "1", "LA", "RGBA", "I;16", "CMYK", "P"])
def test_process_image_handles_colour_modes(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    large, thumb, w, h = process_image(encode(Image.new(mode, (40, 30)), fmt),
                                       max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    img = Image.open(io.BytesIO(large))
    assert (img.format, img.mode, img.size, (w, h)) == ("JPEG", "RGB", (40, 30), (40, 30))


def test_process_image_animated_webp_keeps_first_frame():
    frames = [Image.new("RGB", (40, 40), (200 if i == 0 else 0, 0, 200 if i else 0)) for i in range(4)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    large, _, w, h = process_image(out.getvalue(), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    img = Image.open(io.BytesIO(large))
    assert getattr(img, "n_frames", 1) == 1 and img.getpixel((20, 20))[0] > 150


@pytest.mark.parametrize("data,code,max_pixels", [
    (b"", "empty", MAX_PIXELS),
    (b"\xff" * (MAX_BYTES + 1), "too_large", MAX_PIXELS),
    (SVG, "not_an_image", MAX_PIXELS),
    (PDF, "not_an_image", MAX_PIXELS),
    (b"GIF89a" + b"\x00" * 50, "not_an_image", MAX_PIXELS),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "not_an_image", MAX_PIXELS),
    (encode(Image.effect_noise((64, 64), 50), "JPEG")[:400], "corrupt", MAX_PIXELS),
    (encode(Image.new("L", (150, 100)), "PNG"), "too_many_pixels", 10_000),   # Pillow warns
    (encode(Image.new("L", (300, 300)), "PNG"), "too_many_pixels", 10_000),   # Pillow errors
    (encode(Image.new("L", (150, 100)), "WEBP"), "too_many_pixels", 10_000),
    # JPEGs may be 4x the limit (decoded at reduced scale), not more
    (encode(Image.new("L", (250, 200)), "JPEG"), "too_many_pixels", 10_000),
], ids=["empty", "too-large", "svg", "pdf", "gif", "bad-jpeg", "truncated-jpeg", "warn-png",
        "error-png", "webp", "jpeg"])

def test_process_image_rejections(data, code, max_pixels):
    with pytest.raises(ImageRejected) as info:
        process_image(data, max_bytes=MAX_BYTES, max_pixels=max_pixels)
    assert info.value.code == code


def test_large_jpeg_is_decoded_at_reduced_scale():
    """A JPEG over the pixel limit but within 4x is accepted (phones' 48 MP photos)."""
    data = encode(Image.new("RGB", (150, 100), (200, 120, 40)), "JPEG")
    large, thumb, w, h = process_image(data, max_bytes=MAX_BYTES, max_pixels=10_000)
    assert (w, h) == (150, 100)


def test_process_image_drops_comments_and_survives_bad_exif():
    for data in (encode(Image.new("RGB", (64, 48)), "JPEG", comment=SCRIPT),
                 small_jpeg() + SCRIPT):
        large, thumb, _, _ = process_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
        assert b"<script" not in large and b"<script" not in thumb
        assert "comment" not in Image.open(io.BytesIO(large)).info
    bad = jpeg_with_gps(size=(64, 48), orientation=6).replace(b"\x01\x10\x00\x02", b"\x01\x07\x00\x02", 1)
    try:
        large, thumb, _, _ = process_image(bad, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    except ImageRejected:
        pass  # refusing it is fine too; any other exception is a 500
    else:
        assert has_no_exif(large) and has_no_exif(thumb)


def test_process_image_restores_global_pixel_limit():
    old = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageRejected):
        process_image(png_bomb(), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    process_image(small_jpeg(), max_bytes=MAX_BYTES, max_pixels=1_000_000)
    assert Image.MAX_IMAGE_PIXELS == old


def test_process_image_bomb_is_fast():
    bomb = png_bomb()
    started = time.perf_counter()
    with pytest.raises(ImageRejected) as info:
        process_image(bomb, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert info.value.code == "too_many_pixels"
    assert time.perf_counter() - started < 1


def test_store_image_writes_random_renditions(tmp_path):
    folder = tmp_path / "nested" / "uploads"
    one = store_image(jpeg_with_gps(), folder, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    two = store_image(jpeg_with_gps(), folder, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert one.stem != two.stem and len(one.stem) >= 24
    assert is_safe_media_name(f"{one.stem}.jpg") and is_safe_media_name(f"{one.stem}-t.jpg")
    assert {p.name for p in folder.iterdir()} == renditions(one.stem) | renditions(two.stem)
    assert (one.width, one.height) == (640, 480)
    for path in folder.iterdir():
        assert has_no_exif(path.read_bytes())


def test_store_image_writes_nothing_when_rejected(tmp_path):
    for data in (SVG, b"", png_bomb(), small_jpeg()[:100]):
        with pytest.raises(ImageRejected):
            store_image(data, tmp_path / "up", max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert not (tmp_path / "up").exists() or not any((tmp_path / "up").iterdir())
