"""Training robust to the acquisition and the contrast: degradation families and HR augmentation
on both pipelines, the robust presets, and honest recipes in the exported/shipped model files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from napari_mrisr.training.config import AugmentConfig, ConfigError, load_config
from napari_mrisr.training.data.augment import (
    Augmentation,
    augment,
    augment_numpy,
    bias_field,
    draw_augmentation,
    rotated_copies,
)
from napari_mrisr.training.data.datamodule import SRDataModule
from napari_mrisr.training.data.device import DeviceBatches, to_device
from napari_mrisr.training.data.family import (
    Degradation,
    degrade_numpy,
    degrade_torch_batch,
    draw_degradation,
)
from napari_mrisr.training.data.volumes import TrainingVolume
from napari_mrisr.training.data.workers import PatchDataset
from napari_mrisr.training.engine import fit
from napari_mrisr.training.events import read_events
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.zoo.folders import bundled_models_dir
from napari_mrisr.zoo.metadata import read_metadata
from napari_mrisr.zoo.model_file import load_model

from ..phantoms import head_phantom
from .helpers import tiny_config


def _pipelines(batch_size=3, **overrides):
    """A device batch and a worker patch as large as the volume (one place to cut)."""
    volume = Volume(head_phantom((24, 20, 24)), np.eye(4))
    fields = {"data.patch_size": [24, 20, 24], "data.batch_size": batch_size, "data.intensity_jitter": 0.0,
              "data.flips": False, **overrides}
    config = load_config("tiny", fields)
    prepared = TrainingVolume.prepare(volume, config.degradation)
    batch = DeviceBatches([prepared], to_device([prepared], torch.device("cpu")), config, 1, seed=0).batch()
    torch.manual_seed(0)
    return batch, PatchDataset([prepared], config, length=1)[0]


# -- degradation families --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variant", "factors"),
    [
        ({"method": "gaussian", "width": 1.3}, [2, 1, 3]),
        ({"method": "thick_slice", "width": 0.7}, [1, 1, 4]),  # a slice gap
        ({"method": "thick_slice", "width": 1.6}, [2, 2, 2]),  # overlapping slices
        ({"method": "kspace"}, [2, 1, 3]),
        ({"method": "gaussian"}, [2, 2, 2]),
    ],
)
def test_a_family_variant_degrades_alike_on_both_pipelines(variant, factors):
    (lr, hr), (expected_lr, expected_hr) = _pipelines(
        **{"degradation.family": [variant], "degradation.factors": factors}
    )
    torch.testing.assert_close(hr[1], expected_hr)
    torch.testing.assert_close(lr[2], expected_lr, atol=1e-5, rtol=0)


def test_a_mixed_family_batch_degrades_each_patch_with_its_own_draw():
    family = [{"method": "kspace"}, {"method": "gaussian", "width": [0.8, 1.6]}, {"method": "thick_slice", "width": [0.5, 1.5]}]
    (lr, hr), _ = _pipelines(batch_size=12, **{"degradation.family": family})
    volume = Volume(head_phantom((24, 20, 24)), np.eye(4))
    config = load_config("tiny", {"data.patch_size": [24, 20, 24], "degradation.family": family})
    prepared = TrainingVolume.prepare(volume, config.degradation)
    batches = DeviceBatches([prepared], to_device([prepared], torch.device("cpu")), config, 1, seed=0)
    draws = [batches._draw() for _ in range(12)]
    assert {d.degradation.method for d in draws} == {"kspace", "gaussian", "thick_slice"}
    for d in draws:
        region = prepared.data[d.region]
        expected = degrade_numpy(region, config.degradation.factors, d.degradation, seed=0)
        got = degrade_torch_batch(
            torch.from_numpy(region)[None], config.degradation.factors, [d.degradation], torch.Generator()
        )[0]
        torch.testing.assert_close(got, torch.from_numpy(expected), atol=1e-5, rtol=0)


def test_a_width_of_one_lr_voxel_is_the_plain_thick_slice():
    region = head_phantom((16, 16, 16))
    plain = simulate_lr(Volume(region, np.eye(4)), (1, 1, 4), "thick_slice").data
    profiled = degrade_numpy(region, (1, 1, 4), Degradation("thick_slice", 1.0, 0.0), seed=0)
    np.testing.assert_allclose(profiled, plain, atol=1e-5)


def test_family_draws_follow_weights_widths_and_noise_ranges():
    config = load_config("tiny", {"degradation.noise": 0.04, "degradation.family": [
        {"method": "kspace", "weight": 3}, {"method": "gaussian", "width": [0.8, 1.5], "noise": [0.01, 0.02]},
    ]}).degradation
    rng = np.random.default_rng(0)
    draws = [draw_degradation(rng, config, maximum=2.0) for _ in range(400)]
    kspace = [d for d in draws if d.method == "kspace"]
    gaussian = [d for d in draws if d.method == "gaussian"]
    assert 0.65 < len(kspace) / 400 < 0.85
    assert all(d.width is None and 0 <= d.sigma <= 0.08 for d in kspace)
    assert all(0.8 <= d.width <= 1.5 and 0.02 <= d.sigma <= 0.04 for d in gaussian)


@pytest.mark.parametrize(
    ("variant", "field"),
    [({"method": "kspace", "width": 1.2}, "family.0"), ({"method": "gaussian", "width": [1.5, 1.0]}, "family.0.width"),
     ({"method": "gaussian", "width": 3}, "family.0"), ({"method": "blur"}, "family.0.method")],
)
def test_bad_family_variants_are_refused_with_their_field(variant, field):
    with pytest.raises(ConfigError, match=f"degradation.{field}"):
        load_config("tiny", {"degradation.family": [variant]})


def test_the_default_config_is_the_single_acquisition():
    config = load_config("tiny")
    assert config.degradation.family == [] and not config.data.augment.active


# -- augmentation ----------------------------------------------------------------------------
def test_default_augmentation_draws_nothing_and_changes_nothing():
    rng = np.random.default_rng(0)
    assert draw_augmentation(rng, AugmentConfig()) is None
    assert rng.random() == np.random.default_rng(0).random()  # no random numbers used
    x = torch.rand(2, 8, 8, 8)
    assert augment(x, [None, None]) is x
    region = np.random.default_rng(1).random((8, 8, 8)).astype(np.float32)
    assert augment_numpy(region, None) is region


def test_bias_field_is_smooth_and_mean_preserving():
    config = AugmentConfig(bias_field=0.15, bias_grid=3)  # the robust presets
    nodes = torch.from_numpy(np.stack([draw_augmentation(np.random.default_rng(i), config).bias for i in range(8)]))
    field = bias_field(nodes.float(), (40, 40, 40))
    assert field.shape == (8, 40, 40, 40) and (field > 0).all()
    torch.testing.assert_close(field.mean(dim=(1, 2, 3)), torch.ones(8), atol=1e-5, rtol=0)
    for dim in (1, 2, 3):  # smooth: neighbouring voxels differ by a few percent at most
        assert ((field.diff(dim=dim).abs() / field.narrow(dim, 0, 39)).max() < 0.05)
    assert field.std() > 0.03  # and it does change the intensities
    region = torch.rand(8, 40, 40, 40)  # a textured patch keeps its mean within a few percent
    biased = augment(region, [Augmentation(n.numpy(), 1.0, False) for n in nodes])
    torch.testing.assert_close(biased.mean(dim=(1, 2, 3)), region.mean(dim=(1, 2, 3)), atol=0.03, rtol=0)


def test_gamma_keeps_the_unit_range_and_the_order():
    x = torch.linspace(0, 1, 1000).view(1, 10, 10, 10).repeat(2, 1, 1, 1)
    y = augment(x, [Augmentation(None, 0.6, False), Augmentation(None, 1.7, False)])
    assert y.min() >= 0 and y.max() <= 1
    assert y[:, 0, 0, 0].eq(0).all() and y[:, -1, -1, -1].eq(1).all()
    assert (y.flatten(1).diff(dim=1) >= 0).all()  # monotone: contrast changes, anatomy does not
    assert y[0].mean() > x[0].mean() > y[1].mean()


def test_inversion_maps_the_intensity_range_onto_itself():
    x = torch.from_numpy(head_phantom((12, 12, 12)))[None] * 0.8 + 0.05
    y = augment(x, [Augmentation(None, 1.0, True)])
    assert y.min().item() == pytest.approx(x.min().item(), abs=1e-5) and y.max().item() == pytest.approx(x.max().item(), abs=1e-5)
    torch.testing.assert_close(y + x, torch.full_like(x, (x.min() + x.max()).item()))
    torch.testing.assert_close(augment(y, [Augmentation(None, 1.0, True)]), x)


def test_augmented_patches_are_the_same_on_both_pipelines():
    # The same draw on both: one worker patch and a batch of it (every patch drawn alike).
    config = AugmentConfig(bias_field=0.2, gamma=0.3, invert=1.0)
    draw = draw_augmentation(np.random.default_rng(3), config)
    region = head_phantom((16, 16, 16))
    cpu = augment_numpy(region, draw)
    device = augment(torch.from_numpy(region)[None].repeat(2, 1, 1, 1), [draw, draw])
    torch.testing.assert_close(device[1], torch.from_numpy(cpu))
    assert not np.allclose(cpu, region)


def _blob_centres_mm(volume: Volume, seeds_mm: np.ndarray) -> np.ndarray:
    """The centroid (mm) of the bright blob nearest each of ``seeds_mm``."""
    from scipy import ndimage

    labels, n = ndimage.label(volume.data > 0.5 * volume.data.max())
    centres = np.array(ndimage.center_of_mass(volume.data, labels, range(1, n + 1))) * volume.spacing
    return np.array([centres[np.argmin(np.linalg.norm(centres - seed, axis=1))] for seed in seeds_mm])


def test_rotated_copies_turn_the_head_rigidly_in_millimetres_by_at_most_the_angle():
    # Three blobs in a 1 x 1 x 2 mm volume: each copy must keep their distances in mm (a rigid
    # turn, not one in voxel units), turn them about the centre by at most 12 degrees, and
    # keep the grid, the range and the original.
    spacing = np.array([1.0, 1.0, 2.0])
    shape = (40, 40, 20)
    blobs_mm = np.array([[8.0, 20.0, 20.0], [30.0, 12.0, 26.0], [20.0, 32.0, 12.0]])
    grid = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing, strict=True)], indexing="ij"), -1)
    data = sum(np.exp(-((grid - b) ** 2).sum(-1) / (2 * 2.0**2)) for b in blobs_mm).astype(np.float32)
    volume = Volume(data, np.diag([*spacing, 1.0]))
    copies = rotated_copies([volume], AugmentConfig(rotation=12, rotated_copies=3), seed=0)
    assert len(copies) == 3 and np.array_equal(volume.data, data)
    centre = (np.asarray(shape) - 1) / 2 * spacing
    found = _blob_centres_mm(volume, blobs_mm)
    angles = []
    for copy in copies:
        assert copy.shape == shape and np.array_equal(copy.affine, volume.affine)
        assert copy.data.min() >= data.min() and copy.data.max() <= data.max()
        moved = _blob_centres_mm(copy, found)
        pairs = [(0, 1), (0, 2), (1, 2)]
        np.testing.assert_allclose([np.linalg.norm(moved[i] - moved[j]) for i, j in pairs],
                                   [np.linalg.norm(found[i] - found[j]) for i, j in pairs], atol=0.3)
        np.testing.assert_allclose(np.linalg.norm(moved - centre, axis=1), np.linalg.norm(found - centre, axis=1), atol=0.3)
        a, b = found - centre, moved - centre
        angles.append(np.degrees(np.arccos(np.clip((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1), -1, 1))).max())
    assert max(angles) <= 12.5 and max(angles) > 1  # turned, within the angle
    assert rotated_copies([volume], AugmentConfig(), seed=0) == []  # off by default


def test_rotated_copies_join_the_training_volumes_but_not_the_validation(tmp_path, data_dir):
    plain = SRDataModule(tiny_config(tmp_path, data_dir))
    augment = AugmentConfig(rotation=10, rotated_copies=2).model_dump()
    turned = SRDataModule(tiny_config(tmp_path, data_dir, data={**plain.config.data.model_dump(mode="json"), "augment": augment}))
    plain.setup(), turned.setup()
    assert len(turned.train_volumes) == 3 * len(plain.train_volumes)
    for a, b in zip(plain.validation, turned.validation, strict=True):
        np.testing.assert_array_equal(a.hr.data, b.hr.data)
    for a, b in zip(plain.train_volumes, turned.train_volumes, strict=False):  # the originals come first
        np.testing.assert_array_equal(a.data, b.data)


def test_robust_batches_differ_from_the_plain_ones_yet_pair_lr_and_hr():
    overrides = {"data.augment": {"bias_field": 0.2, "gamma": 0.3, "invert": 0.5},
                 "degradation.family": [{"method": "kspace"}, {"method": "gaussian", "width": [0.8, 1.5]}],
                 "degradation.noise": 0.02}
    (lr, hr), (cpu_lr, cpu_hr) = _pipelines(batch_size=8, **overrides)
    assert lr.shape == (8, 1, 12, 10, 12) and cpu_lr.shape == (1, 12, 10, 12)
    for low, high in ((lr, hr), (cpu_lr[None], cpu_hr[None])):
        assert torch.isfinite(low).all() and torch.isfinite(high).all()
        # LR is an acquisition of the augmented HR: their means agree per patch.
        pooled = torch.nn.functional.avg_pool3d(high.reshape(-1, 1, *high.shape[-3:]), 2).flatten(1).mean(1)
        torch.testing.assert_close(low.flatten(1).mean(1), pooled, atol=0.03, rtol=0)
    (plain_lr, plain_hr), _ = _pipelines(batch_size=8)
    assert not torch.allclose(hr, plain_hr)


# -- robust presets ----------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["mni_x2_iso_robust", "mni_x4_thick_robust"])
def test_robust_presets_use_a_family_and_augmentation(preset):
    config = load_config(preset)
    assert len(config.degradation.family) >= 3 and config.data.augment.active


def test_a_tiny_robust_run_trains_and_exports_an_honest_recipe(tmp_path, data_dir):
    config = tiny_config(
        tmp_path, data_dir, "mni_x2_iso_robust", schedule={"pretrain_steps": 20, "steps_per_epoch": 10, "log_every": 1}
    )
    result = fit(config, progress_bar=False)
    assert result["status"] == "finished", result["message"]
    steps = [e for e in read_events(config.run_dir / "events.jsonl") if e["event"] == "step"]
    losses_g = [e["losses"]["loss_g"] for e in steps]
    assert len(losses_g) == 20 and np.isfinite(losses_g).all()
    meta = load_model(result["model"]).meta
    assert meta["degradation"]["family"] and meta["training"]["config"]["data"]["augment"]["invert"] > 0
    schedule = meta["training"]["config"]["schedule"]
    assert schedule["pretrain_steps"] + schedule["adversarial_steps"] == meta["training"]["steps"]


# -- shipped recipes ----------------------------------------------------------------------------
def _header(path: Path) -> dict:
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + size])


def _bundled_models_and_their_stages() -> set[str]:
    """Bundled names, and the file each stage of a staged bundled model exports (``runs/NAME/NAME.safetensors``)."""
    found = set()
    for path in bundled_models_dir().glob("*.safetensors"):
        found.add(path.stem)
        training = read_metadata(path)["training"]
        if training.get("stages"):  # the last stage's config is the file's own
            names = [stage["config"]["name"] for stage in training["stages"][:-1]] + [training["config"]["name"]]
            found.update(f"runs/{name}/{name}.safetensors" for name in names)
    return found


@pytest.mark.parametrize("path", sorted(bundled_models_dir().glob("*.safetensors")), ids=lambda p: p.stem)
def test_every_shipped_model_embeds_the_schedule_it_was_trained_for(path):
    training = read_metadata(path)["training"]
    schedule = training["config"]["schedule"]
    assert schedule["pretrain_steps"] + schedule["adversarial_steps"] == training["steps"]
    init = training["config"]["generator"]["init_weights"]
    stages = training.get("stages")
    if stages:  # a staged recipe: each stage's steps, the last one is this file's
        assert stages[-1]["steps"] == training["steps"] and all(stage["steps"] > 0 for stage in stages)
    elif init:  # a GAN twin: only adversarial steps, from a bundled model or a stage of one
        assert schedule["pretrain_steps"] == 0 and init in _bundled_models_and_their_stages()
    assert load_file(path)  # still a readable safetensors file
    assert _header(path)["__metadata__"]
