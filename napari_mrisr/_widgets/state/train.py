"""The Train dock's words and labels without Qt; its settings are a
:class:`~napari_mrisr.training.form.TrainForm`, turned into a config by
:func:`~napari_mrisr.training.form.config_from_form`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_mrisr.volume.geometry import axis_directions
from napari_mrisr.volume.io import find_volumes

__all__ = ["FOLDER", "LAYERS", "LOSS_LABELS", "SAMPLE", "factor_axes", "format_eta"]

SAMPLE, FOLDER, LAYERS = "MNI152 sample", "folder", "image layers"

#: The losses the Train dock plots, by the names training logs them under.
LOSS_LABELS = {
    "loss_content": "content",
    "loss_gradient": "gradient",
    "loss_feature": "feature",
    "loss_adversarial": "adversarial (G)",
    "loss_d": "discriminator",
    "loss_g": "generator total",
}

_UNKNOWN = ("i", "j", "k")


def factor_axes(
    source: str, folder, affines: Sequence[np.ndarray] = ()
) -> tuple[tuple[str, str, str], str]:
    """Labels for the factor boxes and where they come from (for the tooltip).

    ``affines`` are those of the image layers chosen as training data (source ``LAYERS``);
    a folder's scans are read for their headers only.
    """
    try:
        if source == SAMPLE:
            return ("L-R", "A-P", "S-I"), " (the MNI152 sample runs L-R, A-P, S-I)"
        if source == FOLDER:
            import nibabel as nib

            if str(folder or "") in ("", "."):  # no folder chosen yet
                return _UNKNOWN, ""
            paths = find_volumes([folder])[:20]  # headers only
            affines = [nib.load(path).affine for path in paths]
        directions = {axis_directions(affine) for affine in affines}
    except Exception:  # noqa: BLE001 (no folder yet, or an unreadable file: Start reports it)
        return _UNKNOWN, ""
    if len(directions) == 1:
        return directions.pop(), " (named by the direction each runs, from the scans' headers)"
    if directions:
        return _UNKNOWN, " (i, j, k: the scans' axes run different ways)"
    return _UNKNOWN, ""


def format_eta(seconds: float | None) -> str:
    """``"1h 05m"`` or ``"4m 09s"``; ``"?"`` while unknown."""
    if seconds is None:
        return "?"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m:02d}m" if hours else f"{m}m {s:02d}s"
