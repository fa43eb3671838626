"""bfloat16 where the device computes it natively: the engine, the input skip and training."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from napari_mrisr.engine import precision
from napari_mrisr.engine.inference import intensity_range, super_resolve
from napari_mrisr.engine.precision import autocast, native_bf16
from napari_mrisr.models import build_model
from napari_mrisr.models.base import upsample_linear
from napari_mrisr.training import engine
from napari_mrisr.training.config import load_config
from napari_mrisr.training.cpu_bf16 import keep_short_conv3d_in_float32
from napari_mrisr.training.module import SRModule
from napari_mrisr.volume.degrade import simulate_lr

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
    monkeypatch.setattr(precision, "native_bf16", lambda device: native and device.type == "cpu")
    cpu = load_config("tiny", {"trainer.accelerator": "cpu"})
    assert engine.training_precision(cpu) == ("bf16-mixed" if native else "32-true")
    explicit = load_config("tiny", {"trainer.accelerator": "cpu", "trainer.precision": "32-true"})
    assert engine.training_precision(explicit) == "32-true"


def test_autocast_is_nothing_when_disabled_or_on_a_device_without_bf16():
    with autocast(CPU, enabled=False):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(torch.device("meta")):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(CPU):
        assert torch.is_autocast_enabled("cpu") == native_bf16(CPU)


def _weight_gradient_errors(net: torch.nn.Module, weight: torch.nn.Parameter, shape, trials: int = 10) -> list[float]:
    """Relative max error of ``weight``'s gradient under CPU bf16 autocast against float32."""
    torch.manual_seed(0)
    errors = []
    for _ in range(trials):
        x = torch.randn(*shape)
        net.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):  # any CPU (emulated if need be)
            net(x).float().mean().backward()
        low = weight.grad.clone()
        net.zero_grad()
        net(x).mean().backward()
        errors.append(((low - weight.grad).abs().max() / weight.grad.abs().max()).nan_to_num(float("inf")).item())
    return errors


def test_a_conv3d_on_a_map_shorter_than_its_kernel_gets_its_float32_weight_gradient_under_bf16():
    """oneDNN's bf16 weight gradient for such a layer was off by up to 1e36, in half the steps."""
    conv = keep_short_conv3d_in_float32(torch.nn.Conv3d(16, 16, 3, padding=1))
    assert max(_weight_gradient_errors(conv, conv.weight, (2, 16, 2, 2, 2))) < 0.05
    assert max(_weight_gradient_errors(conv, conv.weight, (2, 16, 2, 6, 6))) < 0.05  # one short axis
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(torch.randn(1, 16, 4, 4, 4)).dtype == torch.bfloat16  # a longer map: bf16 as before
        assert conv(torch.randn(1, 16, 2, 2, 2)).dtype == torch.float32


def test_cpu_training_guards_the_discriminator_head_that_sees_a_2_voxel_map():
    """rrdb3d_patch on 32^3 patches: its discriminator's head convolves a 2^3 map; in bf16 on the
    CPU that layer's weight gradient turned the discriminator to NaN within 20 steps."""
    config = load_config(
        "rrdb3d_patch",
        {
            "trainer.accelerator": "cpu",
            "generator.options": {"features": 4, "growth": 4, "num_blocks": 1},
            "discriminator.options": {"features": 4, "num_blocks": 4, "norm": "instance"},
        },
    )
    module = SRModule(config)
    module.trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False)
    module.setup("fit")
    head = module.discriminator.head
    assert max(_weight_gradient_errors(module.discriminator, head.weight, (2, 1, 32, 32, 32))) < 0.1
