"""Geometry in millimetres: LR simulation and interpolation keep every voxel where it belongs."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.degrade import DegradationMethod, simulate_lr
from napari_mrisr.volume.geometry import as_factors, crop_to_multiple, per_axis, superior_axis
from napari_mrisr.volume.interpolate import INTERPOLATORS, upsample

from ..phantoms import oblique_affine

FACTORS = [(2, 2, 2), (1, 1, 4), (3, 2, 1)]


def world(affine: np.ndarray, shape) -> np.ndarray:
    """World (mm) coordinates of every voxel centre, shape (3, *shape)."""
    idx = np.indices(shape).reshape(3, -1)
    return (affine[:3, :3] @ idx + affine[:3, 3:]).reshape(3, *shape)


def centroid_mm(volume: Volume) -> np.ndarray:
    weights = volume.data.astype(np.float64)
    return (world(volume.affine, volume.shape) * weights).reshape(3, -1).sum(1) / weights.sum()


def cropped(volume: Volume, factors) -> Volume:
    return Volume(crop_to_multiple(volume.data, as_factors(factors)), volume.affine, volume.name)


@pytest.mark.parametrize("method", list(DegradationMethod))
@pytest.mark.parametrize("factors", FACTORS)
def test_lr_grid_mean_and_centroid(volume, method, factors):
    lr = simulate_lr(volume, factors, method=method)
    hr = cropped(volume, factors)
    assert lr.shape == tuple(n // f for n, f in zip(volume.shape, factors, strict=True))
    assert lr.data.dtype == np.float32
    np.testing.assert_allclose(lr.spacing, volume.spacing * factors, rtol=1e-12)
    # LR voxel i is centred on HR voxel f*i + (f-1)/2: the centre of the HR voxels it covers.
    f = np.array(factors)
    np.testing.assert_allclose(
        world(lr.affine, lr.shape)[:, 0, 0, 0], (volume.affine @ np.r_[(f - 1) / 2, 1])[:3]
    )
    assert lr.data.mean() == pytest.approx(hr.data.mean(), rel=1e-4)
    assert np.linalg.norm(centroid_mm(lr) - centroid_mm(hr)) < 0.1


@pytest.mark.parametrize("method", list(DegradationMethod))
@pytest.mark.parametrize("factors", FACTORS)
def test_projection_onto_the_lr_explains_it_exactly_and_never_moves_away_from_the_truth(
    volume, method, factors
):
    from napari_mrisr.volume.comparison import project_onto_lr

    hr = cropped(volume, factors)
    lr = simulate_lr(hr, factors, method=method)
    rng = np.random.default_rng(0)
    cubic = upsample(lr, factors, order="cubic")
    noisy = Volume(hr.data + rng.normal(0, 0.2 * hr.data.std(), hr.shape), hr.affine, "noisy")
    tolerance = 1e-4 * np.abs(hr.data).max()
    for guess in (cubic, noisy):
        projected = project_onto_lr(guess, lr, method)
        assert projected.shape == hr.shape and projected.data.dtype == np.float32
        # The forward model takes it to the LR exactly, and it is the nearest such volume.
        relr = simulate_lr(projected, factors, method=method).data
        np.testing.assert_allclose(relr, lr.data, atol=tolerance)
        np.testing.assert_allclose(project_onto_lr(projected, lr, method).data, projected.data, atol=tolerance)
        error = np.linalg.norm(guess.data - hr.data)
        assert np.linalg.norm(projected.data - hr.data) < error
        halfway = project_onto_lr(guess, lr, method, weight=0.5)
        np.testing.assert_allclose(halfway.data, (guess.data + projected.data) / 2, atol=tolerance)
    with pytest.raises(ValueError, match="between 0 and 1"):
        project_onto_lr(cubic, lr, method, weight=1.5)


def test_box_and_gaussian_sample_a_linear_ramp_at_lr_voxel_centres():
    affine = oblique_affine()
    hr = Volume(world(affine, (24, 24, 24))[0] * 2.0 + 5.0, affine)  # 2 * x_mm + 5
    for method in ("thick_slice", "gaussian"):
        lr = simulate_lr(hr, (2, 3, 4), method=method)
        expected = world(lr.affine, lr.shape)[0] * 2.0 + 5.0
        interior = (slice(2, -2),) * 3  # away from the mirrored borders
        np.testing.assert_allclose(lr.data[interior], expected[interior], atol=1e-3)


def test_kspace_keeps_band_limited_signal_exactly_at_lr_centres():
    n, f = 32, 2
    i = np.arange(n, dtype=np.float64)
    signal = 10 + np.cos(2 * np.pi * 3 * i / n)  # 3 cycles: well inside the LR band
    hr = Volume(np.broadcast_to(signal[:, None, None], (n, 4, 4)).copy(), np.eye(4))
    lr = simulate_lr(hr, (f, 1, 1), method="kspace")
    centres = f * np.arange(n // f) + (f - 1) / 2
    np.testing.assert_allclose(lr.data[:, 0, 0], 10 + np.cos(2 * np.pi * 3 * centres / n), atol=1e-5)


def test_thick_slice_averages_only_along_the_thick_axis(volume):
    lr = simulate_lr(volume, (1, 1, 4), method="thick_slice")
    hr = crop_to_multiple(volume.data, (1, 1, 4))
    np.testing.assert_allclose(lr.data, hr.reshape(*hr.shape[:2], -1, 4).mean(-1), rtol=1e-6)


def test_rician_noise_is_reproducible_and_scaled(volume):
    a = simulate_lr(volume, 2, noise=0.05, seed=1)
    b = simulate_lr(volume, 2, noise=0.05, seed=1)
    clean = simulate_lr(volume, 2)
    np.testing.assert_array_equal(a.data, b.data)
    background = clean.data < 1  # Rician noise on zero signal is Rayleigh: mean sigma*sqrt(pi/2)
    sigma = 0.05 * np.abs(volume.data).max()
    assert a.data[background].mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.2)
    assert np.all(a.data >= 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factors": (2, 2)}, "three integers"),
        ({"factors": (2, 0, 2)}, "three integers"),
        ({"factors": (1.5, 2, 2)}, "three integers"),
        ({"factors": (64, 1, 1)}, "too small"),
        ({"method": "bicubic"}, "Unknown degradation method"),
        ({"noise": -1.0}, "Noise must be"),
    ],
)
def test_simulate_lr_refuses_bad_parameters(volume, kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate_lr(volume, **kwargs)


def test_per_axis_takes_one_integer_or_one_per_axis():
    assert per_axis(2, "factors") == (2, 2, 2)
    assert per_axis(np.array([1, 2, 4]), "factors") == (1, 2, 4)
    assert all(type(v) is int for v in per_axis(np.int64(3), "tile"))
    assert per_axis((2, 1), "scale", axes=2) == (2, 1)
    for bad in [(2, 2), (2, 2, 2, 2), (2, 0, 2), (2.0, 2, 2), 1.5, True, (2, True, 2), "222", None]:
        with pytest.raises(ValueError, match=r"^edge must be three integers >= 1 \(one per axis\)"):
            per_axis(bad, "edge")
    with pytest.raises(ValueError, match="integers >= 4"):
        per_axis((8, 8, 2), "patch_size", minimum=4)


@pytest.mark.parametrize("order", list(INTERPOLATORS))
@pytest.mark.parametrize("factors", FACTORS)
def test_hr_to_lr_to_upsample_lands_on_the_hr_grid(volume, order, factors):
    lr = simulate_lr(volume, factors, method="kspace")
    up = upsample(lr, factors, order=order)
    hr = cropped(volume, factors)
    assert up.shape == hr.shape
    np.testing.assert_allclose(up.affine, volume.affine, atol=1e-6)
    np.testing.assert_allclose(world(up.affine, up.shape), world(hr.affine, hr.shape), atol=1e-6)
    assert np.linalg.norm(centroid_mm(up) - centroid_mm(hr)) < 0.1
    assert up.data.mean() == pytest.approx(hr.data.mean(), rel=0.01)


def test_nearest_repeats_each_lr_voxel_over_the_voxels_it_covers():
    lr = Volume(np.arange(8, dtype=np.float32).reshape(2, 2, 2), np.diag([2.0, 2.0, 2.0, 1.0]))
    up = upsample(lr, 2, order="nearest")
    np.testing.assert_array_equal(up.data, lr.data.repeat(2, 0).repeat(2, 1).repeat(2, 2))


@pytest.mark.parametrize("order", ["trilinear", "cubic"])
def test_linear_and_cubic_reproduce_a_linear_ramp_in_world_space(order):
    affine = oblique_affine()
    lr = Volume(world(affine, (16, 16, 16))[1] * 0.5, affine)
    up = upsample(lr, (2, 2, 3), order=order)
    expected = world(up.affine, up.shape)[1] * 0.5
    # Away from the borders, where the mirrored boundary bends the ramp (cubic: ~0.27x per voxel).
    interior = (slice(12, -12),) * 3
    np.testing.assert_allclose(up.data[interior], expected[interior], atol=1e-3)


def test_upsample_refuses_unknown_order(volume):
    with pytest.raises(ValueError, match="Unknown interpolation"):
        upsample(volume, 2, order="lanczos")
    with pytest.raises(ValueError, match="0, 1 or 3"):
        upsample(volume, 2, order=2)


def test_superior_axis_follows_the_affine():
    assert superior_axis(np.eye(4)) == 2
    sagittal = np.eye(4)[[1, 2, 0, 3]]  # data axes run along (S, R, A)
    assert superior_axis(sagittal) == 0
