"""The Compare dock's choices without Qt: which layers are LR, SR, ground truth and region.

An SR layer records the names of its input and ground truth (``metadata["input"]``,
``metadata["ground_truth"]``): :meth:`CompareState.prefill` picks them, so one click compares
the whole family. :meth:`CompareState.problem` says in one sentence why a comparison cannot
start.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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

    def problem(self) -> str | None:
        """Why these layers cannot be compared (one sentence), or None."""
        if self.lr is None or self.sr is None:
            return "Pick an LR layer and an SR layer to compare."
        if self.lr is self.sr or (self.gt is not None and self.gt in (self.lr, self.sr)):
            return "Pick different layers for LR, SR and ground truth."
        return None
