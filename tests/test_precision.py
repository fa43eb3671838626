"""bfloat16 where the device computes it natively: the engine, the input skip and training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_mrisr.degrade import simulate_lr
from napari_mrisr.inference import intensity_range, super_resolve
from napari_mrisr.models import build_model
from napari_mrisr.models.base import upsample_linear
from napari_mrisr.precision import autocast, native_bf16
from napari_mrisr.training import engine
from napari_mrisr.training.config import load_config

CPU = torch.device("cpu")


def test_the_input_skip_keeps_float32_under_a_bf16_autocast():
    torch.manual_seed(0)
    model = build_model("edsr3d", (2, 2, 2), features=8, num_blocks=1, input_skip=True).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # no residual: the output is the interpolated input alone
    x = torch.rand(1, 1, 6, 7, 5) * 1000 + 3  # values bf16 rounds by several units
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):  # any CPU (emulated if need be)
        y = model(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, upsample_linear(x, (2, 2, 2)), rtol=0, atol=1e-4)


def test_the_engine_runs_float32_when_asked_and_bf16_within_its_rounding_where_native(volume):
    torch.manual_seed(0)
    model = build_model("edsr3d", (1, 2, 2), features=8, num_blocks=2, input_skip=True).eval()
    lr = simulate_lr(volume, (1, 2, 2))
    fp32 = super_resolve(lr, model, device="cpu", amp=False)
    low, high = intensity_range(lr.data)
    x = torch.from_numpy((lr.data - low) / (high - low))[None, None]
    with torch.inference_mode():
        raw = model(x)[0, 0].numpy() * (high - low) + low
    np.testing.assert_allclose(fp32.data, raw, rtol=0, atol=1e-5 * np.ptp(raw))  # float32 throughout
    default = super_resolve(lr, model, device="cpu")
    difference = np.abs(default.data - fp32.data).max() / np.ptp(fp32.data)
    if native_bf16(CPU):
        assert 0 < difference < 1e-2  # bf16: a residual rounded to 8 bits, the skip in float32
    else:
        assert difference == 0  # no native bf16: float32


@pytest.mark.parametrize("native", [True, False])
def test_training_precision_auto_is_bf16_mixed_on_a_cpu_with_native_bf16(monkeypatch, native):
    monkeypatch.setattr(engine, "native_bf16", lambda device: native and device.type == "cpu")
    cpu = load_config("tiny", {"trainer.accelerator": "cpu"})
    assert engine._precision(cpu) == ("bf16-mixed" if native else "32-true")
    explicit = load_config("tiny", {"trainer.accelerator": "cpu", "trainer.precision": "32-true"})
    assert engine._precision(explicit) == "32-true"


def test_autocast_is_nothing_when_disabled_or_on_a_device_without_bf16():
    with autocast(CPU, enabled=False):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(torch.device("meta")):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(CPU):
        assert torch.is_autocast_enabled("cpu") == native_bf16(CPU)
