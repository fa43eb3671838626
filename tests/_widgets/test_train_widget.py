"""The Train widget in real napari: configure from a preset, train in a subprocess, follow its
events live, stop it, and find the exported model in the Super-resolve widget."""

from __future__ import annotations

import nibabel as nib
import pytest

from napari_mrisr.zoo.folders import list_models

from ..phantoms import head_phantom, oblique_affine


@pytest.fixture
def scans(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(3):
        nib.save(nib.Nifti1Image(head_phantom((32, 36, 32), seed=i), oblique_affine()), folder / f"s{i}.nii.gz")
    return folder


@pytest.fixture
def train_widget(make_napari_viewer, tmp_path, monkeypatch, scans):
    monkeypatch.setenv("NAPARI_MRISR_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("NAPARI_MRISR_RUNS", str(tmp_path / "runs"))
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget
    from napari_mrisr._widgets.train import FOLDER, TrainWidget

    viewer = make_napari_viewer()
    sr = SuperResolveWidget(viewer)
    viewer.window.add_dock_widget(sr, name="Super-resolve")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget.preset.value = "tiny"
    widget.source.value = FOLDER
    widget.folder.value = scans
    widget.patch.value = 16
    widget.name.value = "widget-run"
    yield viewer, widget, sr
    if widget.run is not None:
        widget.run.stop(timeout=20)


def test_preset_fields_are_editable_and_validated(train_widget):
    _, widget, _ = train_widget
    widget.preset.value = "srgan3d_lsgan"
    assert widget.adversarial.enabled and widget.adversarial.value == 5000
    widget.preset.value = "tiny"
    assert not widget.adversarial.enabled
    widget.patch.value, widget.pretrain.value, widget.lr.value = 16, 7, "5e-4"
    config = widget.build_config()
    assert config.data.patch_size == [16, 16, 16] and config.schedule.pretrain_steps == 7
    assert config.optim.lr_generator == pytest.approx(5e-4) and config.generator.architecture == "edsr3d"
    for typed in ("5e-5", "1e-5", "0.00002"):  # a spin box of 4 decimals made these 1e-4, 0, 0
        widget.lr.value = typed
        assert widget.build_config().optim.lr_generator == float(typed)
    for typed in ("", "fast", "0", "-1e-4", "nan", "2"):
        widget.lr.value = typed
        with pytest.raises(ValueError, match="learning rate must be a number above 0"):
            widget.build_config()
    widget.lr.value = "5e-4"
    widget.factors[2].value = 3  # 16 is not a multiple of 3: rounded to 15
    assert widget.build_config().data.patch_size == [16, 16, 15]


@pytest.mark.subprocess
def test_a_run_reports_live_and_its_model_appears_in_super_resolve(train_widget, qtbot):
    viewer, widget, sr = train_widget
    widget.pretrain.value = 6
    assert NO_MODEL_LISTED(sr)
    widget.start_button.clicked.emit() if hasattr(widget.start_button, "clicked") else widget.start()
    assert widget.run is not None and widget.run.running and not widget.start_button.enabled
    qtbot.waitUntil(lambda: not widget.run.running and not widget.timer.isActive(), timeout=180_000)
    assert widget.status.value.startswith("finished"), widget.run.log_tail(20)
    assert widget.progress.value == 6
    assert widget.losses.series["content"] and set(widget.psnr.series) == {"model", "cubic"}
    assert "widget-run" in [m.name for m in list_models()]
    assert "widget-run" in [getattr(c, "name", None) for c in sr.model.choices]


def NO_MODEL_LISTED(sr) -> bool:  # noqa: N802
    return "widget-run" not in [getattr(c, "name", None) for c in sr.model.choices]


@pytest.mark.subprocess
def test_stop_ends_training_cleanly_with_its_last_checkpoint(train_widget, qtbot):
    _, widget, _ = train_widget
    widget.pretrain.value = 100_000
    widget.start()
    # Training under way (or a run that ended early: no point waiting for steps that never come).
    qtbot.waitUntil(lambda: widget.progress.value >= 10 or not widget.run.running, timeout=120_000)
    assert widget.run.running, widget.run.log_tail(20)
    widget.stop_button.changed.emit(True)
    qtbot.waitUntil(lambda: not widget.run.running and not widget.timer.isActive(), timeout=60_000)
    assert widget.run.returncode == 0, widget.run.log_tail(20)
    assert widget.status.value.startswith("stopped")
    assert (widget.run.run_dir / "checkpoints" / "last.ckpt").is_file()
    assert widget.start_button.enabled


def test_bad_settings_give_one_sentence_and_start_nothing(train_widget, tmp_path, monkeypatch):
    _, widget, _ = train_widget
    errors = []
    monkeypatch.setattr("napari_mrisr._widgets.train.show_error", errors.append)
    widget.folder.value = tmp_path / "nowhere"
    widget.start()
    assert widget.run is None and errors == ["Choose a folder of NIfTI/MGZ volumes to train on."]


@pytest.mark.slow
@pytest.mark.subprocess
def test_closing_napari_stops_the_training_process(make_napari_viewer, tmp_path, monkeypatch, scans, qtbot):
    monkeypatch.setenv("NAPARI_MRISR_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("NAPARI_MRISR_RUNS", str(tmp_path / "runs"))
    from napari_mrisr._widgets.train import FOLDER, TrainWidget

    viewer = make_napari_viewer()
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget.source.value, widget.folder.value, widget.patch.value = FOLDER, scans, 16
    widget.pretrain.value = 100_000
    widget.start()
    run = widget.run
    qtbot.waitUntil(lambda: widget.progress.value >= 2 or not run.running, timeout=120_000)
    assert run.running, run.log_tail(20)
    viewer.close()
    qtbot.waitUntil(lambda: not run.running, timeout=60_000)
    assert (run.run_dir / "checkpoints" / "last.ckpt").is_file()


def test_factor_boxes_name_the_file_axis_they_act_on(train_widget, tmp_path):
    import numpy as np
    from napari.layers import Layer

    from napari_mrisr._napari.layers import layer_data
    from napari_mrisr._widgets.train import LAYERS, SAMPLE
    from napari_mrisr.volume.base import Volume

    viewer, widget, _ = train_widget

    def labels():
        return [box.label for box in widget.factors]

    assert labels() == ["L-R", "A-P", "S-I"]  # the folder's scans: axial, voxel axes R, A, S
    sagittal = np.eye(4)[[2, 0, 1, 3]]  # file axes run A, S, R (a sagittal acquisition)
    folder = tmp_path / "sagittal"
    folder.mkdir()
    nib.save(nib.Nifti1Image(head_phantom((16, 16, 16)), sagittal), folder / "s.nii.gz")
    widget.folder.value = folder
    assert labels() == ["A-P", "S-I", "L-R"]
    widget.factors[2].value = 1  # the L-R box is the file's third axis: the config says so
    assert widget.build_config().degradation.factors[2] == 1
    widget.source.value = SAMPLE
    assert labels() == ["L-R", "A-P", "S-I"]
    volume = Volume(head_phantom((16, 16, 16)), sagittal, "sag")
    layer = viewer.add_layer(Layer.create(*layer_data(volume)))
    widget.source.value = LAYERS
    widget.layers.value = [layer]
    assert labels() == ["A-P", "S-I", "L-R"]  # the file's axis order, not napari's display order


def test_train_dock_shows_its_whole_form(make_napari_viewer, tmp_path, monkeypatch):
    """Nothing cut at the dock's right edge once napari's style has grown fonts and padding."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication, QScrollArea

    from napari_mrisr._widgets.train import TrainWidget

    monkeypatch.setenv("NAPARI_MRISR_RUNS", str(tmp_path / "runs"))
    viewer = make_napari_viewer(show=True)
    widget = TrainWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Train")
    dock.parentWidget().resizeDocks([dock], [1], Qt.Orientation.Horizontal)  # as narrow as it goes
    QApplication.processEvents()
    area = widget.findChild(QScrollArea)
    assert area.widget().minimumSizeHint().width() <= area.viewport().width()
    assert dock.width() < 400  # narrow: the canvas keeps the width
