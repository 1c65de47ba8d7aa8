"""QR codes for stamps: the one place that calls a QR encoder.

The encoder is zxing-cpp (its C++ encoder behind a Python binding).  Measured on the project's
machine class, 1,000 stamp URLs: zxing-cpp 0.27 s (including turning the symbol into Python
rows), segno 3.5 s, qrcode 3.4 s — the encoder is most of the PDF budget, so the others
cannot meet the label-sheet benchmark (issue 3).  Error correction is M everywhere
(docs/decisions/0005-qr-encoder.md); stamp URLs are uppercase so they encode in alphanumeric mode and stay at
version ≤ 3 (29×29 modules) for a short domain.

Matrices come back WITHOUT a quiet zone; callers leave ``QUIET_ZONE`` light modules around.
zxing-cpp and Pillow are imported here, when a QR is first drawn, not at start-up.
"""
from __future__ import annotations

import io
import re

EC_LEVEL = "M"
QUIET_ZONE = 4          # modules of light margin on every side (ISO/IEC 18004 minimum)
_DARK_RUN = re.compile(rb"\x00+")   # zxing-cpp images: 0 = dark module, 255 = light


def _symbol(data: str) -> tuple[int, bytes]:
    """(size, one byte per module row-major, 0 = dark) of the QR symbol for ``data``."""
    if not data:
        raise ValueError("empty QR content")
    import zxingcpp

    barcode = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level=EC_LEVEL)
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    size = image.shape[0]
    return size, bytes(memoryview(image))


def qr_matrix(data: str) -> tuple[int, list[list[bool]]]:
    """(size, rows of modules, True = dark) for ``data`` at error correction M, no quiet zone."""
    size, buf = _symbol(data)
    return size, [[buf[r * size + c] == 0 for c in range(size)] for r in range(size)]


def qr_runs(data: str) -> tuple[int, list[tuple[int, int, int]]]:
    """(size, runs) where each run ``(row, col, length)`` is a horizontal stretch of dark
    modules, row 0 at the top.  Drawing one rectangle per run instead of one per module
    is what keeps vector QR output small and fast.
    """
    size, buf = _symbol(data)
    # One light byte after every row, so no run crosses a row end; then one regex pass.
    stride = size + 1
    padded = b"\xff".join(buf[i:i + size] for i in range(0, size * size, size))
    return size, [(*divmod(m.start(), stride), m.end() - m.start())
                  for m in _DARK_RUN.finditer(padded)]


def qr_png(data: str, scale: int = 8) -> bytes:
    """A PNG of the QR (black on white, quiet zone of 4 modules), ``scale`` pixels a module."""
    if scale < 1:
        raise ValueError("scale must be ≥ 1")
    from PIL import Image

    size, rows = qr_matrix(data)
    full = size + 2 * QUIET_ZONE
    pixels = bytearray(b"\xff" * (full * full))
    for r, row in enumerate(rows):
        offset = (r + QUIET_ZONE) * full + QUIET_ZONE
        for c, dark in enumerate(row):
            if dark:
                pixels[offset + c] = 0
    image = Image.frombytes("L", (full, full), bytes(pixels)).convert("1")
    if scale != 1:
        image = image.resize((full * scale, full * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def qr_svg(data: str, module_mm: float | None = None) -> str:
    """An SVG of the QR: a white square and one black path (a rectangle per dark run),
    in module units with a quiet zone of 4.  ``module_mm`` sets the printed size
    (``width``/``height`` in mm); without it the SVG scales to its container.
    """
    size, runs = qr_runs(data)
    full = size + 2 * QUIET_ZONE
    d = "".join(f"M{c + QUIET_ZONE} {r + QUIET_ZONE}h{n}v1h-{n}z" for r, c, n in runs)
    dims = ""
    if module_mm:
        side = f"{full * module_mm:g}mm"
        dims = f' width="{side}" height="{side}"'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {full} {full}"{dims} '
        f'shape-rendering="crispEdges">'
        f'<rect width="{full}" height="{full}" fill="#fff"/>'
        f'<path fill="#000" d="{d}"/></svg>\n'
    )
