"""The Compare dock's choices without Qt: which layers are LR, SR, ground truth and region.

An SR layer records the names of its input and ground truth (``metadata["input"]``,
``metadata["ground_truth"]``): :meth:`CompareState.prefill` picks them, so one click compares
the whole family. :meth:`CompareState.preselect` picks three different layers among the
viewer's, for plain files too (by their grids). :meth:`CompareState.problem` says in one
sentence why a comparison cannot start.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import evented

__all__ = ["CompareState"]

_SAME = {name: operator.is_ for name in ("lr", "sr", "gt", "region")}  # layers, by identity


@evented(equality_operators=_SAME)
@dataclass
class CompareState:
    """The layers to compare (napari layers, or None)."""

    lr: Any = None
    sr: Any = None
    gt: Any = None
    region: Any = None  # a mask layer; None = the ground truth's foreground

    def prefill(self, layers_by_name: Mapping[str, Any]) -> None:
        """Pick the LR input and the ground truth that the SR layer's metadata names."""
        if self.sr is None:
            return
        lr = layers_by_name.get(self.sr.metadata.get("input"))
        gt = layers_by_name.get(self.sr.metadata.get("ground_truth"))
        if lr is not None and lr is not self.sr:
            self.lr = lr
        if gt is not None and gt not in (self.lr, self.sr):
            self.gt = gt

    def preselect(self, layers: Sequence[Any]) -> None:
        """Pick LR, SR and ground truth among ``layers`` (napari layers, top first): three
        different layers wherever there are that many, one layer twice only if it is alone.

        The newest SR layer our docks made (``metadata["model"]``) and the LR and ground truth
        its metadata names come first; then an LR the Load dock simulated
        (``metadata["degradation"]``); for plain files, the grids decide: the coarsest layer is
        LR, a finer one covering the LR's field of view exactly (the grid an SR of it lands on)
        is SR, and the finest other one over the same place is the ground truth (none if no
        layer is). Derived maps (an input but no model: disagreement, preview) take no role.
        """
        layers = [layer for layer in layers if not _derived(layer)] or list(layers)
        if len(layers) < 2:
            self.lr = self.sr = layers[0] if layers else None
            self.gt = None
            return
        by_name = {layer.name: layer for layer in layers}
        sr = next((layer for layer in layers if "model" in layer.metadata), None)
        others = [layer for layer in layers if layer is not sr]
        lr = by_name.get(sr.metadata.get("input")) if sr is not None else None
        if lr is None or lr is sr:
            marked = [layer for layer in others if "degradation" in layer.metadata]
            lr = (
                marked[0]
                if marked
                else max(others, key=lambda layer: (_voxel(layer), -others.index(layer)))
            )
        if sr is None:
            rest = [layer for layer in others if layer is not lr]
            sr = max(rest, key=lambda layer: _sr_score(layer, lr, rest))
        named = [by_name.get(layer.metadata.get("ground_truth")) for layer in (sr, lr)]
        gt = next((layer for layer in named if layer is not None and layer not in (lr, sr)), None)
        if gt is None:
            rest = [
                layer for layer in layers if layer not in (lr, sr) and _voxel(layer) < _voxel(lr)
            ]
            rest = [layer for layer in rest if _overlap(layer, lr) >= 0.5]
            gt = min(rest, key=lambda layer: _gt_score(layer, rest), default=None)
        self.lr, self.sr, self.gt = lr, sr, gt

    def problem(self) -> str | None:
        """Why these layers cannot be compared (one sentence), or None."""
        if self.lr is None or self.sr is None:
            return "Pick an LR layer and an SR layer to compare."
        if self.lr is self.sr or (self.gt is not None and self.gt in (self.lr, self.sr)):
            return "Pick different layers for LR, SR and ground truth."
        return None


# -- grids, read from a layer's own data-to-world transform (any napari layer, ours or not) --
def _grid(layer) -> tuple[np.ndarray, np.ndarray]:
    """World position of data index 0 and the world step of each data axis (columns)."""
    origin = np.asarray(layer.data_to_world(np.zeros(layer.ndim)), float)
    steps = [
        np.asarray(layer.data_to_world(np.eye(layer.ndim)[a]), float) - origin
        for a in range(layer.ndim)
    ]
    return origin, np.stack(steps, axis=1)


def _voxel(layer) -> float:
    """A voxel's volume in world units (mm^3 for our layers)."""
    return float(abs(np.linalg.det(_grid(layer)[1])))


def _box(layer) -> np.ndarray:
    """The world bounding box of the layer's voxels, edges included: (2, ndim)."""
    origin, steps = _grid(layer)
    shape = np.asarray(layer.data.shape, float)
    corners = np.array(np.meshgrid(*[[-0.5, n - 0.5] for n in shape], indexing="ij")).reshape(
        len(shape), -1
    )
    world = origin[:, None] + steps @ corners
    return np.stack([world.min(axis=1), world.max(axis=1)])


def _overlap(a, b) -> float:
    """How much of the smaller of the two boxes the other covers (0 to 1)."""
    box_a, box_b = _box(a), _box(b)
    inside = np.clip(np.minimum(box_a[1], box_b[1]) - np.maximum(box_a[0], box_b[0]), 0, None)
    smaller = min(np.prod(box_a[1] - box_a[0]), np.prod(box_b[1] - box_b[0]))
    return float(np.prod(inside) / smaller) if smaller > 0 else 0.0


def _on_sr_grid(layer, lr) -> bool:
    """Whether ``layer`` is finer than ``lr`` over exactly its field of view (an SR of it)."""
    if _voxel(layer) >= _voxel(lr) or layer.ndim != lr.ndim:
        return False
    tolerance = 0.25 * float(np.linalg.norm(_grid(layer)[1], axis=0).min())
    return bool(np.abs(_box(layer) - _box(lr)).max() <= tolerance)


def _says(layer, *words: str) -> bool:
    """Whether the layer's name has one of ``words`` as a word ("scan_sr", "SR x2", "gt")."""
    return bool(set(re.split(r"[^a-z0-9]+", layer.name.lower())) & set(words))


def _sr_score(layer, lr, rest: list) -> tuple:
    return (
        _on_sr_grid(layer, lr),
        _says(layer, "sr", "superres", "super", "srgan", "predicted", "pred"),
        not _says(layer, "gt", "hr", "truth", "reference", "ref", "original"),
        _voxel(layer) < _voxel(lr) and _overlap(layer, lr) >= 0.5,
        -rest.index(layer),  # the newest (top) first
    )


def _gt_score(layer, rest: list) -> tuple:
    return (
        _voxel(layer),
        not _says(layer, "gt", "hr", "truth", "reference", "ref"),
        rest.index(layer),
    )


def _derived(layer) -> bool:
    """A map made from a scan (an input recorded, no model): not a scan to compare."""
    return "input" in layer.metadata and "model" not in layer.metadata
