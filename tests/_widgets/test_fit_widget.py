"""The Super-resolve widget offers only the models that fit the input scan, and says why."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.notifications import notification_manager

from napari_mrisr._widgets.super_resolve import UNFIT, SuperResolveWidget
from napari_mrisr.predict.method import BASELINE
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.geometry import upsampled_affine
from napari_mrisr.zoo import model_choice
from napari_mrisr.zoo.model_file import save_model

from ..phantoms import X2, X4, head_phantom, oblique_affine, tiny
from .helpers import add_volume, dock, wait_idle, world_mm

# Each test decides which models exist: the bundled folder is an empty stand-in.
pytestmark = pytest.mark.usefixtures("bundled_dir")


def pick(widget, name: str) -> None:
    widget.model.value = next(c for c in widget.model.choices if getattr(c, "name", "") == name)


def entries(widget) -> list[tuple[str, bool, str]]:
    """The model list as shown: (text, can be picked, tooltip)."""
    combo = widget.model.native
    items = [combo.model().item(i) for i in range(combo.count())]
    return [(item.text(), item.isEnabled(), item.toolTip()) for item in items]


def test_only_models_that_fit_the_scan_are_offered_and_others_say_why(
    viewer, qtbot, user_dir, errors, tmp_path
):
    save_model(tiny((1, 1, 4), X4), user_dir / "thick-x4.safetensors", X4)
    save_model(tiny(2, X2), user_dir / "iso-x2.safetensors", X2)
    affine = oblique_affine((4, 1, 1))
    sagittal = add_volume(viewer, Volume(head_phantom((5, 12, 10)), affine, "sagittal"))
    widget = dock(viewer, SuperResolveWidget)

    # a sagittal thick-slice scan: the x4 model fits (on file axis 0), the x2 does not
    assert widget.input.value is sagittal and widget.model.value.name == "thick-x4"
    shown = entries(widget)
    assert [(text, enabled) for text, enabled, _ in shown] == [
        ("thick-x4", True),
        ("iso-x2" + UNFIT, False),
        (BASELINE, True),
        ("open model file...", True),
    ]
    assert "does not fit 'sagittal'" in shown[1][2]
    assert widget.geometry.value == (
        "model: x4 through-plane, trained at 1 x 1 x 4 mm\n"
        "scan: 4 x 1 x 1 mm, thick axis: file axis 0 (L-R)\n"
        "result: 1 x 1 x 1 mm"
    )
    assert "1 model greyed out" in widget.hint.value

    # an isotropic 2 mm EPI: the choice moves to the x2 model and the hint says why
    epi = add_volume(viewer, Volume(head_phantom((6, 6, 6)), oblique_affine((2, 2, 2)), "epi"))
    widget.input.value = epi
    assert widget.model.value.name == "iso-x2"
    assert [text for text, enabled, _ in entries(widget) if not enabled] == ["thick-x4" + UNFIT]
    assert (
        "'thick-x4' (x4 through-plane, trained at 1 x 1 x 4 mm) does not fit 'epi'"
        in widget.hint.value
    )
    assert (
        widget.hint.value.endswith("Switched to iso-x2.")
        and "scan: 2 x 2 x 2 mm, isotropic" in widget.geometry.value
    )

    # a model file opened for a scan it does not fit is listed greyed out, with a notification
    opened = save_model(tiny((1, 1, 4), X4), tmp_path / "other-x4.safetensors", X4)
    assert widget.add_model_file(opened) is None and widget.model.value.name == "iso-x2"
    assert "'other-x4' (x4 through-plane" in notification_manager.records[-1].message
    assert ("other-x4" + UNFIT, False) in [(text, enabled) for text, enabled, _ in entries(widget)]

    # a model that does not fit is refused with one sentence before anything runs
    pick(widget, "thick-x4")
    widget.run_button.native.click()
    assert widget.worker is None and len(viewer.layers) == 2
    assert len(errors()) == 1 and "does not fit 'epi' (2 x 2 x 2 mm, isotropic)" in errors()[0]

    # the cubic baseline is always offered
    pick(widget, BASELINE)
    assert "(never refused)" in widget.geometry.value

    # back on the sagittal scan, the x4 model refines file axis 0, exactly on the grid rule
    widget.input.value = sagittal
    assert widget.model.value.name == BASELINE  # a choice that fits is kept
    pick(widget, "thick-x4")
    widget.run_button.native.click()
    wait_idle(qtbot, widget)
    sr = viewer.layers[-1]
    assert sr.name == "sagittal SR thick-x4"
    expected = upsampled_affine(affine, (4, 1, 1))
    for index in [(0, 0, 0), (3, 5, 7), (19, 11, 9)]:
        np.testing.assert_allclose(world_mm(sr, index), (expected @ [*index, 1])[:3], atol=1e-4)
    assert not errors()[1:]


def test_the_switch_prefers_a_compact_model_on_a_cpu_then_the_best_validation_psnr(viewer, qtbot, user_dir, monkeypatch):
    # "-full" models are the large ones (napari_mrisr.zoo.model_choice.FULL_SUFFIX): minutes on a CPU
    # without native bf16 (on one with it, and on a GPU, the switch prefers them)
    monkeypatch.setattr(model_choice, "native_bf16", lambda device: False)
    def scoring(psnr: float) -> dict:
        return {**X2, "metrics": {"validation": {"model": {"psnr_brain": psnr}}}}

    save_model(tiny((1, 1, 4), X4), user_dir / "thick-x4.safetensors", X4)
    save_model(tiny(2, X2), user_dir / "iso-x2-a-full.safetensors", scoring(60.0))  # listed first
    save_model(tiny(2, X2), user_dir / "iso-x2-b.safetensors", scoring(45.0))  # above the bundled ones
    save_model(tiny(2, X2), user_dir / "iso-x2-c.safetensors", scoring(50.0))
    add_volume(viewer, Volume(head_phantom((5, 12, 10)), oblique_affine((4, 1, 1)), "sagittal"))
    widget = dock(viewer, SuperResolveWidget)
    widget.device.value = "cpu"
    assert widget.model.value.name == "thick-x4"
    widget.input.value = add_volume(viewer, Volume(head_phantom((6, 6, 6)), oblique_affine((2, 2, 2)), "epi"))
    assert widget.model.value.name == "iso-x2-c"
