"""The training package on CPU with tiny models: config, data split, losses, every preset's
generator/discriminator/loss combination, checkpoints, resume, stop, NaN stop and export."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_mrisr.engine.inference import super_resolve
from napari_mrisr.training import losses
from napari_mrisr.training.cli import main as train_cli
from napari_mrisr.training.config import (
    ConfigError,
    list_presets,
    load_config,
    save_config,
)
from napari_mrisr.training.data.datamodule import SRDataModule
from napari_mrisr.training.data.device import DeviceBatches, to_device
from napari_mrisr.training.data.volumes import TrainingVolume, split_volumes
from napari_mrisr.training.data.workers import PatchDataset
from napari_mrisr.training.discriminators import (
    DiscriminatorArchitecture,
    build_discriminator,
    haar_dwt,
)
from napari_mrisr.training.engine import fit
from napari_mrisr.training.events import read_events
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.geometry import as_factors, upsampled_affine
from napari_mrisr.zoo.metadata import read_metadata
from napari_mrisr.zoo.model_file import load_model

from ..phantoms import head_phantom, oblique_affine
from .helpers import TINY_DISCRIMINATORS, TINY_GENERATORS, tiny_config


# -- config ---------------------------------------------------------------------------------
def test_every_preset_is_valid_and_round_trips_through_yaml(tmp_path):
    assert {"tiny", "srgan3d_lsgan", "edsr3d_mse", "rrdb3d_patch", "rrdb3d_wavelet", "dcsrn_wgan_gp", "srgan2d"} <= set(list_presets())
    for name in list_presets():
        config = load_config(name)
        path = save_config(config, tmp_path / f"{name}.yaml")
        assert load_config(path) == config


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"schedule.pretrain_steps": -1}, "schedule.pretrain_steps"),
        ({"data.patch_size": [24, 24, 25]}, "patch_size"),
        ({"generator.architecture": "unet"}, "generator.architecture"),
        ({"loss.adversarial": "hinge"}, "loss.adversarial"),
        ({"data.bogus": 1}, "data.bogus"),
        ({"schedule.adversarial_steps": 10}, "discriminator"),
    ],
)
def test_bad_fields_are_refused_with_their_name(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config("tiny", override)


def test_cli_bad_config_exits_2_with_one_sentence(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schedule: {steps_per_epoch: 0}\n")
    assert train_cli(["fit", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "schedule.steps_per_epoch" in err


# -- data ---------------------------------------------------------------------------------
def test_single_volume_split_keeps_a_gap_between_training_and_validation_slabs():
    volume = Volume(head_phantom((30, 32, 60)), oblique_affine())
    config = load_config("tiny", {"data.slab_gap": 6, "data.validation_fraction": 0.2}).data
    train, (val,) = split_volumes([volume], config, (2, 2, 2))
    # The superior axis is data axis 2; slabs keep their exact world position.
    world_z = lambda v, k: (v.affine @ [0, 0, k, 1])[2]  # noqa: E731
    val_lo, val_hi = world_z(val, 0), world_z(val, val.shape[2] - 1)
    assert val.shape[2] % 2 == 0 and val.shape[2] >= 10
    for slab in train:
        lo, hi = sorted((world_z(slab, 0), world_z(slab, slab.shape[2] - 1)))
        gap = min(abs(lo - val_hi), abs(val_lo - hi))
        assert gap > 6 * 1.3  # 6 voxels of 1.3 mm, never overlapping
    k0 = int(round((np.linalg.inv(volume.affine) @ val.affine[:, 3])[2]))
    np.testing.assert_array_equal(val.data, volume.data[:, :, k0 : k0 + val.shape[2]])
    total = sum(s.shape[2] for s in train) + val.shape[2] + 2 * 6
    assert total == 60


def test_patches_pair_lr_and_hr_with_the_forward_model():
    volume = Volume(head_phantom((32, 32, 32)), np.eye(4))
    config = load_config("tiny", {"data.patch_size": [16, 16, 16], "data.flips": False, "data.intensity_jitter": 0.0})
    prepared = TrainingVolume.prepare(volume, config.degradation)
    dataset = PatchDataset([prepared], config, length=8)
    torch.manual_seed(0)
    for i in range(4):
        lr, hr = dataset[i]
        assert lr.shape == (1, 8, 8, 8) and hr.shape == (1, 16, 16, 16)
        # k-space degradation keeps the mean: an LR patch and its HR patch agree on average.
        assert abs(lr.mean() - hr.mean()) < 0.05 * hr.abs().max()


def whole_volume_patches(batch_size, **overrides):
    """A device batch and a worker patch as large as the volume: one place to cut, so both
    pipelines degrade the same region (the worker patch without flips and jitter)."""
    volume = Volume(head_phantom((24, 20, 24)), np.eye(4))
    fields = {"data.patch_size": [24, 20, 24], "data.batch_size": batch_size, "data.intensity_jitter": 0.0, **overrides}
    config = load_config("tiny", fields)
    prepared = TrainingVolume.prepare(volume, config.degradation)
    batch = DeviceBatches([prepared], to_device([prepared], torch.device("cpu")), config, 1, seed=0).batch()
    return batch, PatchDataset([prepared], load_config("tiny", {**fields, "data.flips": False}), length=1)[0]


@pytest.mark.parametrize(("method", "factors"), [("kspace", [2, 1, 3]), ("gaussian", [2, 2, 2]), ("thick_slice", [1, 1, 4])])
def test_device_batches_equal_the_worker_patches(method, factors):
    (lr, hr), (expected_lr, expected_hr) = whole_volume_patches(
        3, **{"data.flips": False, "degradation.method": method, "degradation.factors": factors}
    )
    assert lr.shape == (3, *expected_lr.shape) and hr.shape == (3, *expected_hr.shape)
    assert lr.dtype == hr.dtype == torch.float32 and lr.is_contiguous() and hr.is_contiguous()
    torch.testing.assert_close(hr[1], expected_hr)
    torch.testing.assert_close(lr[2], expected_lr, atol=1e-5, rtol=0)


def test_device_batches_flip_lr_and_hr_together():
    # thick_slice is symmetric: the LR of a flipped HR is the flipped LR.
    (lr, hr), (expected_lr, expected_hr) = whole_volume_patches(16, **{"degradation.method": "thick_slice"})
    subsets = [a for n in range(4) for a in itertools.combinations((1, 2, 3), n)]
    seen = set()
    for b in range(16):
        axes = next(a for a in subsets if torch.equal(hr[b], expected_hr.flip(a)))
        torch.testing.assert_close(lr[b], expected_lr.flip(axes), atol=1e-5, rtol=0)
        seen.add(axes)
    assert len(seen) > 2  # flips differ per patch


def test_device_batches_draw_like_the_workers():
    volumes = [TrainingVolume.prepare(Volume(head_phantom((32, 30, 28), seed=i), np.eye(4)), load_config("tiny").degradation) for i in range(2)]
    config = load_config("tiny", {
        "data.patch_size": [16, 16, 16], "data.batch_size": 64, "degradation.noise": 0.05,
    })
    lr, hr = DeviceBatches(volumes, to_device(volumes, torch.device("cpu")), config, 1, seed=1).batch()
    torch.manual_seed(0)
    dataset = PatchDataset(volumes, config, length=64)
    cpu_lr, cpu_hr = (torch.stack(t) for t in zip(*(dataset[i] for i in range(64)), strict=True))
    assert lr.shape == cpu_lr.shape == (64, 1, 8, 8, 8) and hr.shape == cpu_hr.shape == (64, 1, 16, 16, 16)
    for device, cpu in ((lr, cpu_lr), (hr, cpu_hr)):
        assert device.dtype == cpu.dtype == torch.float32
        # Same value ranges and foreground share: the same draws, flips, jitter and noise.
        assert device.min() >= cpu.min() - 0.15 and device.max() <= cpu.max() + 0.15
        assert device.mean().item() == pytest.approx(cpu.mean().item(), abs=0.05)
    noise = (lr - torch.nn.functional.avg_pool3d(hr, 2)).std()  # noise (and blur) in both
    cpu_noise = (cpu_lr - torch.nn.functional.avg_pool3d(cpu_hr, 2)).std()
    assert noise.item() == pytest.approx(cpu_noise.item(), rel=0.3)


def test_pipeline_auto_uses_the_workers_on_cpu_and_device_when_asked(tmp_path, data_dir):
    config = tiny_config(tmp_path, data_dir)
    assert config.data.pipeline == "auto"
    assert SRDataModule(config).pipeline_device() is None
    forced = tiny_config(tmp_path, data_dir, data={"pipeline": "device"})
    module = SRDataModule(forced)
    module.setup()
    assert module.pipeline_device() == torch.device("cpu")
    assert isinstance(module.train_dataloader(), DeviceBatches)


def test_device_pipeline_trains_on_cpu_and_the_loss_falls(tmp_path, data_dir):
    config = tiny_config(
        tmp_path, data_dir, data={"pipeline": "device"}, schedule={"pretrain_steps": 30, "steps_per_epoch": 30}
    )
    result = fit(config, progress_bar=False)
    assert result["status"] == "finished", result["message"]
    losses_g = [e["losses"]["loss_g"] for e in read_events(config.run_dir / "events.jsonl") if e["event"] == "step"]
    assert len(losses_g) == 30 and np.isfinite(losses_g).all()
    assert np.mean(losses_g[-5:]) < 0.75 * np.mean(losses_g[:5])


# -- losses and discriminators --------------------------------------------------------------
def test_consistency_loss_sees_only_what_the_lr_measures():
    from napari_mrisr.volume.degrade_torch import simulate_lr as degrade

    hr = torch.rand(2, 1, 8, 8, 8)
    index = torch.arange(8)
    nyquist = (-1.0) ** (index[:, None, None] + index[None, :, None] + index[None, None, :])
    kspace = lambda x: degrade(x, 2, "kspace")  # noqa: E731
    # A checkerboard lies beyond a x2 acquisition's k-space: a content error the LR cannot show.
    assert losses.consistency_loss(hr + 0.3 * nyquist, hr, kspace).item() < 1e-6
    assert losses.content_loss("l1", hr + 0.3 * nyquist, hr).item() == pytest.approx(0.3)
    # An offset is measured whole (the LR keeps the mean intensity).
    assert losses.consistency_loss(hr + 0.3, hr, kspace).item() == pytest.approx(0.3, rel=1e-5)


@pytest.mark.parametrize("preset", ["tiny", "srgan2d"])  # 3D patches and slice-wise 2D
def test_a_run_with_the_consistency_loss_logs_it_in_the_generator_loss(tmp_path, data_dir, preset):
    config = tiny_config(tmp_path, data_dir, preset, loss={"consistency_weight": 0.5})
    result = fit(config, progress_bar=False)
    assert result["status"] == "finished", result["message"]
    steps = [e for e in read_events(config.run_dir / "events.jsonl") if e["event"] == "step"]
    assert [e["phase"] for e in steps][:2] == ["pretrain"] * 2
    for event in steps:
        logged = event["losses"]
        assert logged["loss_consistency"] > 0
        if event["phase"] == "pretrain":  # then the adversarial terms join
            expected = logged["loss_content"] + 0.5 * logged["loss_consistency"]
            assert logged["loss_g"] == pytest.approx(expected, rel=1e-5)


def test_wgan_gp_penalty_matches_a_hand_computed_value_per_sample():
    # Critic D(x) = sum(x^2) / 2 has gradient x, so at real == fake the penalty is
    # mean_i (||x_i|| - 1)^2 whatever the interpolation weights.
    x = torch.zeros(2, 1, 2, 2, 2)
    x[0, 0, 0, 0, 0] = 3.0  # ||x_0|| = 3
    x[1, 0, :, :, :] = 0.5  # ||x_1|| = sqrt(8) * 0.5
    critic = lambda v: (v**2).flatten(1).sum(1) / 2  # noqa: E731
    expected = ((3.0 - 1) ** 2 + (np.sqrt(8) * 0.5 - 1) ** 2) / 2
    assert losses.gradient_penalty(critic, x, x).item() == pytest.approx(expected, rel=1e-6)
    # A linear critic w.x has gradient w for every sample: penalty (||w|| - 1)^2.
    w = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
    linear = lambda v: (v * w).flatten(1).sum(1)  # noqa: E731
    penalty = losses.gradient_penalty(linear, torch.rand(3, 1, 2, 2, 2), torch.rand(3, 1, 2, 2, 2))
    assert penalty.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-6)


def test_gradient_loss_and_label_smoothing():
    hr = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
    assert losses.gradient_loss(hr, hr).item() == 0
    # SR flat: |dSR| = 0, |dHR| = 4, 2, 1 along the three axes -> mean of 16, 4, 1.
    assert losses.gradient_loss(torch.zeros_like(hr), hr).item() == pytest.approx((16 + 4 + 1) / 3)
    d = torch.zeros(64, 1)
    first = losses.discriminator_loss("lsgan", d, d, label_smoothing=True)
    second = losses.discriminator_loss("lsgan", d, d, label_smoothing=True)
    assert first != second  # labels drawn anew every step (the reference drew them once)
    assert losses.discriminator_loss("lsgan", d + 1, d).item() == 0


@pytest.mark.parametrize("name", ["srgan", "patch", "wavelet", "wgan"])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_discriminators_judge_patches_and_expose_features(name, spatial_dims):
    net = build_discriminator(name, spatial_dims=spatial_dims, **TINY_DISCRIMINATORS[name])
    x = torch.rand(2, 1, 4 if spatial_dims == 2 else 16, 16, 16)
    out = net(x)
    batch = 2 * x.shape[2] if spatial_dims == 2 else 2
    assert out.shape[0] == batch and torch.isfinite(out).all()
    if name == "wavelet":
        assert out.shape[2:] == x.shape[3 if spatial_dims == 2 else 2 :]  # a logit per voxel
    assert all(f.shape[0] == batch for f in net.features(x))


@pytest.mark.parametrize("name", [a for a in DiscriminatorArchitecture if a != "none"])
def test_discriminator_checkpoints_hold_each_tensor_once(name):
    state = build_discriminator(name, **TINY_DISCRIMINATORS[name]).state_dict()
    storages = [t.untyped_storage().data_ptr() for t in state.values()]
    assert len(storages) == len(set(storages)), sorted(state)
    if name == "wavelet":  # earlier versions also saved enc1..dec1 as stages.0..4: still loadable
        blocks = ("enc1", "enc2", "bottom", "dec2", "dec1")
        twice = {
            f"stages.{i}.{key[len(block) + 1 :]}": value
            for i, block in enumerate(blocks)
            for key, value in state.items()
            if key.startswith(f"{block}.")
        }
        assert len(twice) > 0
        build_discriminator(name, **TINY_DISCRIMINATORS[name]).load_state_dict({**state, **twice})


@pytest.mark.parametrize("spatial_dims", [3, 2])
def test_a_batch_norm_discriminator_learns_to_tell_blurred_patches_from_sharp_ones(spatial_dims):
    # Judged in separate batches, the srgan discriminator's batch norm gave every batch the
    # same mean score: D(HR) == D(SR) to three decimals, and the GAN presets trained no GAN.
    from napari_mrisr.training.module import SRModule

    torch.manual_seed(0)
    config = load_config("srgan2d" if spatial_dims == 2 else "srgan3d_lsgan")
    config.discriminator.options = {**config.discriminator.options, "features": 4, "hidden": 16}
    module = SRModule(config.model_dump(mode="json"))
    optimiser = torch.optim.Adam(module.discriminator.parameters(), lr=1e-3)
    blur = torch.nn.AvgPool3d((1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)  # in-plane

    def patches():
        sharp = torch.rand(4, 1, 2 if spatial_dims == 2 else 16, 16, 16)
        return sharp, blur(sharp) * 2 - 0.5  # the same mean, less detail

    for _ in range(60):
        loss = losses.discriminator_loss("lsgan", *module.judge(None, *patches()))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        d_sharp, d_blurred = module.judge(None, *patches())
    assert d_sharp.mean() - d_blurred.mean() > 0.5, (d_sharp.mean(), d_blurred.mean())


def test_a_spectral_norm_discriminator_tells_faint_detail_apart_only_with_an_input_gain():
    # Spectral norm makes it 1-Lipschitz: on detail a few hundredths of the intensity range,
    # its scores for sharp and blurred patches stayed equal (the compact x4 GAN run, 2026-11-23).
    from napari_mrisr.training.module import SRModule

    blur = torch.nn.AvgPool3d((1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)

    def score_gap(gain: float) -> float:
        torch.manual_seed(0)
        config = load_config("srgan3d_lsgan", {
            "discriminator.architecture": "patch",
            "discriminator.options": {"features": 4, "num_blocks": 2, "norm": "spectral"},
            "discriminator.input_gain": gain,
        })
        module = SRModule(config.model_dump(mode="json"))
        optimiser = torch.optim.Adam(module.discriminator.parameters(), lr=1e-3)

        def patches():
            sharp = 0.05 * torch.rand(4, 1, 16, 16, 16)
            return sharp, blur(sharp)

        for _ in range(100):
            loss = losses.discriminator_loss("lsgan", *module.judge(None, *patches()), False)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            d_sharp, d_blurred = module.judge(None, *patches())
        return float(d_sharp.mean() - d_blurred.mean())

    assert abs(score_gap(1.0)) < 0.05
    assert score_gap(20.0) > 0.5


def test_a_detail_discriminator_sees_only_what_the_lr_input_does_not_show():
    from napari_mrisr.training.module import SRModule

    torch.manual_seed(0)
    config = load_config("srgan3d_lsgan", {"generator.options": TINY_GENERATORS["srgan3d"], "discriminator.architecture": "wgan", "discriminator.options": TINY_DISCRIMINATORS["wgan"]})
    lr, hr, fake = torch.rand(2, 1, 8, 8, 8), torch.rand(2, 1, 16, 16, 16), torch.rand(2, 1, 16, 16, 16)
    brighter = lr + 0.3, hr + 0.3, fake + 0.3  # what the LR shows changed, the detail not
    for judges in ("image", "detail"):
        config.discriminator.judges = judges
        module = SRModule(config.model_dump(mode="json"))
        same = [torch.allclose(a, b, atol=1e-6) for a, b in zip(module.judge(lr, hr, fake), module.judge(*brighter), strict=True)]
        assert all(same) == (judges == "detail"), (judges, same)


def test_haar_dwt_is_orthonormal():
    x = torch.rand(1, 1, 8, 6, 4)
    low, high = haar_dwt(x)
    assert low.shape == (1, 1, 4, 3, 2) and high.shape == (1, 7, 4, 3, 2)
    torch.testing.assert_close((low**2).sum() + (high**2).sum(), (x**2).sum())
    torch.testing.assert_close(low.mean() / 8**0.5, x.mean())


# -- runs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", [p for p in list_presets() if p != "tiny"])
def test_every_preset_combination_trains_a_few_steps(tmp_path, data_dir, preset):
    config = tiny_config(tmp_path, data_dir, preset)
    result = fit(config, progress_bar=False)
    assert result["status"] == "finished", result["message"]
    events = read_events(config.run_dir / "events.jsonl")
    steps = [e for e in events if e["event"] == "step"]
    adversarial = config.schedule.adversarial_steps
    assert [e["step"] for e in steps] == list(range(1, 3 + adversarial))
    assert [e["phase"] for e in steps] == ["pretrain"] * 2 + ["adversarial"] * adversarial
    assert all(np.isfinite(list(e["losses"].values())).all() for e in steps)
    if adversarial:
        assert "loss_d" in steps[-1]["losses"] and "loss_adversarial" in steps[-1]["losses"]
    validation = [e for e in events if e["event"] == "validation"]
    assert len(validation) == 1 + bool(adversarial)
    assert set(validation[-1]["metrics"]) == {"model", "cubic"}
    assert events[-1]["event"] == "end" and events[-1]["status"] == "finished"


def test_fit_validates_against_cubic_and_exports_a_model_the_plugin_runs(tmp_path, data_dir):
    config = tiny_config(tmp_path, data_dir, "tiny")
    result = fit(config, progress_bar=False)
    assert result["status"] == "finished"
    run = config.run_dir
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "samples").glob("*.png")) and list((run / "csv").rglob("metrics.csv"))
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    table = result["validation"]
    assert set(table["cubic"]) == {"psnr_brain", "ssim_brain", "nrmse_brain", "psnr", "ssim", "nrmse"}

    model = load_model(result["model"])
    assert model.meta["degradation"]["factors"] == [2, 2, 2]
    geometry = model.meta["input_geometry"]  # the phantoms' spacing (0.9, 1.1, 1.3) mm, x2
    assert geometry["spacing_mm"] == pytest.approx([1.8, 2.2, 2.6]) and geometry["through_plane_axis"] is None
    assert model.meta["metrics"]["validation"]["cubic"]["psnr"] == pytest.approx(table["cubic"]["psnr"])
    lr = Volume(head_phantom((10, 12, 8)), oblique_affine())
    sr = super_resolve(lr, model, tile=8)
    assert sr.shape == (20, 24, 16)
    np.testing.assert_allclose(sr.affine, upsampled_affine(lr.affine, as_factors(2)))
    # The CLI's export gives the same file content.
    out = tmp_path / "again.safetensors"
    assert train_cli(["export", str(run / "checkpoints" / "best.ckpt"), str(out)]) == 0
    for a, b in zip(load_model(out).state_dict().values(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    # An existing model file is replaced only with --force.
    out.write_bytes(b"the user's model")
    assert train_cli(["export", str(run / "checkpoints" / "best.ckpt"), str(out)]) == 2
    assert out.read_bytes() == b"the user's model"
    assert train_cli(["export", str(run / "checkpoints" / "best.ckpt"), str(out), "--force"]) == 0
    assert load_model(out).meta["degradation"]["factors"] == [2, 2, 2]


def test_nan_loss_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path, data_dir, monkeypatch):
    config = tiny_config(tmp_path, data_dir, "tiny", schedule={"pretrain_steps": 6, "steps_per_epoch": 2})
    real = losses.content_loss
    calls = {"n": 0}

    def poisoned(kind, sr, hr):
        calls["n"] += 1
        value = real(kind, sr, hr)
        return value * float("nan") if calls["n"] == 4 else value

    monkeypatch.setattr(losses, "content_loss", poisoned)
    result = fit(config, progress_bar=False)
    # Checked every log_every steps and before each checkpoint (no per-step wait on a GPU).
    assert result["status"] == "error" and "NaN" in result["message"] and "at step 4" in result["message"]
    state = torch.load(config.run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["steps_done"] == 2
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
    assert read_events(config.run_dir / "events.jsonl")[-1]["status"] == "error"


def test_last_checkpoint_is_the_last_state_even_when_validation_got_worse(tmp_path, data_dir, monkeypatch):
    import napari_mrisr.training.module

    real = napari_mrisr.training.module.mean_tables
    calls = {"n": 0}

    def worse_each_time(results):
        table = real(results)
        calls["n"] += 1
        table["model"]["psnr_brain"] = 40.0 - calls["n"]
        return table

    monkeypatch.setattr(napari_mrisr.training.module, "mean_tables", worse_each_time)
    config = tiny_config(tmp_path, data_dir, "tiny", schedule={"pretrain_steps": 6, "steps_per_epoch": 2})
    fit(config, progress_bar=False)
    checkpoints = config.run_dir / "checkpoints"
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["steps_done"] == 6
    assert torch.load(checkpoints / "best.ckpt", weights_only=True)["steps_done"] == 2


def test_a_run_cut_by_max_time_records_the_steps_it_did(tmp_path, data_dir):
    config = tiny_config(
        tmp_path, data_dir, "tiny",
        schedule={"pretrain_steps": 100_000, "steps_per_epoch": 100_000, "log_every": 1},
        trainer={"accelerator": "cpu", "max_time": "00:00:00:02"},
    )
    result = fit(config, progress_bar=False)
    assert result["status"] == "finished" and result["validation"]  # validated where it stopped
    done = max(e["step"] for e in read_events(config.run_dir / "events.jsonl") if e["event"] == "step")
    assert 0 < done < 100_000
    assert torch.load(config.run_dir / "checkpoints" / "last.ckpt", weights_only=True)["steps_done"] == done
    training = read_metadata(result["model"])["training"]
    assert training["steps"] == done and training["planned_steps"] == 100_000
    # The embedded recipe is the run as it went, so re-running it reproduces the file.
    assert training["config"]["schedule"]["pretrain_steps"] == done


def _run_cli(config_path, *extra):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "napari_mrisr.training", "fit", str(config_path), "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )


PIPE_BYTES = 4096  # one page: the least a Linux pipe holds


class _PipedRun:
    """`python -m napari_mrisr.training fit CONFIG --events -` in a subprocess whose output (its
    events, one JSON object a line, and its log) goes through a pipe of one page that only the
    test drains.

    While the test does not read, the run blocks on its next write once the pipe is full. So
    however late the test acts on an event (a loaded machine), the run is at most a page of
    output past that event when the signal lands: what the test sees bounds what the run did,
    with no timing window.
    """

    def __init__(self, config_path, *extra):
        read_fd, write_fd = os.pipe()
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux; set before the run can write anything
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "napari_mrisr.training", "fit", str(config_path), "--quiet", "--events", "-", *extra],
                stdout=write_fd,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            os.close(write_fd)  # the run holds the only write end: EOF when it ends
        self._fd = read_fd
        self._buffer = b""
        self._checked = 0
        self.output: list[str] = []  # every complete line
        self.events: list[dict] = []  # the JSON event lines among them

    def _read(self, deadline: float) -> bool:
        """Read what the run has written (waiting until ``deadline``); False at end of output."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.proc.kill()
            raise AssertionError("timed out waiting for the training subprocess:\n" + self.log())
        ready, _, _ = select.select([self._fd], [], [], min(remaining, 1.0))
        if not ready:
            return True
        chunk = os.read(self._fd, 65536)
        if not chunk:
            return False
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            self.output.append(line)
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "event" in record:
                self.events.append(record)
        return True

    def read_until(self, predicate, timeout: float = 300) -> dict:
        """Read until an event matches ``predicate`` (in order) and return it; the run then
        blocks once it has written a page more, until the test reads again."""
        deadline = time.monotonic() + timeout
        while True:
            while self._checked < len(self.events):
                event = self.events[self._checked]
                self._checked += 1
                if predicate(event):
                    return event
            if not self._read(deadline):
                code = self.proc.wait()
                raise AssertionError(f"training ended (exit code {code}) before the event:\n" + self.log())

    def finish(self, timeout: float = 300) -> int:
        """Read everything until the run ends; its exit code."""
        deadline = time.monotonic() + timeout
        while self._read(deadline):
            pass
        os.close(self._fd)
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def log(self, lines: int = 40) -> str:
        return "\n".join(self.output[-lines:] + [self._buffer.decode(errors="replace")])


