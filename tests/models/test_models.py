"""Tests of the SR generators: shapes for any size and per-axis scale, rebuild, upsamplers."""

from __future__ import annotations

import json
import math

import pytest
import torch

from napari_mrisr.models import Architecture, build_model, list_architectures
from napari_mrisr.models.blocks import (
    BoxBlur,
    UpsampleStep,
    make_upsampler,
    pixel_shuffle,
    upsample_steps,
)
from napari_mrisr.models.srgan2d import SliceWiseSRGAN2D, SRGAN2DGenerator

TINY = {
    "dcsrn": {"growth": 4, "num_blocks": 2, "layers_per_block": 2},
    "edsr3d": {"features": 8, "num_blocks": 1},
    "rrdb3d": {"features": 8, "growth": 4, "num_blocks": 1},
    "srgan2d": {"features": 8, "num_blocks": 1, "upsample_features": 8},
    "srgan3d": {"features": 8, "num_blocks": 1},
}
VOLUMETRIC = ["dcsrn", "edsr3d", "rrdb3d", "srgan3d"]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def tiny(name: str, scale, **kwargs) -> torch.nn.Module:
    return build_model(name, scale, **{**TINY[name], **kwargs})


def expected_shape(shape, scale):
    return (shape[0], 1, *(n * s for n, s in zip(shape[2:], scale, strict=True)))


def test_list_architectures():
    assert list_architectures() == ["dcsrn", "edsr3d", "rrdb3d", "srgan2d", "srgan3d"]
    assert list_architectures() == list(Architecture)
    assert all(type(name) is str for name in list_architectures())
    model = build_model(Architecture.EDSR3D, 2, features=4, num_blocks=1)
    assert model.architecture == "edsr3d" and type(model.architecture) is str


@pytest.mark.parametrize("name", VOLUMETRIC)
@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 4), (3, 2, 1)])
def test_volumetric_shapes(name, scale):
    model = tiny(name, scale).eval()
    assert model.scale == scale and model.architecture == name
    for shape in [(1, 1, 6, 7, 5), (2, 1, 7, 9, 5), (1, 1, 1, 1, 1)]:
        with torch.no_grad():
            out = model(torch.rand(shape))
        assert out.shape == expected_shape(shape, scale)
        assert out.dtype == torch.float32


def test_int_scale_is_isotropic():
    model = tiny("edsr3d", 2)
    assert model.scale == (2, 2, 2)
    assert model(torch.rand(1, 1, 3, 4, 5)).shape == (1, 1, 6, 8, 10)


@pytest.mark.parametrize("upsampler", ["nearest", "subpixel", "icnr"])
@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 4), (3, 2, 1)])
def test_srgan3d_upsamplers(upsampler, scale):
    model = tiny("srgan3d", scale, upsampler=upsampler).eval()
    assert model.config["upsampler"] == upsampler
    with torch.no_grad():
        out = model(torch.rand(2, 1, 7, 9, 5))
    assert out.shape == expected_shape((2, 1, 7, 9, 5), scale)


@pytest.mark.parametrize("scale", [(2, 2, 1), (1, 2, 2), (3, 1, 2), (1, 3, 2)])
def test_srgan2d_slicewise_shapes(scale):
    model = tiny("srgan2d", scale).eval()
    assert isinstance(model, SliceWiseSRGAN2D)
    assert model.slice_axis == scale.index(1)
    with torch.no_grad():
        out = model(torch.rand(2, 1, 6, 7, 5))
    assert out.shape == expected_shape((2, 1, 6, 7, 5), scale)


def test_srgan2d_slicewise_equals_per_slice_generator():
    model = tiny("srgan2d", (2, 1, 2)).eval()
    x = torch.rand(2, 1, 4, 3, 5)
    with torch.no_grad():
        out = model(x)
        for i in range(x.shape[3]):
            expected = model.generator(x[:, :, :, i])
            torch.testing.assert_close(out[:, :, :, i], expected)


@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 1)])
def test_srgan2d_needs_a_slice_axis(scale):
    with pytest.raises(ValueError, match="slice axis"):
        build_model("srgan2d", scale)


def test_srgan2d_thick_slices_are_sliced_along_the_first_unit_axis():
    model = build_model("srgan2d", (1, 1, 4), features=4, num_blocks=1, upsample_features=4)
    assert model.slice_axis == 0
    assert model(torch.rand(1, 1, 3, 5, 6)).shape == (1, 1, 3, 5, 24)


@pytest.mark.parametrize("name", list_architectures())
@pytest.mark.parametrize("scale", [(2, 3), (1, 4)])
def test_2d_generators(name, scale):
    model = tiny(name, scale, spatial_dims=2).eval()
    assert model.scale == scale
    if name == "srgan2d":
        assert isinstance(model, SRGAN2DGenerator)
    with torch.no_grad():
        out = model(torch.rand(2, 1, 7, 5))
    assert out.shape == (2, 1, 7 * scale[0], 5 * scale[1])


