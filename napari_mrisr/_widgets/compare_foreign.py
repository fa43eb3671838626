"""Layers that are no cell of the Compare grid: hidden while the grid shows a comparison.

napari grids every visible layer: another dock's live preview or result, added while the grid
is on, would take the first cell (the top of the layer list) and shift every other cell, so the
titles and the dock's "cells, row by row" no longer matched. Such layers are hidden (with a
notification) and shown again when the grid is turned off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from napari.layers import Layer
from napari.utils.notifications import show_info

from napari_mrisr._napari.viewer import grid

__all__ = ["HIDDEN_FOREIGN", "ForeignLayers"]

HIDDEN_FOREIGN = "{} is hidden while the Compare grid is on (turn the grid off to see it)."


class ForeignLayers:
    """Hide the layers for which ``is_cell`` is false while ``active()``; restore them after."""

    def __init__(self, viewer, is_cell: Callable[[Layer], bool], active: Callable[[], bool]):
        self.viewer = viewer
        self.is_cell, self.active = is_cell, active
        self.hidden: list[Layer] = []  # what this hid, to show again
        self._adding = False  # layers added now are the next comparison's cells
        viewer.layers.events.inserted.connect(self._on_inserted)
        grid(viewer).events.enabled.connect(self._on_grid_enabled)

    @contextlib.contextmanager
    def adding(self):
        """Layers added inside are the next comparison's cells: left alone."""
        self._adding = True
        try:
            yield
        finally:
            self._adding = False

    def hide(self, layers: Iterable[Layer]) -> list[Layer]:
        """Hide the visible ``layers`` that are no cell; return them."""
        self.hidden = [layer for layer in self.hidden if not self.is_cell(layer)]
        hidden = [layer for layer in layers if not self.is_cell(layer) and layer.visible]
        for layer in hidden:
            layer.visible = False
            if layer not in self.hidden:
                self.hidden.append(layer)
        return hidden

    def restore(self) -> None:
        """Show again what this hid (the layers still in the viewer)."""
        for layer in self.hidden:
            if layer in self.viewer.layers:
                layer.visible = True
        self.hidden = []

    def _on_inserted(self, event) -> None:
        if self._adding or not self.active():
            return
        for layer in self.hide([event.value]):
            show_info(HIDDEN_FOREIGN.format(layer.name))

    def _on_grid_enabled(self, event) -> None:
        """The grid off: the hidden layers come back; on again: the comparison's cells only."""
        if not getattr(event, "value", grid(self.viewer).enabled):
            self.restore()
        elif self.active():
            self.hide(self.viewer.layers)
