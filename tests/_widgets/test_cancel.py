"""Cancel takes effect within about a second, even inside one large tile, and never shows 100 %.

The network is made slow the way a large tile is slow: each convolution of a big input takes
a while (a sleep, here), so one tile takes far longer than the test waits.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch

from napari_mrisr.models import build_model
from napari_mrisr.volume.base import Volume
from napari_mrisr.zoo.model_file import save_model

from ..phantoms import head_phantom, oblique_affine
from .helpers import TIMEOUT_MS, add_volume, dock, wait_idle

CONV_SECONDS = 0.5  # per convolution of a tile (the probes of 8 voxels a side run at full speed)
CANCEL_WITHIN = 5.0  # seconds; generous for a slow CI machine (the run takes ~20 s)


class SlowConvolutions(list):
    """The times of the slow convolution calls; ``slow = False`` runs at full speed again."""

    slow = True


@pytest.fixture
def slow_convolutions(monkeypatch):
    """Every Conv3d on an input over 16 voxels a side sleeps first; the calls are counted."""
    calls = SlowConvolutions()
    forward = torch.nn.Conv3d.forward

    def slow(self, x):
        if calls.slow and min(x.shape[-3:]) > 16:
            calls.append(time.perf_counter())
            time.sleep(CONV_SECONDS)
        return forward(self, x)

    monkeypatch.setattr(torch.nn.Conv3d, "forward", slow)
    return calls


@pytest.fixture
def deep_model(tmp_path, monkeypatch):
    """A thin model of 40 convolutions: one 24-voxel tile runs ~20 s with slow convolutions."""
    folder = tmp_path / "models"
    save_model(build_model("edsr3d", 2, features=4, num_blocks=18), folder / "deep-x2.safetensors")
    monkeypatch.setenv("NAPARI_MRISR_MODELS", str(folder))


@pytest.mark.usefixtures("bundled_dir", "deep_model")
def test_cancel_inside_one_tile_stops_within_seconds(make_napari_viewer, qtbot, slow_convolutions):
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget

    viewer = make_napari_viewer(show=True)  # a shown window redraws the dock as the run starts
    layer = add_volume(viewer, Volume(head_phantom((24, 24, 24)), oblique_affine(), "scan"))
    widget = dock(viewer, SuperResolveWidget)
    widget.input.value = layer
    widget.device.value = "cpu"
    widget.tile.value = 64  # the whole scan in one tile
    shown = []  # every value the dock's bar takes
    widget.progress.changed.connect(lambda value: shown.append((value, widget.progress.max)))
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: len(slow_convolutions) >= 2, timeout=TIMEOUT_MS)  # inside the tile
    assert widget.progress.value == 0
    assert widget.cancel_button.native.isEnabled() and not widget.run_button.native.isEnabled()
    clicked = time.perf_counter()
    widget.cancel_button.native.click()
    wait_idle(qtbot, widget)
    took = time.perf_counter() - clicked
    assert took < CANCEL_WITHIN, f"cancel took {took:.1f} s"
    assert len(slow_convolutions) < 10  # of 40: the tile did not run on
    assert widget.progress.value < widget.progress.max  # not 100 %, and it never was
    assert all(value < top for value, top in shown), shown
    assert widget.status.value == "cancelled; no layer added"
    assert list(viewer.layers) == [layer] and widget.run_button.enabled

    # The next run works (at full speed, with the same model file) and adds its layer.
    slow_convolutions.slow = False
    print(f"cancel took {took:.2f} s")
    widget.run_button.native.click()
    wait_idle(qtbot, widget)
    assert viewer.layers[-1].name == "scan SR deep-x2"
    assert widget.progress.value == widget.progress.max


def test_the_engine_stops_inside_a_forward_and_leaves_the_model_as_it_was(slow_convolutions):
    """The core alone: a cancel check that turns true mid-forward ends the run with
    ``Cancelled`` at the next layer; the caller's model keeps no hook and its mode."""
    from napari_mrisr.engine.inference import iter_super_resolve, super_resolve
    from napari_mrisr.progress import Cancelled

    model = build_model("edsr3d", 2, features=4, num_blocks=18).train()
    volume = Volume(head_phantom((24, 24, 24)), oblique_affine(), "scan")
    run = iter_super_resolve(
        volume, model, device="cpu", tile=64, cancel=lambda: len(slow_convolutions) >= 2
    )
    events = []
    with pytest.raises(Cancelled):
        for event in run:
            events.append(event)
    assert len(slow_convolutions) == 2  # stopped before the third convolution
    assert all(event.done == 0 for event in events)
    assert model.training and all(not m._forward_pre_hooks for m in model.modules())
    slow_convolutions.slow = False
    assert super_resolve(volume, model.eval(), device="cpu", tile=12).shape == (48, 48, 48)


@pytest.mark.usefixtures("bundled_dir")
def test_self_supervised_cancel_shows_no_100_percent(viewer, qtbot, monkeypatch):
    from napari_mrisr._widgets.selfsr import SelfSRWidget
    from napari_mrisr.selfsr.train import BUDGETS, Budget, BudgetName

    tiny = Budget(features=4, num_blocks=1, patch=16, batch=4, steps=100_000, lr=1e-3)
    monkeypatch.setitem(BUDGETS, BudgetName.FAST, dataclasses.replace(tiny))
    add_volume(
        viewer, Volume(head_phantom((20, 22, 8)), oblique_affine(spacing=(1, 1, 3)), "aniso")
    )
    widget = dock(viewer, SelfSRWidget)
    qtbot.waitUntil(lambda: widget.state.ready, timeout=TIMEOUT_MS)
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: widget.progress.value >= 3, timeout=TIMEOUT_MS)
    clicked = time.perf_counter()
    widget.cancel_button.native.click()
    wait_idle(qtbot, widget)
    assert time.perf_counter() - clicked < CANCEL_WITHIN
    assert 0 < widget.progress.value < widget.progress.max
    assert widget.status.value == "cancelled; no layer added"
    assert [layer.name for layer in viewer.layers] == ["aniso"]