@pytest.mark.parametrize(
    ("name", "scale", "kwargs"),
    [(name, (2, 2, 1), {}) for name in list_architectures()]
    + [
        ("srgan3d", (1, 2, 4), {"upsampler": "icnr", "negative_slope": 0.3}),
        ("edsr3d", 2, {"spatial_dims": 2, "res_scale": 1}),
        ("srgan2d", (2, 2), {"spatial_dims": 2}),
    ],
)
def test_config_rebuilds_same_architecture(name, scale, kwargs):
    model = tiny(name, scale, **kwargs)
    config = json.loads(json.dumps(model.config))
    assert config == model.config
    rebuilt = build_model(model.architecture, model.scale, **config)
    assert type(rebuilt) is type(model)
    assert rebuilt.config == model.config and rebuilt.scale == model.scale
    original = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == original
    rebuilt.load_state_dict(model.state_dict())


@pytest.mark.parametrize("name", list_architectures())
def test_config_lists_defaults(name):
    model = build_model(name, (2, 2, 1))
    assert "spatial_dims" in model.config and len(model.config) >= 3
    assert all(isinstance(v, int | float | str | bool | list) for v in model.config.values())
    assert next(model.parameters()).dtype == torch.float32


def test_unknown_architecture():
    with pytest.raises(ValueError, match="known architectures are dcsrn, edsr3d"):
        build_model("unet", 2)


@pytest.mark.parametrize(
    "scale", [0, -2, (2, 2), (2, 2, 2, 2), (2, 0, 2), (2.0, 2, 2), "2", True, None, (2, True, 2)]
)
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        build_model("srgan3d", scale)


def test_bad_options():
    with pytest.raises(ValueError, match="Unknown option"):
        build_model("edsr3d", 2, upsampler="icnr")
    with pytest.raises(ValueError, match="upsampler"):
        build_model("srgan3d", 2, upsampler="bicubic")
    with pytest.raises(ValueError, match="features"):
        build_model("srgan3d", 2, features=0)
    with pytest.raises(ValueError, match="spatial_dims"):
        build_model("srgan3d", 2, spatial_dims=1)


@pytest.mark.parametrize(
    ("scale", "steps"),
    [
        ((2, 2, 2), [(2, 2, 2)]),
        ((1, 1, 4), [(1, 1, 2), (1, 1, 2)]),
        ((4, 4, 4), [(2, 2, 2), (2, 2, 2)]),
        ((3, 2, 1), [(3, 2, 1)]),
        ((2, 2, 4), [(2, 2, 2), (1, 1, 2)]),
        ((6, 1, 1), [(2, 1, 1), (3, 1, 1)]),
        ((1, 1, 1), []),
    ],
)
def test_upsample_steps(scale, steps):
    assert upsample_steps(scale) == steps


def test_pixel_shuffle_hand_made_example():
    # 1 output channel, factors (2, 1, 3): input channel i*3 + k lands at (d*2 + i, h, w*3 + k).
    x = torch.arange(6 * 2 * 1 * 2, dtype=torch.float32).reshape(1, 6, 2, 1, 2)
    out = pixel_shuffle(x, (2, 1, 3))
    assert out.shape == (1, 1, 4, 1, 6)
    for d in range(2):
        for w in range(2):
            for i in range(2):
                for k in range(3):
                    assert out[0, 0, d * 2 + i, 0, w * 3 + k] == x[0, i * 3 + k, d, 0, w]


def test_pixel_shuffle_general_rule_and_torch_2d():
    factors = (2, 3, 2)
    x = torch.rand(2, 3 * 12, 3, 2, 4)
    out = pixel_shuffle(x, factors)
    s0, s1, s2 = factors
    picks = [(0, 0, 0, 0, 0, 0, 0), (2, 1, 1, 3, 1, 2, 1), (1, 2, 0, 1, 0, 1, 1)]
    for c, d, h, w, i, j, k in picks:
        src = c * s0 * s1 * s2 + i * s1 * s2 + j * s2 + k
        assert out[1, c, d * s0 + i, h * s1 + j, w * s2 + k] == x[1, src, d, h, w]
    x2 = torch.rand(2, 3 * 9, 4, 5)
    torch.testing.assert_close(pixel_shuffle(x2, (3, 3)), torch.nn.functional.pixel_shuffle(x2, 3))


def assert_constant_blocks(y: torch.Tensor, factors) -> None:
    """Every s0 x s1 x s2 block of ``y`` holds one value (nearest upsampling of its corner)."""
    nearest = y[:, :, :: factors[0], :: factors[1], :: factors[2]]
    for axis, s in enumerate(factors):
        nearest = nearest.repeat_interleave(s, dim=2 + axis)
    assert torch.equal(y, nearest)


