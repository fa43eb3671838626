"""The inference engine: geometry, tiling without seams, progress, cancel, OOM retry, devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from napari_mrisr.engine import tiling
from napari_mrisr.engine.devices import pick_device
from napari_mrisr.engine.inference import (
    intensity_range,
    iter_super_resolve,
    plan_tiles,
    super_resolve,
)
from napari_mrisr.engine.tiling import MARGINS, TilePlan, activation_bytes
from napari_mrisr.models import build_model
from napari_mrisr.progress import Progress, run_to_end
from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.volume.geometry import crop_to_multiple
from napari_mrisr.volume.interpolate import upsample


class NearestSR(torch.nn.Module):
    """A stand-in 'model' with a known answer: nearest-neighbour upsampling."""

    architecture = "nearest-test"

    def __init__(self, scale=(2, 2, 2), fail_above: int | None = None):
        super().__init__()
        self.scale = scale
        self.fail_above = fail_above
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.fail_above is not None and x.numel() > self.fail_above:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


def tiny(name: str, scale=(2, 2, 2)) -> torch.nn.Module:
    torch.manual_seed(0)
    kwargs = {
        "edsr3d": {"features": 8, "num_blocks": 2},
        "srgan3d": {"features": 8, "num_blocks": 2},
        "rrdb3d": {"features": 8, "growth": 4, "num_blocks": 1},
        "dcsrn": {"growth": 4, "num_blocks": 2, "layers_per_block": 2},
        "srgan2d": {"features": 8, "num_blocks": 1},
    }[name]
    return build_model(name, scale, **kwargs).eval()


def test_output_lands_on_the_hr_grid_in_the_input_intensity_range(volume):
    lr = simulate_lr(volume, (1, 2, 2))
    sr = super_resolve(lr, NearestSR((1, 2, 2)), device="cpu", tile=5)
    hr = crop_to_multiple(volume.data, (1, 2, 2))
    assert sr.shape == hr.shape
    np.testing.assert_allclose(sr.affine, volume.affine, atol=1e-6)
    # Normalisation in and out is invisible: the result is exactly nearest upsampling.
    np.testing.assert_allclose(sr.data, upsample(lr, (1, 2, 2), order="nearest").data, atol=1e-4)


@pytest.mark.parametrize("name", ["edsr3d", "srgan3d", "rrdb3d", "dcsrn"])
def test_tiled_equals_whole_volume(volume, name):
    lr = simulate_lr(volume, 2)
    model = tiny(name)
    whole = super_resolve(lr, model, device="cpu", tile=64)
    tiled = super_resolve(lr, model, device="cpu", tile=5, overlap=8)
    data_range = float(whole.data.max() - whole.data.min())
    assert np.abs(tiled.data - whole.data).max() <= 1e-4 * data_range


@pytest.mark.slow
def test_slice_wise_2d_model_runs_on_volumes(volume):
    model = tiny("srgan2d", (2, 2, 1))
    lr = simulate_lr(volume, (2, 2, 1))
    whole = super_resolve(lr, model, device="cpu", tile=64)
    tiled = super_resolve(lr, model, device="cpu", tile=4, overlap=12)
    assert whole.shape == crop_to_multiple(volume.data, (2, 2, 1)).shape
    assert np.abs(tiled.data - whole.data).max() <= 1e-4 * float(np.ptp(whole.data))


def test_progress_counts_tiles_then_returns_the_volume(volume):
    progress = []
    result = run_to_end(iter_super_resolve(volume, NearestSR(), device="cpu", tile=(12, 14, 10)), progress.append)
    assert isinstance(result, Volume)
    assert all(isinstance(p, Progress) for p in progress)  # one event type, the result returned
    assert [p.done for p in progress] == list(range(0, 9))  # 0/8 first: the bar appears at once
    assert {p.total for p in progress} == {8}


def test_the_callers_model_is_left_as_it_was_found(volume):
    model = tiny("srgan3d")  # batch norm: eval mode matters, and running stats must not move
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    layouts = [p.is_contiguous() for p in model.parameters()]
    benchmark = torch.backends.cudnn.benchmark
    super_resolve(volume, model, device="cpu")
    assert model.training
    assert [p.is_contiguous() for p in model.parameters()] == layouts  # not switched to channels_last
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert torch.backends.cudnn.benchmark == benchmark


def test_cancel_returns_nothing_and_leaves_the_input_alone(volume):
    before = volume.data.copy()
    model = NearestSR()
    run = iter_super_resolve(volume, model, device="cpu", tile=6)
    start, first = next(run), next(run)
    assert start.done == 0 and start.total == first.total  # the length, before any tile
    assert isinstance(first, Progress) and first.done == 1
    run.close()
    calls = model.calls
    assert list(run) == []  # a closed run yields nothing more, no half-made volume
    assert model.calls == calls
    np.testing.assert_array_equal(volume.data, before)


def test_out_of_memory_halves_the_tile_and_tells_the_caller(volume):
    model = NearestSR(fail_above=16**3)  # 16-voxel tiles + halo fail, 8-voxel ones fit
    events = []
    result = run_to_end(iter_super_resolve(volume, model, device="cpu", tile=16, overlap=2), events.append)
    notices = [e.message for e in events if e.warning]
    assert notices == ["Out of GPU memory; retrying with 8-voxel tiles."]
    np.testing.assert_allclose(result.data, super_resolve(volume, NearestSR(), device="cpu").data)


def test_out_of_memory_at_the_smallest_tile_is_raised(volume):
    with pytest.raises(torch.OutOfMemoryError):
        super_resolve(volume, NearestSR(fail_above=1), device="cpu", tile=8)


def test_devices():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in {"cuda", "mps", "cpu"}
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu") or torch.backends.mps.is_available()
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_bf16_matches_cpu(volume):
    model = tiny("edsr3d")
    cpu = super_resolve(volume, model, device="cpu")
    gpu = super_resolve(volume, model, device="cuda", amp=True)
    assert np.abs(gpu.data - cpu.data).max() <= 0.02 * float(np.ptp(cpu.data))


def test_bad_inputs_are_refused(volume):
    bad = Volume(volume.data.copy(), volume.affine, "bad")
    bad.data[0, 0, 0] = np.nan
    with pytest.raises(VolumeError, match="NaN"):
        super_resolve(bad, NearestSR(), device="cpu")
    with pytest.raises(ValueError, match="no 3-axis 'scale'"):
        super_resolve(volume, torch.nn.Identity(), device="cpu")
    with pytest.raises(ValueError, match="Tile must be"):
        super_resolve(volume, NearestSR(), device="cpu", tile=0)


def test_intensity_range_is_robust_to_outliers():
    data = np.random.default_rng(0).uniform(0, 100, (20, 20, 20)).astype(np.float32)
    data[0, 0, 0] = 1e6
    low, high = intensity_range(data)
    assert 0 <= low < 2 and 98 < high <= 100
    assert intensity_range(np.ones((3, 3, 3))) == (1.0, 2.0)


def test_intensity_range_of_a_tensor_equals_numpys():
    # The engine computes it on the GPU from a tensor: it must be the same normalisation.
    data = np.random.default_rng(1).gamma(2.0, 50.0, (17, 19, 23)).astype(np.float32)
    np.testing.assert_allclose(intensity_range(torch.from_numpy(data)), intensity_range(data), rtol=1e-5)
    assert intensity_range(torch.ones(3, 3, 3)) == (1.0, 2.0)


def test_receptive_radius_counts_half_widths_at_their_resolution():
    from napari_mrisr.engine.inference import receptive_radius

    class Chain(torch.nn.Module):
        scale = (2, 2, 2)

        def __init__(self):
            super().__init__()
            self.lr = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 3, padding=1), torch.nn.Conv3d(2, 1, 5, padding=2))
            self.hr = torch.nn.Conv3d(1, 1, 5, padding=2)  # runs after x2 upsampling: 2 HR voxels = 1 LR

        def forward(self, x):
            return self.hr(F.interpolate(self.lr(x), scale_factor=2))

    assert receptive_radius(Chain()) == 1 + 2 + 1 + 1  # + 1 of margin


# -- tiles from a memory budget ---------------------------------------------------------------
def test_activation_bytes_is_the_forward_peak_per_voxel():
    conv = lambda a, b: torch.nn.Conv3d(a, b, 3, padding=1)  # noqa: E731
    chain = torch.nn.Sequential(conv(1, 8), torch.nn.ReLU(inplace=True), conv(8, 1)).eval()
    assert activation_bytes(chain) == 4 + 32 + 4  # input, 8 fp32 channels, output
    chain[1] = torch.nn.ReLU()  # out of place: both 8-channel maps alive at once
    assert activation_bytes(chain) == 4 + 32 + 32


def test_halo_overhead_is_computed_over_output_voxels():
    plan = TilePlan((10, 12, 9), (5, 12, 9), 2)
    assert [outer for _, outer in plan.boxes()] == [
        (slice(0, 7), slice(0, 12), slice(0, 9)),
        (slice(3, 10), slice(0, 12), slice(0, 9)),
    ]
    assert plan.overhead == pytest.approx(14 / 10)
    assert TilePlan((10, 12, 9), (10, 12, 9), 2).overhead == 1.0  # one tile: no halo


def test_tiles_fit_the_budget_and_a_larger_budget_computes_less(monkeypatch):
    model = tiny("edsr3d")
    per_voxel = MARGINS["edsr3d"] * activation_bytes(model)
    shape = (40, 52, 36)
    overheads = []
    for voxels in (16**3, 24**3, 40**3, 60**3):
        plan = plan_tiles(shape, model, torch.device("cpu"), overlap=3, budget=int(voxels * per_voxel))
        largest = max(np.prod([s.stop - s.start for s in outer]) for _, outer in plan.boxes())
        assert largest <= voxels
        overheads.append(plan.overhead)
    assert overheads == sorted(overheads, reverse=True) and overheads[0] > 2 and overheads[-1] == 1.0
    # On a CPU the run's own arrays come out of the budget.
    monkeypatch.setattr(tiling, "available_bytes", lambda: 2**40)
    cpu = torch.device("cpu")
    assert tiling.memory_budget(cpu, held=2**20) == tiling.memory_budget(cpu) - 2**20
    assert tiling.memory_budget(cpu, held=2**40) == tiling.CPU_BUDGET // 8
    # Below one 8-voxel core and its halo, the tiles are as small as they get.
    assert plan_tiles(shape, model, torch.device("cpu"), overlap=3, budget=1).core == (8, 8, 8)
    # A given tile wins over the budget; halving stops at 8 voxels.
    plan = plan_tiles(shape, model, torch.device("cpu"), tile=16, overlap=3)
    assert (plan.core, plan.overlap) == ((16, 16, 16), 3)
    assert plan.halved().core == (8, 8, 8) and plan.halved().halved().core == (8, 8, 8)


def test_engine_plans_tiles_from_the_budget_and_matches_the_whole_volume(volume, monkeypatch):
    model = tiny("edsr3d")
    lr = simulate_lr(volume, 2)
    whole = super_resolve(lr, model, device="cpu", tile=64)
    monkeypatch.setattr(tiling, "CPU_BUDGET", int(6**3 * MARGINS["edsr3d"] * activation_bytes(model)))
    events = []
    tiled = run_to_end(iter_super_resolve(lr, model, device="cpu"), events.append)
    assert events[0].total > 1  # split by the budget
    assert np.abs(tiled.data - whole.data).max() <= 1e-5 * float(np.ptp(whole.data))
