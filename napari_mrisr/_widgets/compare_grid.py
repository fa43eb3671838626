"""How a comparison is laid out in the viewer: a grid of cells, fitted to the canvas, 2D or 3D.

The Compare widget computes a comparison; :class:`ComparisonGrid` shows its layers in a grid
(reading order), sizes each cell's image, title, colour bar and scale bar so none covers
another (:mod:`.compare_cells`), re-fits them when the canvas is resized, and in 3D hides the
signed maps: a 3D rendering (maximum intensity along each line of sight) would show their
positive side only, a misleading picture of a signed difference. The error maps stay, on the
scale of their projections (a slice's scale would saturate them). The images show their
surface (attenuated MIP): a plain MIP of a head is a white silhouette.

Two view options: the maps can be left out (LR, SR, cubic and ground truth then get the canvas),
and the grid can zoom on the slice's most detailed part (:mod:`.compare_detail`) instead of
fitting the whole slice. Layers that are not cells (another dock's preview or result, the
user's own) are hidden while the grid is on and shown again when it is turned off: a layer
napari gridded among the cells would take the first cell and shift every other one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Layer
from napari.utils.notifications import show_info

from napari_mrisr._napari.orientation import show_mri
from napari_mrisr._napari.viewer import camera, grid

from .compare_cells import OVERLAY_PT, SPACING, plan_cells, scale_length
from .compare_detail import DetailZoom
from .compare_foreign import ForeignLayers

if TYPE_CHECKING:
    import napari

__all__ = ["ComparisonGrid", "canvas_size", "diverging_colormap"]

HIDDEN_IN_3D = (
    "3D: the signed maps ({}) are hidden, as a 3D rendering would show one sign only "
    "(back to 2D to see them)."
)
ERRORS_IN_3D = (
    "In 3D the error maps show the largest error along each line of sight (scale 0 to {:.3g})."
)


def diverging_colormap():
    """Blue - black - red: zero is black like the background of every other cell.

    Rather than "bwr", whose white zero turns a signed map into a glaring white square
    beside dark MR images, and hides small differences against it.
    """
    from napari.utils.colormaps import Colormap

    return Colormap(
        [[0.3, 0.65, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0], [1.0, 0.4, 0.25, 1.0]],
        name="blue-black-red",
        display_name="blue-black-red (diverging)",
    )


def canvas_size(viewer: napari.viewer.Viewer) -> tuple[int, int]:
    """The canvas (height, width) in pixels (``viewer.canvas.size`` since napari 0.9)."""
    canvas = getattr(viewer, "canvas", None)
    size = getattr(canvas, "size", None)
    return tuple(size) if size else (800, 600)


class ComparisonGrid:
    """The comparison's layers in a grid; ``on_legend`` hears which cell is which (a text)."""

    def __init__(self, viewer: napari.viewer.Viewer, on_legend: Callable[[str], None]) -> None:
        self.viewer = viewer
        self.on_legend = on_legend
        self.shown: list[Layer] = []  # the grid's layers, in reading order
        self.roles: dict[Layer, str] = {}  # short names for the legend
        self.maps: list[Layer] = []  # the error and signed maps (left out without show_maps)
        self.signed: list[Layer] = []  # hidden in 3D
        self.hidden_in_3d: list[Layer] = []
        self.limits_3d: dict[Layer, tuple[float, float]] = {}  # the error maps' limits in 3D
        self.limits_2d: dict[Layer, tuple[float, float]] = {}  # theirs in 2D, while in 3D
        self.rendering_2d: dict[Layer, str] = {}  # the images' rendering before 3D, while in 3D
        self.no_gt = False
        self.show_maps = True  # the maps are cells
        self.detail = DetailZoom(viewer)  # zoom on the slice's most detailed part (2D)
        # layers that are no cell, hidden while the grid is on
        self.foreign = ForeignLayers(viewer, lambda layer: layer in self.roles, self.active)
        viewer.dims.events.ndisplay.connect(self.on_ndisplay)
        resized = getattr(getattr(getattr(viewer, "canvas", None), "events", None), "size", None)
        if resized is not None:  # napari 0.9's canvas model
            resized.connect(self.on_canvas_resized)

    def show(
        self,
        roles: dict[Layer, str],
        signed: list[Layer],
        no_gt: bool,
        limits_3d: dict[Layer, tuple[float, float]] | None = None,
        maps: list[Layer] | None = None,
        detail_source: Layer | None = None,
    ) -> None:
        """Grid of ``roles``' layers in reading order (top of the layer list top left); hide
        the rest; in 3D, hide the ``signed`` maps and give ``limits_3d``'s maps theirs at once.
        ``maps`` are the cells left out without :attr:`show_maps`; ``detail_source`` is the
        image whose edges say where to zoom on detail (the ground truth, else the SR)."""
        viewer = self.viewer
        self.shown, self.roles, self.signed, self.no_gt = list(roles), roles, signed, no_gt
        self.maps = list(maps if maps is not None else {*signed, *(limits_3d or {})})
        self.detail.reset(detail_source)
        self.hidden_in_3d = []
        self.limits_3d, self.limits_2d = dict(limits_3d or {}), {}
        self.rendering_2d = {}
        for layer in reversed(self.shown):
            viewer.layers.move(viewer.layers.index(layer), len(viewer.layers))
        self.foreign.hide(viewer.layers)
        for layer in viewer.layers:
            layer.name_overlay.visible = layer in roles
        for layer in self.shown:
            layer.visible = self.show_maps or layer not in self.maps
            if layer.colorbar.visible:
                layer.colorbar.font_size = OVERLAY_PT
        grid(viewer).stride = -1  # the top of the layer list is the top-left cell, as listed
        grid(viewer).spacing = SPACING  # pixels: the cells read as separate images
        grid(viewer).enabled = True
        bar = viewer.canvas.overlays.scale_bar
        bar.visible, bar.gridded, bar.position = True, True, "bottom_left"
        bar.font_size = OVERLAY_PT
        show_mri(viewer)
        self.on_ndisplay()

    def active(self) -> bool:
        """Whether the grid shows this comparison (its layers are there, the grid is on)."""
        return grid(self.viewer).enabled and any(x in self.viewer.layers for x in self.shown)

    def set_show_maps(self, show: bool) -> None:
        """Show the maps as cells (8 cells with a ground truth) or leave them out (4 cells)."""
        self.show_maps = bool(show)
        if not self.shown:
            return
        in_3d = self.viewer.dims.ndisplay == 3
        self.hidden_in_3d = []
        for layer in self.maps:
            if layer not in self.viewer.layers:
                continue
            hide_in_3d = in_3d and layer in self.signed
            layer.visible = self.show_maps and not hide_in_3d
            if self.show_maps and hide_in_3d:
                self.hidden_in_3d.append(layer)
        self.refresh()

    def set_detail(self, detail: bool) -> None:
        """Zoom on the slice's most detailed part (in 2D), or fit the whole slice."""
        self.detail.on = bool(detail)
        self.refresh()

    def refresh(self) -> None:
        """Re-fit the grid and say which cell is which."""
        if not self.active():
            return
        self.fit()
        self.detail.window(self.images())
        try:
            self.on_legend(self.legend())
        except RuntimeError:  # the widget was deleted; the viewer lives on
            pass

    def cells(self) -> list[Layer]:
        """The grid's cells in reading order: the visible layers, top of the layer list first."""
        return [layer for layer in reversed(self.viewer.layers) if layer.visible]

    def images(self) -> list[Layer]:
        """The grid's images (LR, SR, baseline, truth): not the error or signed maps."""
        maps = set(self.maps) | set(self.signed) | set(self.limits_3d)
        return [layer for layer in self.shown if layer in self.viewer.layers and layer not in maps]

    # -- fitting ----------------------------------------------------------------------------
    def fit(self) -> None:
        """Grid, zoom and overlays: titles, colour bars and scale bars beside the images, not
        on them. Runs after a comparison, on a change of 2D/3D and when the canvas is resized."""
        viewer = self.viewer
        cells = self.cells()
        self.detail.view = None
        if not cells or not grid(viewer).enabled:
            return
        displayed = list(viewer.dims.displayed)[-2:]
        # the images' outer voxel edges, mm
        lows = np.min([x.extent.world[0] - x.extent.step / 2 for x in cells], axis=0)[displayed]
        highs = np.max([x.extent.world[1] + x.extent.step / 2 for x in cells], axis=0)[displayed]
        image_hw = highs - lows
        if viewer.dims.ndisplay == 3:  # the volume turns: a square cell its longest side fits
            world = [x.extent.world[1] - x.extent.world[0] + x.extent.step for x in cells]
            image_hw = np.full(2, np.max(world, axis=0)[list(viewer.dims.displayed)].max())
        plan = plan_cells(
            len(cells),
            canvas_size(viewer),
            tuple(image_hw),
            longest_title=max(len(layer.name) for layer in cells),
            colorbars=any(layer.colorbar.visible for layer in cells),
        )
        grid(viewer).shape = plan.shape
        for layer in cells:
            layer.name_overlay.font_size = plan.title_pt
            # A name too long for its cell shows its end, which says what it is ("... SR model").
            fits = len(layer.name) <= plan.title_chars
            layer.name_overlay.position = "top_left" if fits else "top_right"
            layer.colorbar.size = plan.colorbar_hw[::-1]  # (width, height)
        if viewer.dims.ndisplay == 3:  # the default angles: looking along the first displayed axis
            viewer.reset_view()
        centre, zoom = (lows + highs) / 2, plan.zoom
        detail = self.detail.locate(plan, displayed)
        if detail is not None:
            centre, zoom = detail.centre, detail.zoom
        free_w = plan.cell_hw[1] - plan.bands["left"] - plan.bands["right"]
        viewer.canvas.overlays.scale_bar.length = scale_length(zoom, free_w)
        cam = camera(viewer)
        vertical, horizontal = (str(o) for o in cam.orientation2d)
        down, right = plan.offset_px  # where the image's centre goes, from the cell's centre
        centre = np.array(centre, dtype=float)
        centre[0] += down / zoom * (1 if vertical == "up" else -1)
        centre[1] += right / zoom * (1 if horizontal == "left" else -1)
        full = list(cam.center)
        full[-2:] = centre
        cam.center = tuple(full)
        cam.zoom = zoom

    def on_canvas_resized(self, *_event) -> None:
        self.refresh()

    def on_ndisplay(self, *_event) -> None:
        """In 3D, hide the signed maps (a 3D rendering shows one sign only); in 2D, show them."""
        viewer = self.viewer
        if viewer.dims.ndisplay == 3:
            hidden = [x for x in self.signed if x in viewer.layers and x.visible]
            for layer in hidden:
                layer.visible = False
            self.hidden_in_3d += hidden
            if hidden:
                show_info(HIDDEN_IN_3D.format(", ".join(layer.name for layer in hidden)))
            for layer, limits in self.limits_3d.items():
                if layer in viewer.layers and layer not in self.limits_2d:
                    self.limits_2d[layer] = tuple(layer.contrast_limits)
                    layer.contrast_limits = limits
            for layer in self.images():  # napari's default only: a user's own choice stays
                if layer.rendering == "mip" and layer not in self.rendering_2d:
                    self.rendering_2d[layer] = layer.rendering
                    layer.rendering = "attenuated_mip"
        else:
            for layer in self.hidden_in_3d:
                if layer in viewer.layers:
                    layer.visible = True
            self.hidden_in_3d = []
            for layer, limits in self.limits_2d.items():
                if layer in viewer.layers:
                    layer.contrast_limits = limits
            self.limits_2d = {}
            for layer, rendering in self.rendering_2d.items():
                if (
                    layer in viewer.layers and layer.rendering == "attenuated_mip"
                ):  # not changed in 3D
                    layer.rendering = rendering
            self.rendering_2d = {}
        self.refresh()

    def legend(self) -> str:
        """Which cell is which, row by row (long layer names are cut in the cells' titles)."""
        names = [self.roles.get(layer, layer.name) for layer in self.cells()]
        cols = max(1, grid(self.viewer).shape[1])
        lines = [" · ".join(names[r : r + cols]) for r in range(0, len(names), cols)]
        text = "Cells, row by row:\n" + "\n".join(lines)
        if self.no_gt:
            text += "\n(no ground truth: no error maps)"
        if self.detail.view is not None:
            height, width = self.detail.view.box_mm
            text += f"\nZoomed on the slice's most detailed {width:.0f} x {height:.0f} mm."
        if self.hidden_in_3d:
            text += "\n" + HIDDEN_IN_3D.format(", ".join(x.name for x in self.hidden_in_3d))
        if self.viewer.dims.ndisplay == 3 and self.limits_2d:
            text += "\n" + ERRORS_IN_3D.format(max(high for _, high in self.limits_3d.values()))
        return text
