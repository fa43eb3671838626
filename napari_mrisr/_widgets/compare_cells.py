"""Where the Compare grid puts things: cells, zoom, titles, colour bars and scale bars.

napari draws each visible layer in its own grid cell, all through one camera. Each cell is
split so that nothing overlaps: the layer's title in a band at the top, the scale bar in a band
at the bottom (left), a strip at the right for the colour bar, a margin at the left for the side
letter ("R" in the radiological convention). The image is zoomed to fit what is left, and the
grid shape is the one that shows it largest. Pure arithmetic on pixel sizes, so tests need no Qt.
The text sizes are estimates for napari's canvas font (measured at 96 dpi), with some slack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CellLayout", "plan_cells", "scale_length"]

SPACING = 10  # pixels between cells
PAD = 10  # pixels: napari's canvas-overlay padding from a cell's edges
TITLE_PT = (6.0, 10.0)  # smallest and largest title font (points)
OVERLAY_PT = 8.0  # colour-bar ticks, scale bar and side letters (points)
COLORBAR_PX = 10  # colour-bar width
_CHAR_PX_PER_PT = 1.2  # mean glyph width of napari 0.9's canvas font, px per point (1.15 measured)
_LINE_PX_PER_PT = 1.75  # text line height, pixels per point (96 dpi, with leading)
_NICE_MM = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0)


@dataclass(frozen=True)
class CellLayout:
    """A grid of ``shape`` cells of ``cell_hw`` pixels and how each cell is used."""

    shape: tuple[int, int]  # rows, columns
    cell_hw: tuple[float, float]  # pixels
    zoom: float  # screen pixels per mm
    offset_px: tuple[float, float]  # the image's centre from the cell's centre (down, right)
    title_pt: float
    title_chars: int  # the longest title that fits a cell at title_pt
    colorbar_hw: tuple[float, float]  # pixels (the bar, without its tick labels)
    scale_mm: float  # scale-bar length
    bands: dict  # pixels kept free: top, bottom, left, right


def _text_px(chars: int, points: float) -> float:
    return chars * points * _CHAR_PX_PER_PT


def scale_length(zoom: float, free_w: float) -> float:
    """The longest round scale-bar length (mm) under 40% of ``free_w`` pixels at ``zoom``."""
    fitting = [mm for mm in _NICE_MM if mm * zoom <= 0.4 * free_w] or [_NICE_MM[0]]
    return fitting[-1]


def _plan(
    rows: int, n: int, canvas_hw, image_hw_mm, longest_title: int, colorbars: bool
) -> CellLayout:
    cols = -(-n // rows)
    ch = (canvas_hw[0] - SPACING * (rows - 1)) / rows
    cw = (canvas_hw[1] - SPACING * (cols - 1)) / cols
    # Whole points and a hair: napari sizes a title's background box for the font size cut to
    # an integer (10 * r / r can be 9.99...), and text beyond its box is white on white images.
    fitting_pt = (cw - 2 * PAD) / max(1, longest_title) / _CHAR_PX_PER_PT
    title_pt = float(np.clip(np.floor(fitting_pt), *TITLE_PT)) + 0.01
    letter = _text_px(1, OVERLAY_PT) + 4
    bands = {
        "top": PAD + title_pt * _LINE_PX_PER_PT + 2,
        "bottom": PAD + OVERLAY_PT * _LINE_PX_PER_PT + 8,  # the scale bar: its label over a line
        "left": PAD + letter,
        # the colour bar with its tick labels ("-10", "0.5")
        "right": PAD + (COLORBAR_PX + 6 + _text_px(4, OVERLAY_PT) if colorbars else 0),
    }
    free_h = max(1.0, ch - bands["top"] - bands["bottom"])
    free_w = max(1.0, cw - bands["left"] - bands["right"])
    zoom = min(free_h / image_hw_mm[0], free_w / image_hw_mm[1])
    offset = ((bands["top"] - bands["bottom"]) / 2, (bands["left"] - bands["right"]) / 2)
    # The colour bar from the bottom up to below the title (a right-aligned long title).
    bar_h = float(np.clip(ch - bands["top"] - PAD - OVERLAY_PT * _LINE_PX_PER_PT, 20, 90))
    return CellLayout(
        shape=(rows, cols),
        cell_hw=(ch, cw),
        zoom=zoom,
        offset_px=offset,
        title_pt=title_pt,
        title_chars=int((cw - 2 * PAD) / _text_px(1, title_pt)),
        colorbar_hw=(bar_h, COLORBAR_PX),
        scale_mm=scale_length(zoom, free_w),
        bands=bands,
    )


def plan_cells(
    n: int,
    canvas_hw: tuple[float, float],
    image_hw_mm: tuple[float, float],
    longest_title: int = 12,
    colorbars: bool = True,
) -> CellLayout:
    """The grid layout that shows ``n`` images of ``image_hw_mm`` largest on ``canvas_hw``."""
    plans = [
        _plan(rows, n, canvas_hw, image_hw_mm, longest_title, colorbars) for rows in range(1, n + 1)
    ]
    return max(plans, key=lambda plan: plan.zoom)