@pytest.mark.parametrize("factors", [(2, 2, 2), (1, 1, 2), (3, 2, 1)])
def test_icnr_is_checkerboard_free(factors):
    step = UpsampleStep(3, 4, 5, factors, kind="icnr", act=("leakyrelu", {"negative_slope": 0.25}))
    assert isinstance(step.blur, BoxBlur)
    x = torch.randn(2, 4, 3, 4, 5)
    with torch.no_grad():
        unblurred = step.act(step.shuffle(step.conv(x)))
        assert_constant_blocks(unblurred, factors)
        blurred = step(x)
    hr = tuple(n * s for n, s in zip((3, 4, 5), factors, strict=True))
    assert blurred.shape == unblurred.shape == (2, 5, *hr)


def test_srgan3d_icnr_steps_are_checkerboard_free_after_init():
    model = tiny("srgan3d", (2, 1, 4), upsampler="icnr")
    x = torch.randn(1, 8, 3, 4, 5)
    with torch.no_grad():
        for step in model.upsample:
            y = step.act(step.shuffle(step.conv(x)))
            assert_constant_blocks(y, step.factors)
            x = step(x)


def test_subpixel_is_not_checkerboard_free_without_icnr():
    step = UpsampleStep(3, 4, 2, (2, 2, 2), kind="subpixel")
    with torch.no_grad():
        out = step.shuffle(step.conv(torch.randn(1, 4, 3, 3, 3)))
    assert not torch.equal(out[:, :, 0::2], out[:, :, 1::2])


def test_box_blur():
    x = torch.arange(4, dtype=torch.float32).reshape(1, 1, 4, 1, 1).repeat(1, 1, 1, 2, 3)
    out = BoxBlur((2, 1, 1))(x)
    # Window [p-1, p] with replicate padding: 0, 0.5, 1.5, 2.5 along axis 0, unchanged elsewhere.
    torch.testing.assert_close(out[0, 0, :, 1, 2], torch.tensor([0.0, 0.5, 1.5, 2.5]))
    torch.testing.assert_close(BoxBlur((3, 1))(torch.ones(1, 2, 5, 4)), torch.ones(1, 2, 5, 4))


def test_make_upsampler_identity_for_unit_scale():
    up, channels = make_upsampler(3, 4, 6, (1, 1, 1))
    assert len(up) == 0 and channels == 4


@pytest.mark.parametrize("name", list_architectures())
def test_eval_determinism(name):
    model = tiny(name, (2, 1, 2) if name == "srgan2d" else (2, 2, 2)).eval()
    x = torch.rand(2, 1, 5, 6, 4)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", list_architectures())
def test_channels_last_and_bf16_autocast(name):
    scale = (1, 2, 2) if name == "srgan2d" else (2, 2, 2)
    kwargs = {"upsampler": "icnr"} if name == "srgan3d" else {}
    model = tiny(name, scale, **kwargs).eval()
    x = torch.rand(1, 1, 6, 7, 5)
    with torch.no_grad():
        reference = model(x)
        channels_last = model(x.to(memory_format=torch.channels_last_3d))
        torch.testing.assert_close(channels_last, reference, rtol=1e-4, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x.to(memory_format=torch.channels_last_3d))
    assert low.shape == reference.shape
    assert low.dtype in (torch.bfloat16, torch.float32)
    assert torch.isfinite(low).all()
    scale_ref = reference.abs().max().item() + 1e-3
    assert (low.float() - reference).abs().max().item() < 0.1 * scale_ref


@pytest.mark.parametrize(
    ("name", "scale"),
    [(name, (2, 2, 2)) for name in VOLUMETRIC] + [("srgan2d", (2, 1, 2))],
)
def test_tiny_model_overfits_one_example(name, scale):
    model = tiny(name, scale)
    hr = torch.rand(1, 1, 8, 8, 8)
    lr = torch.nn.functional.avg_pool3d(hr, kernel_size=scale)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(lr), hr)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and math.isfinite(g.abs().sum().item()) for g in grads)
    assert losses[-1] < 0.7 * losses[0]


def test_half_precision_model_file_is_half_the_size_and_runs_in_float32(tmp_path):
    from napari_mrisr.zoo.metadata import read_metadata
    from napari_mrisr.zoo.model_file import load_model, save_model

    torch.manual_seed(0)
    model = build_model("edsr3d", 2, features=16, num_blocks=2).eval()
    full = save_model(model, tmp_path / "full.safetensors")
    half = save_model(model, tmp_path / "half.safetensors", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert read_metadata(half)["storage"] == "float16"
    loaded = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 1, 8, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=2e-3, rtol=0)
