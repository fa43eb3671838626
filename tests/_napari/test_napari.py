"""The plugin in real napari (under Xvfb): reader, writer, sample data and bad input."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from napari_mrisr._napari.layers import (
    AXIS_LABELS,
    layer_data,
    napari_axis_order,
    volume_from_layer,
)
from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.io import load_volume, save_volume

from ..phantoms import head_phantom, oblique_affine

PLUGIN = "napari-mrisr"


def voxel_world_mm(layer, file_index) -> np.ndarray:
    """RAS mm of a file voxel, as napari places it (napari lists world axes as S, A, R)."""
    napari_index = np.asarray(file_index)[list(napari_order(layer))]
    return np.asarray(layer.data_to_world(napari_index))[::-1]


def napari_order(layer):
    """The layer shows the file's data transposed to this axis order."""
    return napari_axis_order(layer.metadata["affine"])


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.mark.parametrize(
    "affine",
    [
        oblique_affine(angle=0.0),  # RAS, anisotropic
        np.diag([-0.8, -1.2, 2.0, 1.0]) @ np.eye(4),  # LPS-like flips
        np.eye(4)[[1, 2, 0, 3]] @ np.diag([1.5, 1.0, 0.7, 1.0]),  # permuted (sagittal) axes
    ],
    ids=["ras", "flipped", "permuted"],
)
def test_reader_places_every_voxel_at_its_world_position(viewer, tmp_path, affine):
    affine = affine.copy()
    affine[:3, 3] = [-30.0, 12.5, 4.0]
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(head_phantom((10, 12, 14)), affine), path)

    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert layer.name == "scan"
    np.testing.assert_array_equal(layer.metadata["affine"], nib.load(path).affine)
    assert layer.metadata["source"] == str(path)
    # Every corner voxel, and one inside, lands where the file's affine says (RAS mm).
    for index in [(0, 0, 0), (9, 0, 0), (0, 11, 0), (0, 0, 13), (9, 11, 13), (3, 7, 5)]:
        expected = (affine @ np.r_[index, 1])[:3]
        np.testing.assert_allclose(voxel_world_mm(layer, index), expected, atol=1e-4)
        assert layer.data[tuple(np.asarray(index)[list(napari_order(layer))])] == pytest.approx(
            load_volume(path).data[index]
        )
    # Axial slices by default: the slider (first world axis) runs inferior -> superior.
    assert viewer.dims.axis_labels == AXIS_LABELS
    assert viewer.dims.not_displayed == (0,)
    assert tuple(layer.units) == ("mm", "mm", "mm") or all(str(u) == "millimeter" for u in layer.units)


def test_lr_and_hr_overlay_in_world_space(viewer, tmp_path, volume):
    from napari_mrisr.volume.degrade import simulate_lr

    save_volume(volume, tmp_path / "hr.nii.gz")
    save_volume(simulate_lr(volume, (1, 2, 4)), tmp_path / "lr.nii.gz")
    hr_layer, lr_layer = viewer.open([tmp_path / "hr.nii.gz", tmp_path / "lr.nii.gz"], plugin=PLUGIN)
    # LR voxel (1, 1, 1) is centred on HR voxel (1, 2.5, 5.5) in millimetres.
    np.testing.assert_allclose(
        voxel_world_mm(lr_layer, (1, 1, 1)), (volume.affine @ [1, 2.5, 5.5, 1])[:3], atol=1e-4
    )


def tilted_affine(degrees=20.0, spacing=(8.0, 8.0, 3.0)) -> np.ndarray:
    """Axial slices tilted about the R axis (an AC-PC aligned stack): file axis 2 is the slices."""
    t = np.deg2rad(degrees)
    rotation = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(spacing)
    affine[:3, 3] = [-60.0, -70.0, -30.0]
    return affine


def test_oblique_scan_slider_steps_one_slice_without_warnings(viewer, tmp_path, recwarn):
    affine = tilted_affine()
    data = np.broadcast_to(np.arange(24, dtype=np.float32), (16, 16, 24))  # slice k holds k
    path = tmp_path / "oblique.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), affine), path)

    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert viewer.dims.nsteps[0] == 24  # napari alone: 36 steps of 3 mm across the tilted box
    shown = []
    for step in range(24):
        viewer.dims.set_current_step(0, step)
        shown.append(np.unique(layer._slice.image.raw).tolist())
    assert shown == [[k] for k in range(24)]  # every slice once, in order, one per position
    assert not [w for w in recwarn if "Non-orthogonal" in str(w.message)]
    # The geometry stays exact: each voxel is at its RAS position in mm.
    for index in [(0, 0, 0), (15, 15, 23), (3, 9, 11)]:
        expected = (affine @ np.r_[index, 1])[:3]
        np.testing.assert_allclose(voxel_world_mm(layer, index), expected, atol=1e-4)


