"""How MRI layers are shown in napari: the camera turned to the reading convention, R/L/A/P labels.

The convention (radiological or neurological) is a user setting
(:mod:`napari_mrisr.volume.display`). Only the camera turns: world coordinates (napari's status
bar) stay true RAS millimetres. Every way a volume reaches the viewer (File > Open through our
reader, the sample data, our widgets) calls :func:`show_mri`, which also makes the slider step
one slice (oblique scans too, see :mod:`napari_mrisr._napari.slices`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari_mrisr.volume.display import CONVENTIONS, convention, remember_convention

from .layers import AXIS_LABELS
from .slices import fit_slider_to_slices, quiet_oblique_slicing
from .viewer import camera, grid

if TYPE_CHECKING:
    import napari

__all__ = ["labels_for", "set_convention", "show_mri"]

_OPPOSITE = {"S": "I", "A": "P", "R": "L"}
_POSITIONS = {"top": "top_center", "bottom": "bottom_center", "left": "middle_left", "right": "middle_right"}
_KEY = "mrisr_orientation_{}"
GRID_LETTER_PT = 8  # the side letter in each grid cell (the Compare grid keeps room for it)


def set_convention(name: str, viewer: napari.viewer.Viewer | None = None) -> None:
    """Remember a convention (and show it in ``viewer``)."""
    remember_convention(name)
    if viewer is not None:
        show_mri(viewer)


def labels_for(displayed: tuple[int, int], orientation: tuple[str, str]) -> dict[str, str]:
    """Screen side -> anatomical letter, for the two displayed world axes and their orientation.

    ``displayed`` are napari world axes (0 = S, 1 = A, 2 = R) shown vertically and horizontally;
    ``orientation`` is the camera's 2D orientation (("up"|"down"), ("left"|"right")): the
    direction in which that axis's coordinate grows on screen.
    """
    vertical, horizontal = (AXIS_LABELS[a] for a in displayed)
    grows_up, grows_left = orientation[0] == "up", orientation[1] == "left"
    return {
        "top": vertical if grows_up else _OPPOSITE[vertical],
        "bottom": _OPPOSITE[vertical] if grows_up else vertical,
        "left": horizontal if grows_left else _OPPOSITE[horizontal],
        "right": _OPPOSITE[horizontal] if grows_left else horizontal,
    }


def show_mri(viewer: napari.viewer.Viewer) -> None:
    """Turn the camera to the remembered convention and keep the side labels current.

    Also keeps the slider at one acquired slice per step, oblique scans included
    (:mod:`napari_mrisr._napari.slices`).
    """
    from napari.components.overlays import TextOverlay

    quiet_oblique_slicing()
    fit_slider_to_slices(viewer)

    camera(viewer).orientation = CONVENTIONS[convention()]
    overlays = viewer.canvas.overlays
    if _KEY.format("top") not in overlays:
        for side, position in _POSITIONS.items():
            overlays[_KEY.format(side)] = TextOverlay(position=position, font_size=12, color=(1, 0.85, 0.3, 1))
        update = lambda *_: _update_labels(viewer)  # noqa: E731
        for event in (viewer.dims.events.order, viewer.dims.events.ndisplay, viewer.dims.events.ndim):
            event.connect(update)
        camera(viewer).events.orientation.connect(update)
        grid(viewer).events.enabled.connect(update)
    _update_labels(viewer)


def _update_labels(viewer: napari.viewer.Viewer) -> None:
    """Side letters at the canvas edges; in a grid, one letter at each cell's left side.

    A grid cell's top holds its title, its bottom the scale bar, its right the colour bar: one
    side marker (as on a film, "R" in the radiological convention) says which way it is read.
    """
    dims = viewer.dims
    shown = dims.ndisplay == 2 and dims.ndim == 3
    gridded = shown and grid(viewer).enabled
    letters = {}
    if shown:
        orientation = tuple(str(o) for o in camera(viewer).orientation2d)
        letters = labels_for(tuple(dims.displayed), orientation)
    for side in _POSITIONS:
        overlay = viewer.canvas.overlays[_KEY.format(side)]
        overlay.text = letters.get(side, "")
        overlay.font_size = GRID_LETTER_PT if gridded else 12
        if not (shown and (side == "left" or not gridded)):
            overlay.visible = False
        elif not overlay.visible:
            # napari places an overlay that turns visible before it has made its copies for
            # each grid cell (an IndexError): show it ungridded, then grid it.
            overlay.gridded = False
            overlay.visible = True
        overlay.gridded = gridded
