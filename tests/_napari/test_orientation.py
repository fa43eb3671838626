"""MRI is shown in the radiological convention however it is opened, with R/L/A/P labels."""

from __future__ import annotations

import pytest

from napari_mrisr._napari.orientation import labels_for, set_convention
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.display import CONVENTIONS, convention
from napari_mrisr.volume.io import save_volume

from ..phantoms import head_phantom, oblique_affine

PLUGIN = "napari-mrisr"


@pytest.mark.parametrize(
    ("displayed", "orientation", "expected"),
    [
        ((1, 2), ("up", "left"), {"top": "A", "bottom": "P", "left": "R", "right": "L"}),  # axial, radiological
        ((1, 2), ("up", "right"), {"top": "A", "bottom": "P", "left": "L", "right": "R"}),  # neurological
        ((0, 2), ("up", "left"), {"top": "S", "bottom": "I", "left": "R", "right": "L"}),  # coronal
        ((0, 1), ("down", "left"), {"top": "I", "bottom": "S", "left": "A", "right": "P"}),  # sagittal, flipped
    ],
)
def test_side_labels_follow_the_plane_and_the_camera(displayed, orientation, expected):
    assert labels_for(displayed, orientation) == expected


def test_file_open_shows_radiological_with_labels_and_the_choice_is_remembered(make_napari_viewer, tmp_path):
    from napari_mrisr._napari.viewer import camera

    path = save_volume(Volume(head_phantom((10, 12, 8)), oblique_affine()), tmp_path / "scan.nii.gz")
    viewer = make_napari_viewer()
    viewer.open(path, plugin=PLUGIN)  # File > Open
    assert tuple(str(o) for o in camera(viewer).orientation) == CONVENTIONS["radiological"]
    overlays = viewer.canvas.overlays
    sides = {side: overlays[f"mrisr_orientation_{side}"].text for side in ("top", "bottom", "left", "right")}
    assert sides == {"top": "A", "bottom": "P", "left": "R", "right": "L"}

    set_convention("neurological", viewer)
    assert convention() == "neurological"  # remembered (a settings file in the user config folder)
    assert overlays["mrisr_orientation_left"].text == "L"
    viewer.dims.ndisplay = 3
    assert not overlays["mrisr_orientation_left"].visible  # no side labels in 3D
    with pytest.raises(ValueError, match="Unknown convention"):
        set_convention("upside-down")