def test_slider_of_a_straight_scan_is_napari_own(viewer, tmp_path, volume):
    """In-plane rotation only (the test phantom): the slider is napari's, one slice per step."""
    from napari.layers import Image

    (layer,) = viewer.open(save_volume(volume, tmp_path / "scan.nii.gz"), plugin=PLUGIN)
    plain = Image(layer.data, affine=layer.affine)
    start, stop, step = viewer.dims.range[0]
    own = (plain.extent.world[0, 0], plain.extent.step[0])
    np.testing.assert_allclose((start, step), own, atol=1e-6)
    assert viewer.dims.nsteps[0] == volume.data.shape[2]


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".mgz"])
def test_writer_round_trip_through_viewer(viewer, tmp_path, volume, suffix):
    source = tmp_path / "scan.nii.gz"
    save_volume(volume, source)
    (layer,) = viewer.open(source, plugin=PLUGIN)
    target = tmp_path / f"saved{suffix}"
    viewer.layers.save(str(target), selected=False, plugin=PLUGIN)
    saved, original = load_volume(target), load_volume(source)
    np.testing.assert_array_equal(saved.data, original.data)
    np.testing.assert_allclose(saved.affine, original.affine, atol=1e-5 if suffix == ".mgz" else 0)


def test_writer_keeps_a_moved_layer_where_it_is_shown(viewer, tmp_path, volume):
    viewer.add_layer(_layer(volume))
    layer = viewer.layers[0]
    layer.translate = (5.0, -2.0, 1.5)
    layer.scale = (1.0, 1.5, 1.0)
    target = tmp_path / "moved.nii.gz"
    viewer.layers.save(str(target), selected=False, plugin=PLUGIN)
    saved = load_volume(target)
    for index in [(0, 0, 0), (3, 5, 7), (19, 27, 23)]:
        shown = np.asarray(layer.data_to_world(np.asarray(index)[list(napari_order(layer))]))[::-1]
        np.testing.assert_allclose((saved.affine @ np.r_[index, 1])[:3], shown, atol=1e-4)


def test_writer_refuses_2d_layers(viewer, tmp_path):
    from napari_mrisr._napari.writer import write_image

    viewer.add_image(np.zeros((8, 8), np.float32), name="slice")
    with pytest.warns(UserWarning, match="not a valid writer"):
        assert viewer.layers.save(str(tmp_path / "slice.nii.gz"), selected=False, plugin=PLUGIN) == []
    with pytest.raises(VolumeError, match="'slice' has 2 dimensions; only 3D volumes can be saved"):
        write_image(str(tmp_path / "slice.nii.gz"), *viewer.layers[0].as_layer_data_tuple()[:2])
    assert not (tmp_path / "slice.nii.gz").exists()


def test_volume_from_layer_inverts_layer_data(volume):
    data, attributes, _ = layer_data(volume)
    back = volume_from_layer(data, attributes)
    np.testing.assert_array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.affine, volume.affine, atol=1e-12)


@pytest.mark.parametrize(
    ("key", "shape", "spacing"),
    [
        ("mni152_hr", (197, 233, 189), (1, 1, 1)),
        ("mni152_lr_x2", (98, 116, 94), (2, 2, 2)),
        ("mni152_lr_thick_x4", (197, 233, 47), (1, 1, 4)),
    ],
)
def test_sample_data(viewer, key, shape, spacing):
    (layer,) = viewer.open_sample(PLUGIN, key)
    assert layer.data.shape == shape[::-1]  # shown in napari's (S, A, R) order
    affine = layer.metadata["affine"]
    np.testing.assert_allclose(np.sqrt((affine[:3, :3] ** 2).sum(0)), spacing)
    # All three share the template's world frame: their centres agree to within a voxel.
    centre = affine @ np.r_[(np.array(shape) - 1) / 2, 1]
    np.testing.assert_allclose(centre[:3], [0.0, -18.0, 22.0], atol=2.1)


BAD_FILES = {
    "corrupt.nii.gz": lambda p: p.write_bytes(b"garbage" * 100),
    "flat.nii": lambda p: nib.save(nib.Nifti1Image(np.ones((4, 4), np.float32), np.eye(4)), p),
    "nan.nii": lambda p: nib.save(
        nib.Nifti1Image(np.full((4, 4, 4), np.nan, np.float32), np.eye(4)), p
    ),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_file_gives_one_message_and_leaves_the_viewer_alone(viewer, tmp_path, volume, name):
    viewer.add_layer(_layer(volume))
    before = viewer.layers[0].data.copy()
    path = tmp_path / name
    BAD_FILES[name](path)
    with pytest.raises(Exception) as info:
        viewer.open(path, plugin=PLUGIN)
    assert isinstance(info.value, VolumeError) or isinstance(info.value.__cause__, VolumeError)
    assert len(viewer.layers) == 1
    np.testing.assert_array_equal(viewer.layers[0].data, before)


def test_four_d_series_opens_first_volume_with_a_warning(viewer):
    from pathlib import Path

    from napari.utils.notifications import notification_manager

    path = Path(nib.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    start = len(notification_manager.records)
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert layer.data.ndim == 3
    shown = [n.message for n in notification_manager.records[start:]]
    assert any("4D series" in m and "using the first" in m for m in shown)  # in the GUI, not the terminal


def _layer(volume: Volume):
    from napari.layers import Layer

    return Layer.create(*layer_data(volume))


def test_reader_declines_other_files():
    from napari_mrisr._napari.reader import get_reader

    assert get_reader("image.tif") is None
    assert get_reader(["a.nii", "b.png"]) is None
    assert callable(get_reader(["a.nii", "b.mgz"]))


def test_load_errors_are_volume_errors(tmp_path):
    with pytest.raises(VolumeError):
        load_volume(tmp_path / "missing.nii")
