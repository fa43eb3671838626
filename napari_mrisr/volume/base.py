"""The one data type the whole package passes around: a :class:`Volume`, and its errors.

A volume is voxel data in the file's own axis order plus the voxel-to-world affine
(millimetres, nibabel's RAS+ convention); spacing is derived from the affine, never stored
twice. A file or array that cannot be a volume is refused with one :class:`VolumeError`
sentence.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Volume", "VolumeError", "VolumeWarning", "check_affine", "volume_warnings"]


class VolumeError(ValueError):
    """A file or array that cannot be used as a 3D MRI volume; the message says why."""


class VolumeWarning(UserWarning):
    """A volume was read, but not all of it (e.g. the first volume of a 4D series)."""


@contextmanager
def volume_warnings() -> Iterator[list[str]]:
    """Collect the :class:`VolumeWarning` messages raised inside, for the GUI to show.

    Other warnings pass through as usual.
    """
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", VolumeWarning)
        yield messages
    for w in caught:
        if issubclass(w.category, VolumeWarning):
            messages.append(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


@dataclass
class Volume:
    """A 3D MRI volume with its geometry.

    Parameters
    ----------
    data : numpy.ndarray
        3D float32 array in the file's voxel axis order.
    affine : numpy.ndarray
        4x4 float64 voxel-to-world matrix in millimetres (RAS+), as nibabel gives it.
    name : str
        A short name for display (layer names, file names).
    header : dict
        NIfTI header fields kept when the volume is saved again (:data:`~napari_mrisr.volume.io.KEPT_HEADER_FIELDS`):
        what the coordinates mean (qform/sform codes), the intent and the description.
        Volumes derived in the same space (LR, SR, interpolations) carry their source's; maps
        whose values mean something else (differences, errors) start empty.
    """

    data: np.ndarray
    affine: np.ndarray
    name: str = "volume"
    header: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        self.affine = np.array(self.affine, dtype=np.float64)
        if self.data.ndim != 3:
            raise VolumeError(f"A volume must be 3D, but {self.name!r} has shape {self.data.shape}.")
        check_affine(self.affine, self.name)

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size along each data axis in mm (the lengths of the affine's columns)."""
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.data.shape


#: The finest voxel spacing (mm) a volume may have: a micrometre, finer than any MRI's.
MIN_SPACING = 1e-3


def check_affine(affine: np.ndarray, name: str = "volume") -> None:
    """Refuse an affine that cannot place voxels in the world: not finite, a voxel size below
    :data:`MIN_SPACING`, or voxel axes that do not span three dimensions."""
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise VolumeError(f"{name!r} has an invalid voxel-to-world affine.")
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    if np.all(spacing == 0) or np.any(spacing <= 0):
        raise VolumeError(f"{name!r} has zero voxel spacing: its geometry is undefined.")
    if np.any(spacing < MIN_SPACING):
        raise VolumeError(
            f"{name!r} declares a voxel spacing of {spacing.min():.3g} mm, below the "
            f"{MIN_SPACING:g} mm of any MRI: its header is wrong."
        )
    if abs(np.linalg.det(affine[:3, :3])) < 1e-6 * np.prod(spacing):
        raise VolumeError(f"{name!r} has voxel axes that do not span three dimensions: its geometry is undefined.")
