"""Which model runs by default: one rule (zoo.model_choice.preferred) for mrisr predict, its
cohorts, mrisr models' marks and the Super-resolve widget, among the models that fit the scan."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mrisr.volume.base import Volume
from napari_mrisr.zoo import model_choice
from napari_mrisr.zoo.model_choice import (
    bundled_inputs,
    choose_bundled,
    default_bundled,
    device_rule,
    preferred,
)


def scan(spacing, name="scan") -> Volume:
    return Volume(np.zeros((4, 4, 4)), np.diag([*spacing, 1.0]), name)


@pytest.fixture(params=[False, True], ids=["compact-cpu", "bf16-cpu"])
def bf16(request, monkeypatch):
    monkeypatch.setattr(model_choice, "native_bf16", lambda device: request.param)
    return request.param


def test_the_default_follows_the_fit_and_the_machine(bf16):
    full = "-full" if bf16 else ""
    rule = (
        "full: this CPU computes bf16 natively" if bf16 else "compact: this CPU has no native bf16"
    )
    assert device_rule("cpu") == (bf16, rule)
    thick = choose_bundled(scan((1, 1, 4)), "cpu")
    assert (
        thick.info.name == f"mni-x4-thick{full}" and thick.fit.ok and thick.fit.factors == (1, 1, 4)
    )
    assert thick.why == f"the bundled model that fits 1 x 1 x 4 mm thick slices ({rule})"
    iso = choose_bundled(scan((2, 2, 2)), "cpu")
    assert iso.info.name == f"mni-x2-iso{full}"
    assert iso.why == f"the bundled model that fits 2 x 2 x 2 mm isotropic voxels ({rule})"
    assert choose_bundled(scan((1, 1, 1)), "cpu") is None  # nothing to refine
    assert default_bundled("cpu") == {f"mni-x2-iso{full}", f"mni-x4-thick{full}"}


def test_a_gan_is_never_the_default_and_the_kind_that_suits_comes_first():
    gan = {"training": {"config": {"discriminator": {"architecture": "patch"}}}}

    def scored(psnr):
        return {"metrics": {"validation": {"model": {"psnr_brain": psnr}}}}

    # the GAN suits the device and scores best: still not the default
    assert (
        preferred([("g", "x-full-gan", {**gan, **scored(40)}), ("c", "x", scored(30))], True) == "c"
    )
    assert preferred([("g", "x-gan", gan)], False) is None
    assert preferred([("c", "x", scored(35)), ("f", "x-full", scored(30))], True) == "f"
    assert preferred([("c", "x", scored(30)), ("f", "x-full", scored(35))], False) == "c"


def test_the_bundled_inputs_are_named_in_words():
    assert bundled_inputs() == ["LR 2 x 2 x 2 mm", "1 x 1 x 4 mm thick slices"]