def _start_run(tmp_path, data_dir, schedule, until):
    """`python -m napari_mrisr.training fit` of the tiny preset in a subprocess (a :class:`_PipedRun`),
    returned once ``until`` matches an event: (config, config file, run, the matching event)."""
    config = tiny_config(tmp_path, data_dir, "tiny", schedule={**schedule, "log_every": 1})
    path = save_config(config, tmp_path / "run.yaml")
    run = _PipedRun(path)
    try:
        event = run.read_until(until)
    except BaseException:
        if run.proc.poll() is None:
            run.proc.kill()
        raise
    return config, path, run, event


@pytest.mark.slow
@pytest.mark.subprocess
def test_resume_after_a_kill_continues_from_the_last_checkpoint(tmp_path, data_dir):
    schedule = {"pretrain_steps": 60, "steps_per_epoch": 4}  # 60: far more than two pages of events past step 8
    # The `last` checkpoint (last.ckpt written, then its event): the `best` one comes just before it.
    config, path, run, seen = _start_run(
        tmp_path, data_dir, schedule, lambda e: e["event"] == "checkpoint" and e["kind"] == "last" and e["step"] >= 8
    )
    run.proc.send_signal(signal.SIGKILL)  # no chance to clean up
    assert run.finish() == -signal.SIGKILL  # killed mid-run, not finished
    killed_at = torch.load(config.run_dir / "checkpoints" / "last.ckpt", weights_only=True)["steps_done"]
    # last.ckpt holds at least the last checkpoint announced before the kill, at most the last step done.
    newest_last = max(e["step"] for e in run.events if e["event"] == "checkpoint" and e["kind"] == "last")
    last_step = max(e["step"] for e in run.events if e["event"] == "step")
    assert 8 <= seen["step"] <= newest_last <= killed_at <= last_step < 60
    assert killed_at % schedule["steps_per_epoch"] == 0

    proc = _run_cli(path, "--resume")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    after = read_events(config.run_dir / "events.jsonl")  # the resumed run's events (the first went to the pipe)
    start = max(i for i, e in enumerate(after) if e["event"] == "start")
    assert after[start]["resumed"] is True
    resumed_steps = [e["step"] for e in after[start:] if e["event"] == "step"]
    assert resumed_steps[0] == killed_at + 1 and resumed_steps[-1] == 60
    assert all(e["patches_per_s"] > 0 for e in after[start:] if e["event"] == "step")  # rate of this process
    assert after[-1]["status"] == "finished"


