"""Uploaded images: validate, re-encode, thumbnail, store under random names.

Only JPEG, PNG and WebP are opened (an explicit format list, so an SVG, HTML or any other
format is refused by Pillow before it is parsed), with a pixel limit against decompression
bombs.  Every accepted image is decoded and re-encoded as a fresh JPEG, which drops EXIF
(GPS included), ICC tricks and anything appended to the file (polyglots).

Pillow is imported here, when an image is handled, not at start-up: most processes (the
stamp page's workers, the feed worker, CLI commands) never touch an image.
"""
from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
LARGE_EDGE = 1600   # <stem>.jpg: wide screens, zoom
MEDIUM_EDGE = 960   # <stem>-m.jpg: a phone's screen at 2-3x pixel density
THUMB_EDGE = 480    # <stem>-t.jpg: lists, cards
RENDITIONS = ("", "-m", "-t")
JPEG_DRAFT_FACTOR = 4


class ImageRejected(ValueError):
    """The upload is not an acceptable image; ``code`` says why (for the form message)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class StoredImage:
    stem: str
    width: int
    height: int


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open and decode ``data`` as JPEG/PNG/WebP of at most ``max_pixels``.

    The pixel count is checked from the header, before any pixel is decoded; Pillow's own
    (process-wide) bomb limit stays as a second line of defence and is never changed here,
    so concurrent requests cannot race on it.
    """
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        # JPEGs are decoded at a reduced scale (draft) when far larger than what we keep, so a
        # 48 MP phone photo costs about a quarter of its size; PNG/WebP decode in full.
        limit = max_pixels * (JPEG_DRAFT_FACTOR if img.format == "JPEG" else 1)
        if img.width * img.height > limit:
            raise ImageRejected("too_many_pixels")
        if img.format == "JPEG":
            img.draft("RGB", (LARGE_EDGE * 2, LARGE_EDGE * 2))
        img.load()
        return img
    except ImageRejected:
        raise
    except Image.DecompressionBombError:
        raise ImageRejected("too_many_pixels")
    except Image.UnidentifiedImageError:
        raise ImageRejected("not_an_image")
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageRejected("corrupt")


def _to_rgb(img: Image.Image) -> Image.Image:
    from PIL import Image, ImageOps

    try:
        img = ImageOps.exif_transpose(img)  # honour the camera's orientation, then drop EXIF
    except Exception:  # noqa: BLE001 - malformed EXIF: keep the pixels as stored
        pass
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


def _encode(img: Image.Image, edge: int, quality: int) -> bytes:
    from PIL import Image

    copy = img.copy()
    copy.info = {}  # no comment, EXIF, ICC or XMP carried into the output (polyglot payloads)
    copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def process_image(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[bytes, bytes, int, int]:
    """Return (large JPEG, thumbnail JPEG, width, height) or raise :class:`ImageRejected`."""
    from PIL import Image

    if len(data) > max_bytes:
        raise ImageRejected("too_large")
    if not data:
        raise ImageRejected("empty")
    img = _to_rgb(_open(data, max_pixels))
    large = _encode(img, LARGE_EDGE, 85)
    thumb = _encode(img, THUMB_EDGE, 78)
    w, h = Image.open(io.BytesIO(large)).size
    return large, thumb, w, h


def store_image(data: bytes, upload_dir: str | os.PathLike, *, max_bytes: int, max_pixels: int) -> StoredImage:
    """Validate and write ``<stem>.jpg``, ``<stem>-m.jpg`` and ``<stem>-t.jpg`` into ``upload_dir``."""
    from PIL import Image

    large, thumb, w, h = process_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    medium = _encode(Image.open(io.BytesIO(large)), MEDIUM_EDGE, 78)
    folder = Path(upload_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = secrets.token_urlsafe(18)
    for suffix, content in zip(RENDITIONS, (large, medium, thumb)):
        (folder / f"{stem}{suffix}.jpg").write_bytes(content)
    return StoredImage(stem, w, h)


def remove_image(stem: str, upload_dir: str | os.PathLike) -> None:
    for name in (f"{stem}{suffix}.jpg" for suffix in RENDITIONS):
        try:
            (Path(upload_dir) / name).unlink()
        except FileNotFoundError:
            pass


def is_safe_media_name(name: str) -> bool:
    """Media names are ``<token_urlsafe>[-m|-t].jpg`` or ``.pdf``: no path parts."""
    stem, dot, ext = name.rpartition(".")
    return bool(dot) and ext in ("jpg", "pdf") and stem.replace("-", "").replace("_", "").isalnum()
