"""SR results clipped to their input's support: no negative voxel from a magnitude scan.

A magnitude MR image has no negative voxel, but a network (or any interpolation sharper than
linear) rings around the sharp edge of a dark background and undershoots it: results of
bundled models reached -466 on an int16 head and -103 on a 0-255 T1. Those negatives are
artefacts, never signal, so every SR result of a scan without a negative voxel has its
negatives set to 0 (:func:`clip_to_input`): model files through ``predict`` (one scan,
cohorts, the Super-resolve dock) and self-supervised SR (``selfsr``) call it.

Only the bottom: the top is not clipped. The LR scan's maximum is the maximum of a blurred
image, below the true one wherever a bright structure is smaller than its voxels, so SR may
rightly restore peaks above it (clipping there would flatten exactly the detail SR recovers).
An input with negative voxels (a phase map, data already normalised to zero mean) has no
known floor and is left unclipped. The cubic baseline stays the textbook interpolation.
"""

from __future__ import annotations

import numpy as np

from napari_mrisr.volume.base import Volume

__all__ = ["clip_floor", "clip_to_input"]


def clip_floor(source: Volume) -> float | None:
    """The floor an SR result of ``source`` is clipped to: 0.0 when ``source`` has no negative
    voxel (a magnitude scan), None (no clipping) otherwise."""
    return 0.0 if source.data.size and float(np.min(source.data)) >= 0 else None


def clip_to_input(result: Volume, source: Volume) -> Volume:
    """``result`` with every voxel below :func:`clip_floor` of ``source`` raised to it, in place
    (an SR result is a fresh array; no copy of a large volume); unchanged when ``source`` has a
    negative voxel. Returns ``result``."""
    floor = clip_floor(source)
    if floor is not None:
        np.maximum(result.data, floor, out=result.data)
    return result
