"""The data model: a :class:`Volume` (voxels + affine in mm) and everything done to one.

- :mod:`.io`: read and write NIfTI/MGZ volumes; every bad file refused in one sentence.
- :mod:`.geometry`: the grid rule shared by degradation, interpolation and SR.
- :mod:`.degrade` (numpy) and :mod:`.degrade_torch` (batches on any device): the one forward
  model of a low-resolution acquisition; :mod:`.simulate`: a file read and degraded.
- :mod:`.interpolate`: the baselines on the SR grid; :mod:`.metrics`: image quality;
  :mod:`.comparison`: SR against LR, baseline and ground truth.
- :mod:`.sample`: the built-in MNI152 sample; :mod:`.display`: the reading convention.
- :mod:`.clipping`: SR results kept to their input's non-negative support.
"""

from napari_mrisr.volume.base import Volume, VolumeError, VolumeWarning
from napari_mrisr.volume.degrade import DegradationMethod, simulate_lr
from napari_mrisr.volume.io import load_volume, save_volume
from napari_mrisr.volume.slice_profile import SliceProfile

from .geometry import upsampled_affine
from .interpolate import upsample
from .simulate import load_and_simulate

__all__ = [
    "DegradationMethod",
    "SliceProfile",
    "Volume",
    "VolumeError",
    "VolumeWarning",
    "load_and_simulate",
    "load_volume",
    "save_volume",
    "simulate_lr",
    "upsample",
    "upsampled_affine",
]
