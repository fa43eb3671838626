"""napari sample data: the MNI152 T1 template and its simulated LR acquisitions."""

from __future__ import annotations

from napari_mrisr.volume import sample

from .layers import layer_data
from .reader import _show_mri_in_current_viewer


def mni152_hr() -> list[tuple]:
    _show_mri_in_current_viewer()
    return [layer_data(sample.mni152_hr())]


def mni152_lr_x2() -> list[tuple]:
    _show_mri_in_current_viewer()
    return [layer_data(sample.mni152_lr_x2())]


def mni152_lr_thick_x4() -> list[tuple]:
    _show_mri_in_current_viewer()
    return [layer_data(sample.mni152_lr_thick_x4())]
