"""Metrics agree with scikit-image and behave sensibly inside masks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import skimage.metrics

from napari_mrisr.volume import metrics
from napari_mrisr.volume.base import Volume

from ..phantoms import head_phantom


@pytest.fixture
def pair():
    ref = head_phantom((30, 26, 22))
    noisy = ref + np.random.default_rng(3).normal(0, 4, ref.shape).astype(np.float32)
    return noisy, ref


def test_psnr_matches_scikit_image(pair):
    x, ref = pair
    for data_range in (None, 255.0):
        expected = skimage.metrics.peak_signal_noise_ratio(
            ref, x, data_range=float(ref.max() - ref.min()) if data_range is None else data_range
        )
        assert metrics.psnr(x, ref, data_range) == pytest.approx(expected, abs=1e-6)


def test_ssim_matches_scikit_image_in_3d(pair):
    x, ref = pair
    data_range = float(ref.max() - ref.min())
    expected = skimage.metrics.structural_similarity(ref, x, data_range=data_range)
    assert metrics.ssim(x, ref) == pytest.approx(expected, abs=1e-4)
    assert metrics.ssim(ref, ref) == pytest.approx(1.0)


def test_nrmse_matches_scikit_image(pair):
    x, ref = pair
    assert metrics.nrmse(x, ref) == pytest.approx(skimage.metrics.normalized_root_mse(ref, x), abs=1e-7)


def test_masked_metrics_only_see_the_mask(pair):
    x, ref = pair
    mask = metrics.foreground_mask(ref)
    x_outside_changed = np.where(mask, x, x + 50)
    for fn in (metrics.psnr, metrics.ssim, metrics.nrmse):
        assert fn(x_outside_changed, ref, mask=mask) != pytest.approx(fn(x_outside_changed, ref))
    # PSNR/NRMSE in the mask are the plain formulas on the mask voxels.
    err = (x - ref)[mask]
    data_range = ref.max() - ref.min()
    assert metrics.psnr(x_outside_changed, ref, mask=mask) == pytest.approx(
        10 * np.log10(data_range**2 / np.mean(err.astype(np.float64) ** 2))
    )
    assert metrics.nrmse(x_outside_changed, ref, mask=mask) == pytest.approx(
        np.sqrt(np.mean(err.astype(np.float64) ** 2) / np.mean(ref[mask].astype(np.float64) ** 2))
    )
    # SSIM in the mask only sees voxels within its 7-voxel window of the mask.
    near = scipy.ndimage.binary_dilation(mask, np.ones((3, 3, 3)), iterations=3)
    assert metrics.ssim(np.where(near, x, 0), ref, mask=mask) == pytest.approx(
        metrics.ssim(x, ref, mask=mask), abs=1e-9
    )


def test_brain_mask_finds_the_head_and_fills_its_holes():
    shape = (32, 32, 32)
    grid = np.stack(np.meshgrid(*[np.arange(n) - 15.5 for n in shape], indexing="ij"))
    r = np.sqrt((grid**2).sum(0))
    data = np.where(r < 12, 100.0, 0.0)
    data[r < 4] = 5.0  # a dark ventricle inside the head
    data[0, 0, 0] = 100.0  # a speck of noise outside
    mask = metrics.foreground_mask(Volume(data, np.eye(4)))
    assert mask.dtype == bool
    assert mask[16, 16, 16] and not mask[0, 0, 0]
    assert abs(mask.sum() - (r < 12).sum()) / (r < 12).sum() < 0.1


def test_metrics_accept_volumes_and_refuse_mismatches(pair):
    x, ref = pair
    assert metrics.psnr(Volume(x, np.eye(4)), Volume(ref, np.eye(4))) == pytest.approx(metrics.psnr(x, ref))
    with pytest.raises(ValueError, match="shapes"):
        metrics.psnr(x[:-1], ref)
    with pytest.raises(ValueError, match="mask is empty"):
        metrics.psnr(x, ref, mask=np.zeros(ref.shape, bool))
    with pytest.raises(ValueError, match="constant"):
        metrics.psnr(x, np.ones_like(ref))
    np.testing.assert_array_equal(metrics.difference(x, ref), (x - ref).astype(np.float32))
    assert metrics.psnr(ref, ref) == float("inf")


def test_gradient_similarity_rewards_the_right_edges():
    from napari_mrisr.volume.metrics import gradient_similarity

    ref = np.zeros((16, 16, 16), np.float32)
    ref[:, :, 8:] = 100.0  # one sharp edge
    assert gradient_similarity(ref, ref) == pytest.approx(1.0)
    blurred = scipy.ndimage.gaussian_filter(ref, 2)
    ringing = ref + 10 * np.sin(np.arange(16))[None, None, :]
    assert gradient_similarity(blurred, ref) < 0.9 and gradient_similarity(ringing, ref) < 0.95
    # One edge voxel pair by hand: at the edge g_ref = 50 (central difference), g_x = 0.
    flat = np.full_like(ref, 50.0)
    c = (0.0026 * 100) ** 2
    mask = np.zeros(ref.shape, bool)
    mask[4, 4, 7] = True
    assert gradient_similarity(flat, ref, mask=mask) == pytest.approx(c / (50**2 + c))


def test_relative_sharpness_counts_edges_and_texture_wherever_they_are():
    from napari_mrisr.volume.metrics import gradient_similarity, relative_sharpness

    rng = np.random.default_rng(0)
    ref = scipy.ndimage.gaussian_filter(rng.normal(size=(24, 24, 24)), 1).astype(np.float32)
    assert relative_sharpness(ref, ref) == pytest.approx(1.0)
    assert relative_sharpness(2 * ref + 5, ref) == pytest.approx(2.0)  # gradients scale, offsets do not count
    assert relative_sharpness(scipy.ndimage.gaussian_filter(ref, 1.5), ref) < 0.6
    smooth_along_2 = scipy.ndimage.gaussian_filter1d(ref, 2, axis=2)
    along, across = (relative_sharpness(smooth_along_2, ref, axis=a) for a in (2, 0))
    assert along < 0.5 and across > along + 0.2, (along, across)
    # Texture of the same strength in the wrong place: as sharp, though GMSM calls it wrong.
    elsewhere = np.roll(ref, 7, axis=0)
    mask = np.zeros(ref.shape, bool)
    mask[4:20, 4:20, 4:20] = True
    assert relative_sharpness(elsewhere, ref, mask=mask) == pytest.approx(1.0, abs=0.15)
    assert gradient_similarity(elsewhere, ref, mask=mask) < 0.9


def test_one_table_scheme_for_compare_validation_and_benchmarks(pair):
    import csv
    import io
    import json

    x, ref = pair
    mask = metrics.foreground_mask(ref)
    table = metrics.metric_table({"model": x, "cubic": ref + 1.0}, ref, mask)
    # The scheme model files and training events store: {method: {psnr_brain, ..., nrmse}}.
    assert list(table) == ["model", "cubic"]
    assert list(table["model"]) == list(metrics.KEYS) == [
        "psnr_brain", "ssim_brain", "nrmse_brain", "psnr", "ssim", "nrmse"
    ]
    for name, fn in (("psnr", metrics.psnr), ("ssim", metrics.ssim), ("nrmse", metrics.nrmse)):
        assert table["model"][name + "_brain"] == fn(x, ref, mask=mask)
        assert table["model"][name] == fn(x, ref)
    json.dumps(table)  # plain floats
    assert metrics.metric_table({"model": x}, ref) == {"model": table["model"]}  # default mask
    # Averages, method by method and key by key.
    other = {m: {k: v + 2 for k, v in values.items()} for m, values in table.items()}
    mean = metrics.mean_tables([table, other])
    assert mean["cubic"]["nrmse"] == pytest.approx(table["cubic"]["nrmse"] + 1)
    with pytest.raises(ValueError, match="no volume"):
        metrics.mean_tables([])
    # Markdown: one row per method; CSV: one row per method and region at full precision.
    text = metrics.format_markdown(table).splitlines()
    assert text[0] == (
        "| method | PSNR brain | SSIM brain | NRMSE brain | PSNR whole | SSIM whole | NRMSE whole |"
    )
    model = table["model"]
    assert text[2].startswith(f"| model | {model['psnr_brain']:.2f} | {model['ssim_brain']:.4f} |")
    assert len(text) == 4
    table["model"]["gmsm_brain"] = table["cubic"]["gmsm_brain"] = 0.5
    extra = metrics.format_markdown(table, {"kind": {"model": "trained"}}).splitlines()
    assert extra[0].startswith("| method | kind | PSNR brain")
    assert extra[0].endswith("| GMSM brain |")
    assert extra[2].startswith("| model | trained | ") and extra[3].startswith("| cubic |  | ")
    rows = list(csv.DictReader(io.StringIO(metrics.table_csv(table))))
    assert [(r["method"], r["region"]) for r in rows] == [
        ("model", "foreground"),
        ("cubic", "foreground"),
        ("model", "whole volume"),
        ("cubic", "whole volume"),
    ]
    assert list(rows[0]) == ["method", "region", "psnr_db", "ssim", "nrmse"]
    assert float(rows[3]["nrmse"]) == table["cubic"]["nrmse"]
