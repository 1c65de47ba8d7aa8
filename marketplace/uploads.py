"""Glue between request files and :mod:`marketplace.media` (form messages, config)."""
from __future__ import annotations

import secrets
from pathlib import Path

from flask import Response, abort, current_app, send_from_directory
from flask_babel import lazy_gettext as _l

from .media import ImageRejected, StoredImage, is_safe_media_name, store_image

IMAGE_ERRORS = {
    "too_large": _l("Ảnh quá lớn (tối đa 5 MB)."),
    "too_many_pixels": _l("Ảnh có kích thước điểm ảnh quá lớn."),
    "not_an_image": _l("Tệp không phải ảnh JPEG, PNG hoặc WebP."),
    "corrupt": _l("Không đọc được ảnh (tệp hỏng)."),
    "empty": _l("Tệp rỗng."),
    "not_pdf": _l("Tài liệu phải là PDF hoặc ảnh JPEG, PNG, WebP."),
}


def save_image(file_storage) -> StoredImage:
    """Read an uploaded file (bounded) and store it re-encoded; raises ImageRejected."""
    cfg = current_app.config
    data = file_storage.read(cfg["MAX_PHOTO_BYTES"] + 1)
    return store_image(data, cfg["UPLOAD_DIR"], max_bytes=cfg["MAX_PHOTO_BYTES"],
                       max_pixels=cfg["MAX_IMAGE_PIXELS"])


def private_dir() -> Path:
    """Certificate scans live apart from photos: ``/media`` never serves them."""
    return Path(current_app.config["UPLOAD_DIR"]) / "private"


def save_document(file_storage) -> str:
    """A certificate scan: a PDF kept as is (served only as a download) or an image."""
    cfg = current_app.config
    data = file_storage.read(cfg["MAX_PHOTO_BYTES"] + 1)
    if len(data) > cfg["MAX_PHOTO_BYTES"]:
        raise ImageRejected("too_large")
    if data.startswith(b"%PDF-"):
        name = f"{secrets.token_urlsafe(18)}.pdf"
        folder = private_dir()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        return name
    try:
        stored = store_image(data, private_dir(), max_bytes=cfg["MAX_PHOTO_BYTES"],
                             max_pixels=cfg["MAX_IMAGE_PIXELS"])
    except ImageRejected as exc:
        raise ImageRejected("not_pdf" if exc.code == "not_an_image" else exc.code)
    for suffix in ("-m", "-t"):  # a scan is only downloaded whole
        (private_dir() / f"{stored.stem}{suffix}.jpg").unlink(missing_ok=True)
    return f"{stored.stem}.jpg"


def image_error(exc: ImageRejected) -> str:
    return str(IMAGE_ERRORS.get(exc.code, IMAGE_ERRORS["corrupt"]))


def send_document(cert) -> Response:
    """A certification's scanned document (private: only its producer and officers reach
    this), as a download that browsers never sniff or cache."""
    if not cert.document or not is_safe_media_name(cert.document):
        abort(404)
    mimetype = "application/pdf" if cert.document.endswith(".pdf") else "image/jpeg"
    response = send_from_directory(private_dir(), cert.document, mimetype=mimetype,
                                   as_attachment=True, download_name=f"certificate-{cert.id}{cert.document[-4:]}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
