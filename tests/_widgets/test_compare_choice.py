"""The Compare dock's first choice of LR, SR and ground truth: three different layers.

Scans opened as plain files (File > Open) carry no record of what they are, so their grids
decide; layers our docks made say what they are in their metadata.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_mrisr.models import build_model
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.volume.geometry import crop_to_multiple
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.volume.io import save_volume
from napari_mrisr.zoo.model_file import save_model

from ..phantoms import head_phantom, oblique_affine
from .helpers import dock, wait_idle

PLUGIN = "napari-mrisr"


def scans(cropped: bool = False) -> dict[str, Volume]:
    """A ground truth (25 x 28 x 21 voxels, or cropped to the x2 grid), its LR x2 and a cubic
    SR of that LR (on the SR grid: the LR's field of view exactly)."""
    hr = Volume(head_phantom((25, 28, 21)), oblique_affine(), "hr")
    lr = simulate_lr(hr, (2, 2, 2), method="gaussian")
    gt = Volume(crop_to_multiple(hr.data, (2, 2, 2)), hr.affine, "hr") if cropped else hr
    return {"gt": gt, "lr": lr, "sr": upsample(lr, 2)}


def file_open(viewer, tmp_path, names: dict[str, str], cropped: bool = False) -> dict:
    """File > Open of the scans saved under ``names`` (role -> file name), in name order (as a
    file dialog lists them); the layers by role."""
    volumes = scans(cropped)
    paths = {role: save_volume(volumes[role], tmp_path / name) for role, name in names.items()}
    order = sorted(paths, key=lambda role: paths[role].name)
    layers = viewer.open([paths[role] for role in order], plugin=PLUGIN)
    return dict(zip(order, layers, strict=True))


def chosen(compare) -> tuple:
    return compare.lr.value, compare.sr.value, compare.gt.value


CASES = {
    "named": ({"lr": "lr.nii.gz", "sr": "sr.nii.gz", "gt": "gt.nii.gz"}, False),
    "names-say-nothing": ({"lr": "b.nii.gz", "sr": "c.nii.gz", "gt": "a.nii.gz"}, False),
    "same-grid-named": (
        {"lr": "scan_lr.nii.gz", "sr": "scan_sr.nii.gz", "gt": "scan_hr.nii.gz"},
        True,
    ),
    "newest-is-sr": ({"lr": "t1.nii.gz", "sr": "t1_x2.nii.gz", "gt": "t1_1mm.nii.gz"}, True),
}


@pytest.mark.parametrize("dock_first", [False, True], ids=["dock-after", "dock-before"])
@pytest.mark.parametrize("case", CASES)
def test_three_files_get_three_roles(viewer, tmp_path, case, dock_first):
    from napari_mrisr._widgets.compare import CompareWidget

    names, cropped = CASES[case]
    compare = dock(viewer, CompareWidget) if dock_first else None
    if case == "newest-is-sr":  # same grid, no word in the names: the last opened is the SR
        names = dict(names)
        layers = file_open(viewer, tmp_path, {"lr": names["lr"], "gt": names["gt"]}, cropped)
        layers |= file_open(viewer, tmp_path, {"sr": names["sr"]}, cropped)
    else:
        layers = file_open(viewer, tmp_path, names, cropped)
    compare = compare or dock(viewer, CompareWidget)
    assert chosen(compare) == (layers["lr"], layers["sr"], layers["gt"])
    assert compare.state.problem() is None


@pytest.mark.parametrize("dock_first", [False, True], ids=["dock-after", "dock-before"])
def test_two_files_are_lr_and_sr(viewer, tmp_path, dock_first):
    from napari_mrisr._widgets.compare import CompareWidget

    compare = dock(viewer, CompareWidget) if dock_first else None
    layers = file_open(viewer, tmp_path, {"lr": "lr.nii.gz", "sr": "scan.nii.gz"})
    compare = compare or dock(viewer, CompareWidget)
    assert chosen(compare) == (layers["lr"], layers["sr"], None)


def test_one_layer_is_all_there_is(viewer, tmp_path):
    from napari_mrisr._widgets.compare import CompareWidget

    layers = file_open(viewer, tmp_path, {"lr": "lr.nii.gz"})
    compare = dock(viewer, CompareWidget)
    assert chosen(compare) == (layers["lr"], layers["lr"], None)


def test_a_layer_picked_by_hand_stays_picked(viewer, tmp_path):
    from napari_mrisr._widgets.compare import CompareWidget

    layers = file_open(viewer, tmp_path, {"lr": "lr.nii.gz", "sr": "sr.nii.gz", "gt": "gt.nii.gz"})
    compare = dock(viewer, CompareWidget)
    compare.gt.value = None  # the user compares without a ground truth
    viewer.add_image(np.zeros((4, 4, 4), np.float32), name="scratch")
    assert chosen(compare) == (layers["lr"], layers["sr"], None)


@pytest.mark.parametrize("simulate", [False, True], ids=["scan", "simulated"])
def test_load_dock_then_super_resolve(viewer, qtbot, tmp_path, monkeypatch, bundled_dir, simulate):
    """The Compare dock open from the start, as the demo's docks are."""
    from napari_mrisr._widgets.compare import CompareWidget
    from napari_mrisr._widgets.load import LoadWidget
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget

    save_model(
        build_model("srgan3d", 2, features=4, num_blocks=1), tmp_path / "m" / "tiny-x2.safetensors"
    )
    monkeypatch.setenv("NAPARI_MRISR_MODELS", str(tmp_path / "m"))
    compare = dock(viewer, CompareWidget)
    load = dock(viewer, LoadWidget)
    path = save_volume(
        Volume(head_phantom((16, 18, 14)), oblique_affine(), "scan"), tmp_path / "scan.nii.gz"
    )
    load.file.value = path
    load.simulate.value = simulate
    load.load_button.native.click()
    wait_idle(qtbot, load)
    sr_dock = dock(viewer, SuperResolveWidget)
    sr_dock.input.value = viewer.layers[-1]
    sr_dock.model.value = next(
        c for c in sr_dock.model.choices if getattr(c, "name", "") == "tiny-x2"
    )
    sr_dock.device.value = "cpu"
    sr_dock.run_button.native.click()
    wait_idle(qtbot, sr_dock)
    expected = (viewer.layers[-2], viewer.layers[-1], viewer.layers[0] if simulate else None)
    assert chosen(compare) == expected
    assert dock(viewer, CompareWidget).state.problem() is None
    assert chosen(dock(viewer, CompareWidget)) == expected
