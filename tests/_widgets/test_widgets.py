"""The Load, Super-resolve and Compare dock widgets, driven through their real Qt controls."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from napari_mrisr._napari.layers import layer_volume, napari_axis_order
from napari_mrisr._napari.viewer import camera, grid
from napari_mrisr.models import build_model
from napari_mrisr.predict.method import BASELINE
from napari_mrisr.volume import metrics
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.volume.display import CONVENTIONS
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.volume.metrics import KEYS, REGIONS, metric_table, table_csv
from napari_mrisr.zoo.model_file import save_model

from ..phantoms import head_phantom, oblique_affine
from .helpers import TIMEOUT_MS, add_volume, dock, wait_idle, world_mm

# Each test decides which models exist: the bundled folder is an empty stand-in.
pytestmark = pytest.mark.usefixtures("bundled_dir")

@pytest.mark.slow
def test_load_super_resolve_compare(viewer, qtbot, write_nifti, models_dir, bundled_dir, tmp_path):
    from napari_mrisr._widgets.compare import CompareWidget
    from napari_mrisr._widgets.load import LoadWidget
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget

    affine = oblique_affine()
    path = write_nifti(head_phantom((25, 28, 21)), affine, name="scan.nii.gz")

    # Load: file -> simulate LR x2 (k-space), HR cropped to the even grid.
    load = dock(viewer, LoadWidget)
    load.file.value = path
    load.simulate.value = True
    assert [spin.label for spin in load.factors] == ["L-R", "A-P", "S-I"]
    for spin in load.factors:
        spin.value = 2
    load.load_button.native.click()
    wait_idle(qtbot, load)
    gt_layer, lr_layer = viewer.layers
    assert gt_layer.name == "scan ground truth"
    assert gt_layer.data.shape == (20, 28, 24)  # napari shows (S, A, R); file (24, 28, 20)
    assert lr_layer.name == "scan LR kspace x2"
    assert lr_layer.metadata["degradation"] == {"method": "kspace", "factors": [2, 2, 2], "noise": 0.0}
    assert lr_layer.metadata["ground_truth"] == "scan ground truth"
    expected = (affine @ [2.5, 2.5, 2.5, 1])[:3]  # LR voxel 1 covers HR voxels 2 and 3
    np.testing.assert_allclose(world_mm(lr_layer, (1, 1, 1)), expected, atol=1e-4)
    assert tuple(str(o) for o in camera(viewer).orientation) == CONVENTIONS["radiological"]

    # Super-resolve with the tiny model from the user folder.
    sr_widget = dock(viewer, SuperResolveWidget)
    labels = [sr_widget.model.native.itemText(i) for i in range(sr_widget.model.native.count())]
    assert labels == ["tiny-x2", BASELINE, "open model file..."]
    # A bundled model comes first (read when the widget is shown or refreshed).
    tiny = build_model("srgan3d", 2, features=4, num_blocks=1)
    save_model(tiny, bundled_dir / "bundled-x2.safetensors")
    sr_widget.refresh_models()
    labels = [sr_widget.model.native.itemText(i) for i in range(sr_widget.model.native.count())]
    assert labels == ["bundled-x2", "tiny-x2", BASELINE, "open model file..."]
    sr_widget.input.value = lr_layer
    sr_widget.model.value = sr_widget.model.choices[1]
    sr_widget.device.value = "cpu"
    sr_widget.tile.value = 6  # several tiles
    sr_widget.run_button.native.click()
    wait_idle(qtbot, sr_widget)
    sr_layer = viewer.layers[-1]
    assert sr_layer.name == "scan LR kspace x2 SR tiny-x2"
    assert sr_layer.metadata["model"] == "tiny-x2"
    assert sr_layer.metadata["model_meta"]["architecture"] == "srgan3d"
    assert sr_layer.metadata["ground_truth"] == "scan ground truth"
    assert sr_layer.metadata["degradation"]["factors"] == [2, 2, 2]
    assert sr_widget.progress.value == sr_widget.progress.max > 1
    # Every SR voxel sits on the ground truth's voxel, in mm.
    assert sr_layer.data.shape == gt_layer.data.shape
    for index in [(0, 0, 0), (23, 27, 19), (7, 13, 4)]:
        np.testing.assert_allclose(world_mm(sr_layer, index), world_mm(gt_layer, index), atol=1e-4)
        np.testing.assert_allclose(world_mm(sr_layer, index), (affine @ [*index, 1])[:3], atol=1e-4)

    # Compare: pre-filled from the SR layer's metadata.
    compare = dock(viewer, CompareWidget)
    assert (compare.lr.value, compare.sr.value, compare.gt.value) == (lr_layer, sr_layer, gt_layer)
    user_layers = list(viewer.layers)
    compare.compare_button.native.click()
    wait_idle(qtbot, compare)
    names = [layer.name for layer in viewer.layers]
    for name in ["cubic baseline", "|SR - GT|", "|cubic - GT|", "SR - cubic"]:
        assert name in names
    consistency = next(layer for layer in viewer.layers if layer.name.startswith("data consistency"))
    by_name = {layer.name: layer for layer in viewer.layers}
    assert all(layer in viewer.layers for layer in user_layers)  # nothing of the user's deleted
    assert grid(viewer).enabled
    assert all(layer.visible for layer in viewer.layers)  # every layer here is in the comparison
    # Shared scales: intensities, errors (inferno, from 0), signed maps (diverging, centred at 0).
    limits = tuple(gt_layer.contrast_limits)
    for name in ["scan LR kspace x2", "cubic baseline", sr_layer.name]:
        assert tuple(by_name[name].contrast_limits) == limits
    assert by_name["|SR - GT|"].contrast_limits == by_name["|cubic - GT|"].contrast_limits
    assert by_name["|SR - GT|"].colormap.name == "inferno"
    for layer in (by_name["SR - cubic"], consistency):
        low, high = layer.contrast_limits
        assert low == -high and high > 0
        assert layer.colormap.name == "blue-black-red"
        np.testing.assert_allclose(layer.colormap.map([0.5])[0, :3], 0)  # zero is black
    # The cubic baseline and SR - cubic lie on the ground truth's grid; data consistency on the LR's.
    for name in ["cubic baseline", "|SR - GT|", "SR - cubic"]:
        shown = world_mm(by_name[name], (7, 13, 4))
        np.testing.assert_allclose(shown, (affine @ [7, 13, 4, 1])[:3], atol=1e-4)
    shown = world_mm(consistency, (1, 1, 1))
    np.testing.assert_allclose(shown, world_mm(lr_layer, (1, 1, 1)), atol=1e-4)

    # Table numbers are napari_mrisr.volume.metrics computed directly.
    gt, sr, lr = layer_volume(gt_layer), layer_volume(sr_layer), layer_volume(lr_layer)
    cubic = upsample(lr, 2, order="cubic")
    np.testing.assert_array_equal(by_name["cubic baseline"].data, cubic.data.transpose(2, 1, 0))
    mask = metrics.foreground_mask(gt)
    expected = {}
    for region, region_mask in zip(REGIONS, (mask, None), strict=True):
        for method, volume in (("tiny-x2", sr), ("cubic", cubic)):
            expected[method, region] = (
                metrics.psnr(volume, gt, mask=region_mask),
                metrics.ssim(volume, gt, mask=region_mask),
                metrics.nrmse(volume, gt, mask=region_mask),
            )
    table = compare.table
    assert table.rowCount() == 4
    from qtpy.QtCore import Qt

    for row in range(4):
        key = (table.item(row, 0).text(), table.item(row, 1).text())
        values = tuple(table.item(row, c).data(Qt.ItemDataRole.UserRole) for c in (2, 3, 4))
        assert values == pytest.approx(expected.pop(key), rel=1e-12)
        assert table.item(row, 2).text() == f"{values[0]:.2f}"
    assert not expected

    # Again: the comparison's own layers are replaced, not duplicated.
    count = len(viewer.layers)
    compare.compare_button.native.click()
    wait_idle(qtbot, compare)
    assert len(viewer.layers) == count
    assert not any("[" in layer.name for layer in viewer.layers)

    # Exports.
    csv_path, png_path = tmp_path / "metrics.csv", tmp_path / "view"
    compare._ask_save_path = lambda caption, file_filter, suffix: str(
        csv_path if suffix == ".csv" else png_path.with_suffix(suffix)
    )
    compare.export_button.native.click()
    assert csv_path.read_text() == table_csv(compare.metrics)
    compare.save_button.native.click()
    assert (tmp_path / "view.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cubic_baseline_and_compare_without_ground_truth(viewer, qtbot, tmp_path, monkeypatch):
    from qtpy.QtCore import Qt

    from napari_mrisr._widgets.compare import CompareWidget
    from napari_mrisr._widgets.super_resolve import NO_MODEL, SuperResolveWidget

    monkeypatch.setenv("NAPARI_MRISR_MODELS", str(tmp_path / "empty"))
    hr = Volume(head_phantom((16, 24, 20)), oblique_affine(), "hr")
    lr = simulate_lr(hr, (1, 2, 2), method="gaussian")
    other = add_volume(viewer, Volume(head_phantom((8, 8, 8)), np.eye(4), "unrelated"))
    degradation = {"method": "gaussian", "factors": [1, 2, 2], "noise": 0.0}
    lr_layer = add_volume(viewer, lr, degradation=degradation)

    widget = dock(viewer, SuperResolveWidget)
    assert widget.model.value == NO_MODEL
    assert not widget.run_button.enabled and not widget.hint.native.isHidden()
    widget.model.value = next(c for c in widget.model.choices if getattr(c, "name", "") == BASELINE)
    assert widget.run_button.enabled
    widget.run_button.native.click()
    wait_idle(qtbot, widget)
    sr_layer = viewer.layers[-1]
    assert sr_layer.name == f"{lr.name} SR {BASELINE}"
    # Factors from the degradation record: (1, 2, 2), back on the HR grid.
    assert sr_layer.data.shape == hr.shape[::-1]
    for index in [(0, 0, 0), (15, 23, 19), (3, 8, 11)]:
        np.testing.assert_allclose(world_mm(sr_layer, index), (hr.affine @ [*index, 1])[:3], atol=1e-4)

    compare = dock(viewer, CompareWidget)
    assert compare.lr.value is lr_layer and compare.gt.value is None
    compare.compare_button.native.click()
    wait_idle(qtbot, compare)
    names = [layer.name for layer in viewer.layers]
    assert "cubic baseline" in names and "SR - cubic" in names
    assert not any(name.startswith("|") for name in names)
    assert other in viewer.layers and not other.visible  # hidden, not deleted
    assert compare.table.rowCount() == 1
    assert "need a ground truth" in compare.table.item(0, 0).text()
    assert compare.table.item(0, 0).data(Qt.ItemDataRole.UserRole) is None
    # The baseline used as "SR" is the cubic baseline itself.
    assert np.abs(viewer.layers["SR - cubic"].data).max() == 0


def test_cancel_adds_no_layer(viewer, qtbot, models_dir):
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget

    lr_layer = add_volume(viewer, Volume(head_phantom((40, 40, 40)), oblique_affine(), "big"))
    widget = dock(viewer, SuperResolveWidget)
    widget.input.value = lr_layer
    widget.device.value = "cpu"
    widget.tile.value = 2  # 8000 tiles: far longer than the test waits
    widget.run_button.native.click()
    assert widget.cancel_button.enabled and not widget.run_button.enabled
    qtbot.waitUntil(lambda: widget.progress.value >= 2, timeout=TIMEOUT_MS)
    widget.cancel_button.native.click()
    wait_idle(qtbot, widget)
    assert len(viewer.layers) == 1
    assert widget.progress.value < widget.progress.max
    assert "cancelled" in widget.status.value
    assert widget.run_button.enabled


def test_bad_file_and_bad_model_give_one_sentence_and_change_nothing(
    viewer, qtbot, tmp_path, models_dir, errors
):
    from napari_mrisr._widgets.load import LoadWidget
    from napari_mrisr._widgets.super_resolve import OPEN_FILE, SuperResolveWidget

    layer = add_volume(viewer, Volume(head_phantom((12, 12, 12)), oblique_affine(), "scan"))
    before = layer.data.copy()

    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti" * 50)
    load = dock(viewer, LoadWidget)
    load.file.value = broken
    load.load_button.native.click()
    wait_idle(qtbot, load)
    (message,) = errors()
    assert message.startswith(f"{broken.name!r} is not a readable NIfTI or MGH/MGZ image")
    assert list(viewer.layers) == [layer]

    # A model file whose tensors do not match its declared architecture.
    mismatched = tmp_path / "mismatched.safetensors"
    save_model(
        build_model("srgan3d", 2, features=4, num_blocks=1),
        mismatched,
        meta={"config": {**build_model("srgan3d", 2, features=4, num_blocks=1).config, "features": 8}},
    )
    widget = dock(viewer, SuperResolveWidget)
    widget.input.value = layer
    widget._ask_model_file = lambda: str(mismatched)
    widget.model.value = OPEN_FILE
    assert widget.model.value.name == "mismatched"
    labels = [widget.model.native.itemText(i) for i in range(widget.model.native.count())]
    assert labels == ["tiny-x2", "mismatched", BASELINE, OPEN_FILE]
    widget.run_button.native.click()
    wait_idle(qtbot, widget)
    assert "does not match its declared architecture" in errors()[-1]
    assert list(viewer.layers) == [layer]
    np.testing.assert_array_equal(layer.data, before)

    # A pickle checkpoint is refused before loading; the combo goes back to the last model.
    pickle = tmp_path / "checkpoint.pt"
    pickle.write_bytes(b"\x80\x04junk")
    previous = widget.model.value
    widget._ask_model_file = lambda: str(pickle)
    widget.model.value = OPEN_FILE
    assert "never unpickles" in errors()[-1]
    assert widget.model.value == previous
    assert len(errors()) == 3


def test_comparison_maths_without_a_gui():
    import csv
    import io

    from napari_mrisr.progress import Progress, run_to_end
    from napari_mrisr.volume.comparison import (
        Comparison,
        data_consistency,
        iter_compare,
        match_grid,
        scale_factors,
    )

    hr = Volume(head_phantom((17, 24, 20)), oblique_affine(), "hr")
    lr = simulate_lr(hr, (1, 2, 2))
    gt = Volume(hr.data[:, :24, :20], hr.affine, "gt")
    # The ground truth's own degradation is perfectly data-consistent; a shift is not.
    assert np.abs(data_consistency(gt, lr).data).max() < 1e-3
    shifted = Volume(np.roll(gt.data, 1, axis=0), gt.affine, "shifted")
    assert np.abs(data_consistency(shifted, lr).data).max() > 1
    assert scale_factors(lr.shape, gt.shape) == (1, 2, 2)
    with pytest.raises(ValueError, match="not an integer multiple"):
        scale_factors(lr.shape, (17, 25, 20))
    # An uncropped HR lines up by cropping; a moved one is refused.
    assert match_grid(Volume(head_phantom((18, 25, 21)), hr.affine), gt, "GT").shape == gt.shape
    moved = hr.affine.copy()
    moved[:3, 3] += 0.5
    with pytest.raises(ValueError, match="not on the voxel grid"):
        match_grid(Volume(gt.data, moved), gt, "GT")
    with pytest.raises(ValueError, match="pick the LR volume the SR was made from"):
        run_to_end(iter_compare(lr, Volume(gt.data, moved, "sr"), gt))
    # Progress events, one per step, then the Comparison is returned with the metrics table.
    events = []
    result = run_to_end(iter_compare(lr, shifted, gt, sr_label="shifted"), events.append)
    assert isinstance(result, Comparison)
    assert all(isinstance(e, Progress) and e.total == len(events) for e in events)
    assert [e.done for e in events] == list(range(len(events)))
    assert events[0].message == "cubic baseline" and events[-1].message == "metrics: cubic"
    cubic = upsample(lr, (1, 2, 2), order="cubic")
    assert result.metrics == metric_table({"shifted": shifted, "cubic": cubic}, gt)
    assert list(result.metrics["shifted"]) == list(KEYS)
    assert not run_to_end(iter_compare(lr, shifted)).metrics  # no ground truth, no metrics
    # CSV carries the rows at full precision.
    table = metric_table({"same": gt}, gt)
    parsed = list(csv.DictReader(io.StringIO(table_csv(table))))
    assert [r["region"] for r in parsed] == list(REGIONS)
    assert float(parsed[0]["ssim"]) == table["same"]["ssim_brain"] == pytest.approx(1.0)
    assert parsed[0]["psnr_db"] == "inf"


def test_a_runtime_error_in_the_worker_is_reported_and_the_widget_can_run_again(
    viewer, qtbot, tmp_path, monkeypatch, errors
):
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget

    folder = tmp_path / "models"
    save_model(build_model("edsr3d", 2, features=4, num_blocks=1), folder / "tiny.safetensors")
    monkeypatch.setenv("NAPARI_MRISR_MODELS", str(folder))
    add_volume(viewer, Volume(head_phantom((10, 12, 10)), oblique_affine(), "scan"))
    widget = dock(viewer, SuperResolveWidget)

    def out_of_memory(*_args, **_kwargs):  # what a CPU allocator failure raises
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 TB")

    monkeypatch.setattr(torch.nn.Conv3d, "forward", out_of_memory)
    widget.model.value = next(c for c in widget.model.choices if getattr(c, "name", None) == "tiny")
    widget.run_button.native.click()
    wait_idle(qtbot, widget)
    assert any("can't allocate memory" in m for m in errors())
    assert widget.status.value == "failed; no layer added"
    assert widget.run_button.enabled and not widget.cancel_button.enabled
    assert [layer.name for layer in viewer.layers] == ["scan"]

    monkeypatch.undo()  # the allocator recovers: another run works without restarting napari
    widget.model.value = next(c for c in widget.model.choices if getattr(c, "name", None) == BASELINE)
    widget.run_button.native.click()
    wait_idle(qtbot, widget)
    assert len(viewer.layers) == 2 and widget.status.value.startswith("added")


def test_progress_reaches_the_widget_in_order_and_ends_full(viewer, qtbot):
    """napari's activity-dock bar spins the event loop on every update, so the next event can
    arrive while one is being handled; a widget must still see them in order and end at 100%."""
    import time

    from napari_mrisr._widgets.worker import start_worker
    from napari_mrisr.progress import Progress

    def work():
        for done in range(1, 201):
            time.sleep(0.0002)  # events pile up faster than the GUI thread handles them
            yield Progress(done, 200, f"step {done}")
        return "result"

    seen, results, finished = [], [], []
    start_worker(work, "ordering", results.append, on_progress=lambda e: seen.append(e.done), on_done=finished.append)
    qtbot.waitUntil(lambda: bool(finished), timeout=TIMEOUT_MS)
    assert seen == list(range(1, 201)) and results == ["result"] and finished == [True]


def test_objects_older_than_a_worker_sit_out_garbage_collection_until_it_ends(viewer, qtbot):
    """A full collection walks every napari, Qt and torch object (250-450 ms with the GIL held):
    while a worker runs, collections must skip those, so the event loop never stalls mid-run."""
    import gc

    from napari_mrisr._widgets.worker import start_worker
    from napari_mrisr.progress import Progress

    frozen, finished = [], []

    def work():
        frozen.append(gc.get_freeze_count())
        yield Progress(1, 1)

    start_worker(work, "frozen", lambda _result: None, on_done=finished.append)
    qtbot.waitUntil(lambda: bool(finished), timeout=TIMEOUT_MS)
    assert frozen[0] > 0 and gc.get_freeze_count() == 0


@pytest.fixture
def tiny_selfsr_budget(monkeypatch):
    from napari_mrisr.selfsr.train import BUDGETS, Budget, BudgetName

    tiny = Budget(features=4, num_blocks=1, patch=16, batch=4, steps=6, lr=1e-3)
    monkeypatch.setitem(BUDGETS, BudgetName.FAST, tiny)
    return tiny


def test_self_supervised_sr_of_the_open_scan_lands_on_it_in_world_space(
    viewer, qtbot, tiny_selfsr_budget, tmp_path, monkeypatch
):
    from napari_mrisr._widgets.selfsr import SelfSRWidget
    from napari_mrisr.volume.geometry import upsampled_affine
    from napari_mrisr.zoo.model_file import load_model

    affine = oblique_affine(spacing=(1.0, 1.0, 3.0))  # thick slices along the third axis
    scan = add_volume(viewer, Volume(head_phantom((20, 22, 8)), affine, "t2 axial"))
    widget = dock(viewer, SelfSRWidget)
    assert widget.input.value is scan
    qtbot.waitUntil(lambda: widget.state.ready, timeout=TIMEOUT_MS)  # the profile, estimated
    assert widget.run_button.enabled
    assert "3 mm apart" in widget.geometry.value and "ratio 3" in widget.geometry.value

    viewer.dims.ndisplay = 2
    assert napari_axis_order(affine)[viewer.dims.not_displayed[0]] == 2  # looking at the slices
    previews = []
    viewer.layers.events.inserted.connect(
        lambda e: previews.append(e.value.data.shape) if e.value.name.endswith("preview (training)") else None
    )
    widget.run_button.native.click()
    assert widget.cancel_button.enabled and not widget.run_button.enabled
    wait_idle(qtbot, widget)
    # a live preview appeared (one plane across the slices, 3 x 8 voxels along the slice axis),
    # the view turned across the slices to show it, and the result replaced it
    sliced = viewer.dims.not_displayed[0]
    assert previews and previews[0][sliced] == 1 and 24 in previews[0]
    assert napari_axis_order(affine)[sliced] != 2
    assert [layer.name for layer in viewer.layers][1:] == ["t2 axial SR self-supervised", "t2 axial SR disagreement"]
    sr, disagreement = viewer.layers[-2:]
    assert sr.name == "t2 axial SR self-supervised" and sr.metadata["input"] == "t2 axial"
    assert not disagreement.visible and disagreement.data.shape == sr.data.shape
    # the SR grid: the input's affine with 3 output slices per input slice (grid rule)
    np.testing.assert_allclose(sr.metadata["affine"], upsampled_affine(affine, (1, 1, 3)), atol=1e-6)
    assert widget.progress.value == widget.progress.max > 0

    path = tmp_path / "t2-protocol.safetensors"
    monkeypatch.setattr(widget, "_ask_model_path", lambda: str(path))
    widget.save_button.native.click()
    assert tuple(load_model(path).scale) == (1, 1, 3)


def test_a_self_sr_result_at_a_fractional_ratio_compares_against_its_own_slices(
    viewer, qtbot, tiny_selfsr_budget, errors
):
    # 2.5 mm slices under 1 mm pixels: 20 output slices for 8, no whole factor between them
    from napari_mrisr._widgets.compare import CompareWidget
    from napari_mrisr._widgets.selfsr import SelfSRWidget

    affine = oblique_affine(spacing=(1, 1, 2.5))
    scan = add_volume(viewer, Volume(head_phantom((20, 22, 8)), affine, "t1"))
    selfsr = dock(viewer, SelfSRWidget)
    qtbot.waitUntil(lambda: selfsr.state.ready, timeout=TIMEOUT_MS)
    selfsr.state.thickness, selfsr.state.profile = 2.0, "gaussian"  # as typed in the dock
    selfsr.run_button.native.click()
    wait_idle(qtbot, selfsr)
    sr = viewer.layers["t1 SR self-supervised"]
    assert layer_volume(sr).shape == (20, 22, 20)

    compare = dock(viewer, CompareWidget)
    compare.state.lr, compare.state.sr, compare.state.gt = scan, sr, None
    compare.compare_button.native.click()
    wait_idle(qtbot, compare)
    assert not errors()
    cubic = layer_volume(viewer.layers["cubic baseline"])
    assert cubic.shape == (20, 22, 20)
    np.testing.assert_allclose(cubic.affine, sr.metadata["affine"], atol=1e-6)
    # the data-consistency map simulates the slices the network was trained for
    assert "data consistency (gaussian slices, 2 mm)" in viewer.layers
    assert "SR - cubic" in viewer.layers


def test_self_supervised_sr_dock_stays_usable_when_the_estimate_fails(
    viewer, qtbot, errors, monkeypatch
):
    from napari_mrisr._widgets.selfsr import SelfSRWidget

    def broken(volume, *_args):
        raise MemoryError("no room for the lines")

    monkeypatch.setattr("napari_mrisr.selfsr.grid.estimate_profile", broken)
    scan = Volume(head_phantom((20, 22, 8)), oblique_affine(spacing=(1, 1, 3)), "aniso")
    add_volume(viewer, scan)
    widget = dock(viewer, SelfSRWidget)
    assert "Estimating the slice profile" in widget.geometry.value and not widget.run_button.enabled
    qtbot.waitUntil(lambda: widget.state.ready, timeout=TIMEOUT_MS)
    assert widget.run_button.enabled and "could not be estimated" in widget.geometry.value
    assert (widget.state.grid.profile, widget.state.grid.thickness) == ("rect", 3.0)
    said = "Estimating the slice profile of aniso failed: MemoryError: no room for the lines"
    assert errors() == [said]


def test_self_supervised_sr_refuses_an_isotropic_scan_and_cancel_adds_nothing(
    viewer, qtbot, tiny_selfsr_budget, monkeypatch
):
    from napari_mrisr._widgets.selfsr import SelfSRWidget
    from napari_mrisr.selfsr.train import BUDGETS, BudgetName

    add_volume(viewer, Volume(head_phantom((12, 12, 12)), oblique_affine(spacing=(1, 1, 1)), "iso"))
    widget = dock(viewer, SelfSRWidget)
    assert not widget.run_button.enabled and "isotropic" in widget.geometry.value

    add_volume(viewer, Volume(head_phantom((20, 22, 8)), oblique_affine(spacing=(1, 1, 3)), "aniso"))
    widget.input.value = viewer.layers["aniso"]
    qtbot.waitUntil(lambda: widget.state.ready, timeout=TIMEOUT_MS)
    monkeypatch.setitem(BUDGETS, BudgetName.FAST, dataclasses.replace(tiny_selfsr_budget, steps=100_000))
    monkeypatch.setattr("napari_mrisr.selfsr.train.PREVIEWS", 100_000)  # a preview every step
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: len(viewer.layers) == 3, timeout=TIMEOUT_MS)  # the live preview
    preview = viewer.layers[-1]
    assert preview.name == "aniso SR preview (training)"
    # the view turned across the slices, to the preview: napari draws it (a non-empty slice)
    assert napari_axis_order(viewer.layers["aniso"].metadata["affine"])[viewer.dims.not_displayed[0]] != 2
    assert min(preview._data_view.shape) > 1
    widget.cancel_button.native.click()
    wait_idle(qtbot, widget)
    assert [layer.name for layer in viewer.layers] == ["iso", "aniso"]
    assert widget.status.value == "cancelled; no layer added" and widget.run_button.enabled


def test_metrics_in_a_chosen_region_and_a_skull_on_ground_truth_is_flagged():
    from napari_mrisr.progress import run_to_end
    from napari_mrisr.volume.comparison import iter_compare

    # a "head" of 3.2 L (12 mm voxels): its foreground is far more than a brain
    affine = np.diag([12.0, 12.0, 12.0, 1.0])
    hr = Volume(head_phantom((24, 28, 20)), affine, "head")
    lr = simulate_lr(hr, 2)
    sr = upsample(lr, 2, order="trilinear")
    gt = Volume(hr.data[:24, :28, :20], hr.affine, "gt")
    whole_head = run_to_end(iter_compare(lr, sr, gt))
    assert whole_head.region.startswith("foreground (whole head")

    brain = np.zeros(gt.shape, dtype=np.float32)
    brain[8:16, 8:20, 6:14] = 1
    inside = run_to_end(iter_compare(lr, sr, gt, region=Volume(brain, gt.affine, "brain mask")))
    assert inside.region == "brain mask"
    expected = metrics.psnr(sr.data, gt.data, mask=brain > 0)
    assert inside.metrics["SR"]["psnr_brain"] == pytest.approx(expected)
    assert inside.metrics["SR"]["psnr_brain"] != pytest.approx(whole_head.metrics["SR"]["psnr_brain"])
