"""The reference label pipeline (issue 3): zxing-cpp's QR matrix → a reportlab path with one
rectangle per dark module, on the given page grid, QR only (no text, no fonts).

It imports only zxing-cpp and reportlab, so it can also run as a process of its own
(``bench/startup.py``): ``python bench/label_reference.py < grid.json`` with the grid as
``{"urls": [...], "boxes": [[x, y, w, h] in mm per label of a page], "width": mm,
"height": mm, "out": path}``.  ``bench/labels.py`` calls :func:`draw` in-process.
"""
from __future__ import annotations

import json
import sys

import zxingcpp
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas


def draw(urls: list[str], boxes: list, width: float, height: float, out) -> int:
    """Write the sheets of ``urls`` to ``out`` (a path or a binary stream); the page count."""
    canvas = Canvas(out, pagesize=(width * mm, height * mm))
    pages = 0
    for start in range(0, len(urls), len(boxes)):
        pages += 1
        for box_mm, url in zip(boxes, urls[start:start + len(boxes)]):
            x, y, w, h = (v * mm for v in box_mm)
            image = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode,
                                            ec_level="M").to_image(add_quiet_zones=False)
            n = image.shape[0]
            pixels = bytes(memoryview(image))
            box = min(h, 0.45 * w)
            module = box / (n + 8)
            x0, y0 = x + 4 * module, y + (h - box) / 2 + 4 * module
            path = canvas.beginPath()
            for r in range(n):
                for c in range(n):
                    if pixels[r * n + c] == 0:
                        path.rect(x0 + c * module, y0 + (n - 1 - r) * module, module, module)
            canvas.drawPath(path, stroke=0, fill=1)
        canvas.showPage()
    canvas.save()
    return pages


if __name__ == "__main__":
    grid = json.load(sys.stdin)
    draw(grid["urls"], grid["boxes"], grid["width"], grid["height"], grid["out"])
