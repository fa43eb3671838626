"""The torch forward model equals the numpy one (napari_mrisr.volume.degrade) for every option it has."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_mrisr.volume import degrade, degrade_torch, slice_profile
from napari_mrisr.volume.base import Volume

from ..phantoms import head_phantom

FACTORS = [(2, 2, 2), (1, 1, 4), (3, 2, 1), (5, 1, 3), (8, 8, 8), (1, 7, 2)]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def hr() -> np.ndarray:
    """An odd-sized phantom in the normalised range (so 1e-5 is relative to the data)."""
    return head_phantom((27, 30, 25)) / 140.0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", list(degrade.DegradationMethod))
@pytest.mark.parametrize("factors", FACTORS)
def test_simulate_lr_equals_numpy(hr, method, factors, device):
    expected = degrade.simulate_lr(Volume(hr, np.eye(4)), factors, method).data
    x = torch.from_numpy(hr).to(device)
    got = degrade_torch.simulate_lr(x, factors, method)
    assert got.dtype == torch.float32 and got.device.type == device
    np.testing.assert_allclose(got.cpu().numpy(), expected, atol=1e-5)
    # Leading batch dimensions are carried through, each sample degraded alike.
    batch = degrade_torch.simulate_lr(torch.stack([x, 2 * x])[:, None], factors, method)
    assert batch.shape == (2, 1, *expected.shape)
    np.testing.assert_allclose(batch[1, 0].cpu().numpy(), 2 * expected, atol=2e-5)


@pytest.mark.parametrize("profile", list(slice_profile.SliceProfile))
@pytest.mark.parametrize("ratio", [2.0, 2.5, 1.6, 3.3, 4.0])
@pytest.mark.parametrize("thickness", [None, 1.0, 5.0])  # the spacing, a gap, overlapping slices
@pytest.mark.parametrize("dim", [0, 2])
def test_slices_equal_numpy_for_fractional_ratios_gaps_and_profiles(
    hr, profile, ratio, thickness, dim
):
    matrix = slice_profile.profile_matrix(hr.shape[dim], ratio, thickness, profile)
    expected = degrade.apply_along_axis(hr, matrix, dim)
    got = degrade_torch.simulate_slices(torch.from_numpy(hr), ratio, thickness, profile, dim=dim)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)


def test_slices_follow_simulate_slices_on_a_volume(hr):
    volume = Volume(hr, np.diag([1.0, 1.0, 1.2, 1.0]))
    expected = slice_profile.simulate_slices(volume, 3.0, thickness=2.0, profile="gaussian", axis=2).data
    got = degrade_torch.simulate_slices(
        torch.from_numpy(hr)[None], 2.5, 2.0 / 1.2, "gaussian", dim=-1
    )
    np.testing.assert_allclose(got[0].numpy(), expected, atol=1e-5)


def test_unknown_method_is_refused_in_one_sentence(hr):
    with pytest.raises(ValueError, match="Unknown degradation method 'box'"):
        degrade_torch.simulate_lr(torch.from_numpy(hr), 2, "box")


def test_rician_noise_has_the_numpy_distribution_and_follows_the_generator():
    signal = torch.full((64, 64, 64), 0.3, dtype=torch.float64)
    sigma = 0.1
    got = degrade_torch.rician(signal, sigma, torch.Generator().manual_seed(0))
    expected = degrade._rician(signal.numpy(), sigma, np.random.default_rng(0))
    assert got.mean().item() == pytest.approx(expected.mean(), rel=2e-3)
    assert got.std().item() == pytest.approx(expected.std(), rel=1e-2)
    again = degrade_torch.rician(signal, sigma, torch.Generator().manual_seed(0))
    assert torch.equal(got, again)
    # Per-sample sigma broadcasts; sigma 0 leaves a non-negative signal as it was.
    batch = torch.rand(2, 4, 4, 4)
    noisy = degrade_torch.rician(batch, torch.tensor([0.0, 0.5]).view(2, 1, 1, 1))
    torch.testing.assert_close(noisy[0], batch[0])
    assert not torch.allclose(noisy[1], batch[1])