@pytest.mark.subprocess
def test_sigterm_stops_cleanly_with_a_checkpoint(tmp_path, data_dir):
    schedule = {"pretrain_steps": 400, "steps_per_epoch": 100}
    config, _, run, _ = _start_run(tmp_path, data_dir, schedule, lambda e: e["event"] == "step" and e["step"] >= 3)
    # The run cannot be more than a page of events (a few steps) past step 3 here: far from 400.
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish(timeout=120) == 0, run.log()
    end = run.events[-1]
    assert end["event"] == "end" and end["status"] == "stopped", run.log()
    stopped_at = max(e["step"] for e in run.events if e["event"] == "step")
    assert 3 <= stopped_at < 400
    state = torch.load(config.run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["state_dict"] and state["steps_done"] == stopped_at


def test_evaluate_prints_model_and_cubic_on_held_out_data(tmp_path, data_dir, capsys):
    config = tiny_config(tmp_path, data_dir, "tiny")
    result = fit(config, progress_bar=False)
    capsys.readouterr()
    assert train_cli(["evaluate", result["model"], str(data_dir), "--tile", "16"]) == 0
    out = capsys.readouterr().out
    assert "| model |" in out and "| cubic |" in out
    json.dumps(result["validation"])  # plain numbers, ready for the events and metadata


def test_fine_tuning_starts_from_a_model_file_and_refuses_a_mismatch(tmp_path, data_dir):
    first = fit(tiny_config(tmp_path / "a", data_dir, "tiny"), progress_bar=False)
    config = tiny_config(tmp_path / "b", data_dir, "tiny", generator={"init_weights": first["model"]})
    from napari_mrisr.training.module import SRModule

    module = SRModule(config.model_dump(mode="json"))
    for a, b in zip(module.generator.state_dict().values(), load_model(first["model"]).state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    wrong = tiny_config(tmp_path / "c", data_dir, "tiny", generator={"init_weights": first["model"], "options": {"features": 8, "num_blocks": 1}})
    with pytest.raises(ValueError, match="init_weights"):
        SRModule(wrong.model_dump(mode="json"))


@pytest.mark.slow
@pytest.mark.subprocess
def test_ddp_with_two_cpu_processes_trains_and_reports_once(tmp_path, data_dir):
    config = tiny_config(
        tmp_path, data_dir, "tiny",
        schedule={"pretrain_steps": 4, "steps_per_epoch": 2, "log_every": 1},
        trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"},
    )  # fmt: skip
    path = save_config(config, tmp_path / "ddp.yaml")
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "napari_mrisr.training", "fit", str(path), "--quiet"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = read_events(config.run_dir / "events.jsonl")
    assert [e["event"] for e in events].count("start") == 1  # rank 0 alone writes events
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3, 4]
    assert events[-1]["status"] == "finished" and load_model(events[-1]["model"]).scale == (2, 2, 2)


# -- a user's folder cannot shadow the training code -----------------------------------------
DECOY_EXIT = 97


@pytest.fixture
def decoy_dir(tmp_path):
    """A working folder holding decoy `training/` and `napari_mrisr/` packages (with a
    `napari_mrisr/training/` inside) whose every module appends to a marker file and exits 97."""
    folder = tmp_path / "decoy"
    marker = tmp_path / "decoy-ran.txt"
    code = f"import sys\nwith open({str(marker)!r}, 'a') as f:\n    f.write(__name__ + ' ' + __file__ + '\\n')\nsys.exit({DECOY_EXIT})\n"
    for package in ("training", "napari_mrisr", "napari_mrisr/training"):
        (folder / package).mkdir(parents=True)
        for module in ("__init__.py", "__main__.py", "cli.py"):
            (folder / package / module).write_text(code)
    # The decoys work: without -P, `python -m` from that folder runs them (what -P prevents).
    for name in ("training", "napari_mrisr.training"):
        plain = subprocess.run([sys.executable, "-m", name, "--help"], cwd=folder, capture_output=True, text=True, timeout=120)
        assert plain.returncode == DECOY_EXIT, plain.stdout + plain.stderr
    assert marker.is_file()
    marker.unlink()
    return folder, marker


@pytest.mark.subprocess
def test_training_run_started_from_a_folder_with_decoy_packages_runs_ours(tmp_path, data_dir, decoy_dir, monkeypatch):
    from napari_mrisr.training.runner import TrainingRun

    folder, marker = decoy_dir
    monkeypatch.chdir(folder)  # the Train widget's subprocess inherits napari's working folder
    config = tiny_config(tmp_path, data_dir, "tiny")
    run = TrainingRun(config, install=False)
    run.start()
    events = []
    deadline = time.monotonic() + 300
    while run.running and time.monotonic() < deadline:
        events += run.new_events()
        time.sleep(0.1)
    if run.running:
        run.stop(timeout=10)
        pytest.fail("the training subprocess did not end within 300 s:\n" + run.log_tail(40))
    events += run.new_events()  # (read after it ended: every event is there)
    assert run.returncode == 0, run.log_tail(40)
    assert not marker.exists(), marker.read_text()
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "end"
    assert events[-1]["status"] == "finished" and [e["step"] for e in events if e["event"] == "step"] == [1, 2]
    assert load_model(events[-1]["model"]).scale == (2, 2, 2)


@pytest.mark.slow
@pytest.mark.subprocess
def test_mrisr_train_console_script_from_a_folder_with_decoy_packages_runs_ours(decoy_dir):
    import shutil

    folder, marker = decoy_dir
    script = Path(sys.executable).with_name("mrisr-train")
    script = str(script) if script.is_file() else shutil.which("mrisr-train")
    assert script, "mrisr-train is not installed next to this Python (pip install -e .)"
    result = subprocess.run([script, "--help"], cwd=folder, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("usage: mrisr-train") and "fit" in result.stdout
    assert not marker.exists(), marker.read_text()
    # A real subcommand too: a bad config is refused by our CLI with its exit code 2 and one sentence.
    bad = folder / "bad.yaml"
    bad.write_text("schedule: {steps_per_epoch: 0}\n")
    result = subprocess.run([script, "fit", str(bad)], cwd=folder, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "schedule.steps_per_epoch" in result.stderr, result.stdout + result.stderr
    assert not marker.exists(), marker.read_text()


# -- the training step's overhead -------------------------------------------------------------
def test_adam_is_fused_on_the_cpu_and_updates_as_torch_adam_does():
    from napari_mrisr.engine.optim import adam

    torch.manual_seed(0)
    nets = [torch.nn.Conv3d(1, 4, 3) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    optimisers = [
        torch.optim.Adam(nets[0].parameters(), lr=1e-3, betas=(0.5, 0.9)),
        adam(nets[1].parameters(), 1e-3, (0.5, 0.9)),
    ]
    assert optimisers[1].defaults["fused"] is True
    x = torch.rand(2, 1, 8, 8, 8)
    for _ in range(20):
        for net, optimiser in zip(nets, optimisers, strict=True):
            optimiser.zero_grad()
            net(x).square().mean().backward()
            optimiser.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_losses_are_logged_every_log_every_steps_and_at_the_epoch_end(tmp_path, data_dir):
    config = tiny_config(tmp_path, data_dir, schedule={"pretrain_steps": 7, "steps_per_epoch": 7, "log_every": 3})
    result = fit(config, progress_bar=False)
    assert result["status"] == "finished", result["message"]
    steps = [e for e in read_events(config.run_dir / "events.jsonl") if e["event"] == "step"]
    assert [e["step"] for e in steps] == [3, 6, 7]
    assert all(np.isfinite(e["losses"]["loss_g"]) for e in steps)
    (csv,) = (config.run_dir / "csv").rglob("metrics.csv")
    rows = [line.split(",") for line in csv.read_text().splitlines()]
    column = rows[0].index("train/loss")
    logged = [int(row[1]) + 1 for row in rows[1:] if row[column]]
    assert logged == [3, 6]  # the loggers write every log_every steps; the last step reaches the events


def test_a_compiled_generator_trains_like_the_plain_one_and_exports_the_same_keys(tmp_path, data_dir):
    runs = {}
    for mode in ("none", "default"):
        config = tiny_config(
            tmp_path / mode, data_dir, schedule={"pretrain_steps": 3, "steps_per_epoch": 3}, trainer={"compile": mode}
        )
        result = fit(config, progress_bar=False)
        assert result["status"] == "finished", result["message"]
        events = [e for e in read_events(config.run_dir / "events.jsonl") if e["event"] == "step"]
        runs[mode] = [e["losses"]["loss_g"] for e in events], load_model(result["model"]).state_dict()
    (plain, plain_weights), (compiled, compiled_weights) = runs["none"], runs["default"]
    assert compiled == pytest.approx(plain, rel=1e-4)  # the same seed, the same network
    assert list(compiled_weights) == list(plain_weights)
