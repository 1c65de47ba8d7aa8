"""Label stocks, each defined once as data (sizes in millimetres).  A new stock is one entry.

An A4 sheet goes through an office printer, which cannot print the outer 3–5 mm of the page:
its layouts carry a ``safe_margin`` of 4 mm, and nothing is drawn closer than that to the
page's edges (:class:`.fit.Geometry` moves the text and the QR inwards on every label, so the
labels of a sheet stay alike).  A thermal roll prints to the label's edge: no safe margin.
"""
from __future__ import annotations

from dataclasses import dataclass

_EPS = 1e-6
A4_SAFE_MARGIN = 4.0    # mm along an A4 page's edges that an office printer may not print


@dataclass(frozen=True)
class Layout:
    """A sheet (or a roll, where the page is one label) of equal labels on a grid.

    Margins are measured from the page's left and top edges to the first label; gaps are
    between neighbouring labels.  Cells are numbered row by row from the top-left.
    ``safe_margin``: the band along the page's edges where nothing may be printed.
    """

    name: str
    page_width: float
    page_height: float
    label_width: float
    label_height: float
    columns: int
    rows: int
    margin_left: float = 0.0
    margin_top: float = 0.0
    gap_x: float = 0.0
    gap_y: float = 0.0
    safe_margin: float = 0.0

    def __post_init__(self) -> None:
        if min(self.label_width, self.label_height, self.columns, self.rows) <= 0:
            raise ValueError(f"{self.name}: sizes and counts must be positive")
        if min(self.margin_left, self.margin_top, self.gap_x, self.gap_y, self.safe_margin) < 0:
            raise ValueError(f"{self.name}: margins and gaps cannot be negative")
        right = self.margin_left + self.columns * self.label_width + (self.columns - 1) * self.gap_x
        bottom = self.margin_top + self.rows * self.label_height + (self.rows - 1) * self.gap_y
        if right > self.page_width + _EPS or bottom > self.page_height + _EPS:
            raise ValueError(f"{self.name}: the label grid does not fit on the page")

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    @property
    def margin_right(self) -> float:
        return self.page_width - self.margin_left - self.columns * self.label_width - (self.columns - 1) * self.gap_x

    @property
    def margin_bottom(self) -> float:
        return self.page_height - self.margin_top - self.rows * self.label_height - (self.rows - 1) * self.gap_y

    def edge_inset(self) -> tuple[float, float]:
        """(x, y) in mm: how far the safe margin reaches into the outermost labels, i.e.
        how far inside its label everything printed must stay, left and right (x) and
        top and bottom (y), for the whole sheet to keep the safe margin."""
        return (max(0.0, self.safe_margin - min(self.margin_left, self.margin_right)),
                max(0.0, self.safe_margin - min(self.margin_top, self.margin_bottom)))

    def cell_box(self, index: int) -> tuple[float, float, float, float]:
        """(x, y, width, height) in mm of cell ``index`` on a page, from the page's
        bottom-left corner (PDF coordinates)."""
        if not 0 <= index < self.per_page:
            raise IndexError(index)
        row, col = divmod(index, self.columns)
        x = self.margin_left + col * (self.label_width + self.gap_x)
        top = self.page_height - self.margin_top - row * (self.label_height + self.gap_y)
        return x, top - self.label_height, self.label_width, self.label_height


def _roll(width: float, height: float) -> Layout:
    """Thermal roll: every page is one label."""
    return Layout(f"roll-{width:g}x{height:g}", width, height, width, height, 1, 1)


LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    # A4, 3×8 labels of 70×37 mm edge to edge; the grid is centred: (297 − 8·37)/2 = 0.5 mm.
    # The safe margin reaches 4 mm into the outer columns and 3.5 mm into the outer rows.
    Layout("a4-3x8", 210, 297, 70, 37, 3, 8, margin_left=0, margin_top=0.5, safe_margin=A4_SAFE_MARGIN),
    # A4, 5×13 labels of "38×21.2 mm" (Avery L7651/J8651: 38.1 × 21.2, pitch 40.6 × 21.2):
    # 4.75 + 5·38.1 + 4·2.5 + 4.75 = 210; 10.7 + 13·21.2 + 10.7 = 297 (the labels already
    # lie inside the safe margin).
    Layout("a4-5x13", 210, 297, 38.1, 21.2, 5, 13, margin_left=4.75, margin_top=10.7, gap_x=2.5,
           safe_margin=A4_SAFE_MARGIN),
    _roll(50, 30),
    _roll(40, 25),
)}


class UnknownLayout(ValueError):
    pass


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise UnknownLayout(
            f"unknown label layout {name!r}; choose one of: {', '.join(LAYOUTS)}") from None
