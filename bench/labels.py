"""Benchmark: a 1,000-label ``a4-3x8`` PDF through ``render_label_sheet``, beside a reference.

The reference pipeline (issue 3) is the plainest fast one: zxing-cpp's QR matrix → a
reportlab path with one rectangle per dark module, on the same page grid, QR only (no text,
no fonts).  Target: ours ≤ 1.5× the reference.  Prints numbers; asserts nothing.

    .venv/bin/python bench/labels.py [N]
"""
from __future__ import annotations

import datetime as dt
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from label_reference import draw  # noqa: E402  (bench/label_reference.py)

from marketplace.printing.layouts import LAYOUTS  # noqa: E402
from marketplace.printing.pdf import LabelData, register_fonts, render_label_sheet  # noqa: E402
from marketplace.stamps.serials import new_serial  # noqa: E402

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
REPEAT = 3
LAYOUT = LAYOUTS["a4-3x8"]
BASE = "HTTP://127.0.0.1:5000/S/"


def reference(urls: list[str], out) -> int:
    """zxing-cpp matrix → reportlab path, one rect per dark module; same grid, no text."""
    boxes = [LAYOUT.cell_box(i) for i in range(LAYOUT.per_page)]
    return draw(urls, boxes, LAYOUT.page_width, LAYOUT.page_height, out)


def labels(serials: list[str]):
    for serial in serials:
        yield LabelData(
            url=BASE + serial, serial=serial, product_name="Mật ong hoa nhãn Triệu Sơn",
            producer_name="HTX Nông nghiệp Đồng Tiến", place="Xã Đồng Tiến, Thanh Hóa",
            lot="L2025-0001", production_date=dt.date(2025, 3, 1),
            expiry_date=dt.date(2026, 3, 1), net_quantity="500 g", ocop_stars=4)


def best_of(fn) -> tuple[float, int, int]:
    best, size, pages = float("inf"), 0, 0
    for _ in range(REPEAT):
        out = io.BytesIO()
        start = time.perf_counter()
        pages = fn(out)
        best = min(best, time.perf_counter() - start)
        size = len(out.getvalue())
    return best, size, pages


def main() -> None:
    serials = [new_serial() for _ in range(COUNT)]
    urls = [BASE + s for s in serials]
    register_fonts()        # once per process, like a server; ~0.1 s, not per sheet
    ref_t, ref_size, ref_pages = best_of(lambda out: reference(urls, out))
    our_t, our_size, our_pages = best_of(
        lambda out: render_label_sheet(labels(serials), LAYOUT, out))
    from reportlab.lib import rl_accel
    accel = "on" if "fp_str" in rl_accel._c_funcs else "off (pip install rl-accel)"
    print(f"labels PDF: {COUNT} labels, layout {LAYOUT.name}, best of {REPEAT}, "
          f"reportlab C accelerator {accel}")
    print(f"  reference (zxing-cpp matrix → reportlab rect per module, QR only): "
          f"{ref_t:6.3f} s  {ref_size / 1024:8.1f} KiB  {ref_pages} pages")
    print(f"  render_label_sheet (vector QR runs + Vietnamese text):             "
          f"{our_t:6.3f} s  {our_size / 1024:8.1f} KiB  {our_pages} pages")
    print(f"  ratio: {our_t / ref_t:.2f}× the reference (target ≤ 1.5×); "
          f"{COUNT / our_t:,.0f} labels/s")


if __name__ == "__main__":
    main()
