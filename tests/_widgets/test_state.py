"""The docks' state objects, driven without a viewer or Qt: what each dock shows and runs."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from napari_mrisr._widgets.state.compare import CompareState
from napari_mrisr._widgets.state.load import SAMPLE, LoadState
from napari_mrisr._widgets.state.selfsr import SelfSRState
from napari_mrisr._widgets.state.super_resolve import NO_MODEL, OPEN_FILE, UNFIT, SuperResolveState
from napari_mrisr.predict.method import BASELINE, Method
from napari_mrisr.volume.base import Volume
from napari_mrisr.zoo import model_fit
from napari_mrisr.zoo.model_file import save_model

from ..phantoms import X2, X4, head_phantom, oblique_affine, tiny


@pytest.fixture
def two_models(tmp_path, monkeypatch, user_dir):
    """No bundled models; the user has an x4 through-plane and an x2 isotropic one."""
    monkeypatch.setattr("napari_mrisr.zoo.folders.bundled_models_dir", lambda: tmp_path / "none")
    save_model(tiny((1, 1, 4), X4), user_dir / "thick-x4.safetensors", X4)
    save_model(tiny(2, X2), user_dir / "iso-x2.safetensors", X2)


def scan(spacing, name="scan") -> Volume:
    return Volume(np.zeros((8, 8, 8), np.float32), np.diag([*spacing, 1.0]), name)


def test_each_model_is_fitted_once_per_scan_and_the_run_takes_that_fit(two_models, monkeypatch):
    calls = []
    real = model_fit.fit_model
    monkeypatch.setattr(
        "napari_mrisr._widgets.state.super_resolve.fit_model",
        lambda *a, **k: calls.append(a[2]) or real(*a, **k),
    )
    state = SuperResolveState()
    state.set_input(scan((1, 1, 4), "thick"))
    state.refresh_models()
    assert sorted(calls) == ["iso-x2", "thick-x4"]  # once each, for the new model list
    for _ in range(3):  # reading what the dock shows fits nothing again
        assert state.choices and state.hint is not None and state.geometry
    assert len(calls) == 2
    arguments = state.run_arguments()
    assert arguments["method"].name == "thick-x4" and arguments["fit"] is state.fits[arguments["method"]]
    assert arguments["fit"].factors == (1, 1, 4)


def test_a_new_scan_the_choice_does_not_fit_switches_and_says_why(two_models):
    state = SuperResolveState()
    events = []
    state.events.method.connect(lambda value: events.append(getattr(value, "name", value)))
    state.set_input(scan((1, 1, 4), "thick"))
    state.refresh_models()
    assert state.method.name == "thick-x4" and state.note == ""  # the first listed fits
    assert [label for label, _ in state.choices] == [
        "thick-x4", "iso-x2" + UNFIT, BASELINE, OPEN_FILE,
    ]  # fmt: skip
    assert "1 model greyed out" in state.hint

    state.set_input(scan((2, 2, 2), "iso"))
    assert state.method.name == "iso-x2" and events[-1] == "iso-x2"
    assert state.note.endswith("Switched to iso-x2.") and "does not fit 'iso'" in state.note
    assert state.geometry.startswith("model: x2 isotropic, trained at 2 x 2 x 2 mm\nscan: 2 x 2 x 2 mm")

    state.choose(Method(BASELINE))  # the user's own choice clears the note
    assert state.note == "" and "(never refused)" in state.geometry


def test_without_models_the_dock_offers_the_baseline_and_says_none_is_installed(tmp_path, monkeypatch, user_dir):
    monkeypatch.setattr("napari_mrisr.zoo.folders.bundled_models_dir", lambda: tmp_path / "none")
    state = SuperResolveState()
    state.refresh_models()
    assert state.method == NO_MODEL and not state.ready
    assert "No trained model is installed" in state.hint
    state.set_input(scan((1, 1, 1)))
    state.choose(Method(BASELINE))
    assert state.ready and state.run_arguments()["fit"] is None


def test_a_file_that_is_no_model_is_refused_in_one_sentence(two_models, tmp_path):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"\x80\x04junk")
    with pytest.raises(ValueError, match="never unpickles"):
        SuperResolveState().open_model_file(bad)


def test_self_sr_plans_the_grid_from_the_scan_and_settings():
    state = SelfSRState()
    assert not state.ready and "Open an anisotropic scan" in state.text
    state.volume = Volume(head_phantom((20, 20, 8)), oblique_affine((1.0, 1.0, 3.0)), "thick")
    assert state.ready and "3 mm apart" in state.text and "ratio 3" in state.text
    state.thickness = 2.0  # thinner than the spacing: a gap
    assert "2 mm thick" in state.text
    assert state.run_arguments()["thickness"] == 2.0
    state.volume = Volume(head_phantom((12, 12, 12)), np.eye(4), "iso")
    assert not state.ready and "isotropic" in state.text


def test_load_names_the_factor_boxes_by_direction_and_says_what_is_missing(write_nifti):
    state = LoadState()
    assert state.axis_labels == ("i", "j", "k") and state.problem() == "Choose a NIfTI or MGZ file to load."
    flipped = np.diag([1.0, 1.0, 1.0, 1.0])[[2, 1, 0, 3]]  # file axes run S-I, A-P, L-R
    state.path = write_nifti(head_phantom((8, 9, 10)), flipped)
    assert state.axis_labels == ("S-I", "A-P", "L-R") and state.problem() is None
    state.source = SAMPLE
    assert state.axis_labels == ("L-R", "A-P", "S-I")


def test_load_work_reads_and_simulates(write_nifti):
    from napari_mrisr.progress import run_to_end

    state = LoadState(path=write_nifti(head_phantom((8, 10, 12)), oblique_affine()), simulate=True)
    (hr, _), (lr, meta) = run_to_end(state.work())
    assert lr.shape == (4, 5, 6) and meta["degradation"]["factors"] == [2, 2, 2]


def test_compare_picks_the_sr_layers_family_and_refuses_one_layer_twice():
    lr = SimpleNamespace(name="scan", metadata={})
    gt = SimpleNamespace(name="truth", metadata={})
    sr = SimpleNamespace(name="scan SR m", metadata={"model": "m", "input": "scan", "ground_truth": "truth"})
    state = CompareState(lr=sr, sr=sr)
    assert state.problem() == "Pick different layers for LR, SR and ground truth."
    state.prefill({layer.name: layer for layer in (lr, gt, sr)})
    assert (state.lr, state.sr, state.gt) == (lr, sr, gt) and state.problem() is None
    assert CompareState().problem() == "Pick an LR layer and an SR layer to compare."


def test_self_sr_estimates_the_slice_profile_once_per_scan(monkeypatch):
    import napari_mrisr.selfsr.grid as grid
    from napari_mrisr.selfsr.profile_estimate import ProfileEstimate

    calls = []

    def estimate(volume, *_args):  # the estimator's own tests are in tests/selfsr
        calls.append(volume.name)
        return ProfileEstimate("gaussian", 2.5, 4.0, 2, 1e-3, 3.6, 2e-3, 2.2, 2.9)

    monkeypatch.setattr(grid, "estimate_profile", estimate)
    state = SelfSRState()
    scan = Volume(head_phantom((16, 16, 8)), np.diag([1.0, 1.0, 4.0, 1.0]), "thick")
    state.volume = scan
    first = state.grid
    assert (first.profile, first.thickness) == ("gaussian", 2.5) and "1.5 mm gap" in state.text
    state.spacing, state.spacing = 2.0, 0.5  # settings that leave the profile as it is
    assert calls == ["thick"] and state.grid == dataclasses.replace(first, out_spacing=0.5)
    assert state.grid.estimate == first.estimate and "Slice profile estimated" in state.text
    state.thickness = 3.0  # typed: a rect of it, no estimate
    assert state.grid.estimate is None
    assert (state.grid.profile, state.grid.thickness) == ("rect", 3.0)
    state.thickness = None
    assert calls == ["thick"] and state.grid.estimate == first.estimate
    state.volume = Volume(scan.data.copy(), scan.affine, "another")  # a new scan: estimated again
    assert calls == ["thick", "another"]


def test_self_sr_waits_for_an_estimate_run_elsewhere_and_drops_one_of_a_closed_scan():
    started = []  # what the dock's worker thread would run: (scan, done)
    state = SelfSRState()
    state.estimator = lambda volume, done: started.append((volume, done))
    scan = Volume(head_phantom((16, 16, 8)), np.diag([1.0, 1.0, 4.0, 1.0]), "thick")
    state.volume = scan
    # the header's geometry at once; no grid (Run stays off) until the profile is known
    assert not state.ready and "4 mm apart" in state.text and "Estimating the slice profile" in state.text
    state.spacing = 0.5  # a setting changed meanwhile: the same estimate is awaited, not a second
    assert [volume for volume, _ in started] == [scan] and not state.ready
    estimate = {"profile": "gaussian", "fwhm": 2.5, "note": "Slice profile estimated from the scan: x."}
    started[0][1](estimate)
    assert state.ready and (state.grid.profile, state.grid.thickness, state.grid.out_spacing) == (
        "gaussian",
        2.5,
        0.5,
    )
    assert state.grid.estimate == estimate and state.text.endswith("estimated from the scan: x.")

    other = Volume(scan.data.copy(), scan.affine, "other")
    state.volume = other  # another scan: its own estimate
    assert [volume.name for volume, _ in started] == ["thick", "other"] and not state.ready
    state.volume = scan  # back before it came: estimated again (no old scan is kept)
    assert [volume.name for volume, _ in started] == ["thick", "other", "thick"]
    started[1][1]({"profile": "rect", "fwhm": 1.0, "note": "n"})  # the other's, late: dropped
    assert not state.ready and "Estimating" in state.text
    started[2][1](estimate)
    assert state.ready and (state.grid.profile, state.grid.thickness) == ("gaussian", 2.5)
    state.thickness = 3.0  # typed: no estimate needed, none started
    assert state.ready and state.grid.thickness == 3.0 and len(started) == 3
