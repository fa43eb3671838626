"""The built-in sample: the MNI152 2009a T1 template bundled in nilearn's wheel (no network).

197 x 233 x 189 voxels of 1 mm, skull-stripped, in RAS+ orientation. Its simulated LR
versions are made with :func:`napari_mrisr.volume.degrade.simulate_lr`, the forward model used
everywhere else.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import load_volume

from .degrade import simulate_lr
from .geometry import superior_axis

__all__ = ["mni152_hr", "mni152_lr_thick_x4", "mni152_lr_x2", "mni152_path"]

_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def mni152_path() -> Path:
    """Path of nilearn's bundled MNI152 T1, found without importing nilearn (slow to import)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nilearn is not installed; it ships the MNI152 sample.")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / _FILE
    if not path.is_file():
        raise FileNotFoundError(f"nilearn does not ship {_FILE} at {path}.")
    return path


@cache
def _hr() -> Volume:
    volume = load_volume(mni152_path())
    volume.name = "MNI152 T1"
    return volume


def mni152_hr() -> Volume:
    """The MNI152 T1 template at 1 mm (the ground truth of the sample)."""
    hr = _hr()
    return Volume(hr.data.copy(), hr.affine.copy(), hr.name)


def mni152_lr_x2() -> Volume:
    """LR x2 isotropic, central k-space (what a 2 mm acquisition of the same FOV measures)."""
    volume = simulate_lr(mni152_hr(), (2, 2, 2), method="kspace")
    volume.name = "MNI152 T1 LR x2"
    return volume


def mni152_lr_thick_x4() -> Volume:
    """LR x4 thick slices along the inferior-superior axis (4 mm axial slices)."""
    hr = mni152_hr()
    factors = [1, 1, 1]
    factors[superior_axis(hr.affine)] = 4
    volume = simulate_lr(hr, factors, method="thick_slice")
    volume.name = "MNI152 T1 LR thick x4"
    return volume
