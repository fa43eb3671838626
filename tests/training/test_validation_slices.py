"""Training's sample PNGs: titled columns, shown the radiological way whatever the file's axes."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mrisr.training.data.volumes import ValidationPair
from napari_mrisr.training.validation import axial_slice, coronal_slice, save_slices
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.volume.interpolate import upsample

AFFINES = {
    "RAS": np.diag([1.0, 1.0, 2.0, 1.0]),
    "LPS": np.diag([-1.0, -1.0, 2.0, 1.0]),
    "sagittal": np.eye(4)[[1, 2, 0, 3]] @ np.diag([1.0, 1.0, 2.0, 1.0]),  # file axes (A, S, R)
}


def right_anterior_blob(affine: np.ndarray, shape=(16, 16, 8)) -> np.ndarray:
    """A dark head with a bright blob at the patient's right and front (RAS x > 0, y > 0)."""
    index = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    ras = index @ affine[:3, :3].T + affine[:3, 3]
    centre = ras.reshape(-1, 3).mean(0)
    right, anterior = ras[..., 0] - centre[0], ras[..., 1] - centre[1]
    data = np.full(shape, 10.0, np.float32)
    data[(right > 3) & (anterior > 3)] = 100.0
    return data


def shape_for(affine: np.ndarray) -> tuple[int, int, int]:
    """(R, A, S) extents 16, 16, 8 in whatever order the file's axes run."""
    sizes = {0: 16, 1: 16, 2: 8}
    return tuple(sizes[int(np.argmax(np.abs(affine[:3, a])))] for a in range(3))


@pytest.mark.parametrize("name", AFFINES)
def test_patient_right_is_on_the_image_left_and_anterior_up(name):
    affine = AFFINES[name]
    data = right_anterior_blob(affine, shape_for(affine))
    image = axial_slice(data, affine, 4)
    assert image.shape == (16, 16)  # rows A-P, columns R-L
    h, w = image.shape
    assert image[: h // 2, : w // 2].max() == 100  # the blob: top left
    assert image[h // 2 :].max() == 10 and image[:, w // 2 :].max() == 10  # nothing elsewhere
    neurological = axial_slice(data, affine, 4, convention="neurological")
    np.testing.assert_array_equal(neurological, image[:, ::-1])


@pytest.mark.parametrize("name", AFFINES)
def test_coronal_slice_has_superior_up_and_patient_right_on_the_left(name):
    affine = AFFINES[name]
    data = right_anterior_blob(affine, shape_for(affine))
    ras = np.stack(np.meshgrid(*[np.arange(n) for n in data.shape], indexing="ij"), -1) @ affine[:3, :3].T
    data[ras[..., 2] < ras[..., 2].mean()] = 10.0  # the blob's upper half only: superior matters
    along = int(np.argmax(np.abs(affine[1, :3])))  # the data axis along anterior
    k = data.shape[along] - 2 if affine[1, along] > 0 else 1  # a slice through the (anterior) blob
    image = coronal_slice(data, affine, k)
    assert image.shape == (8, 16)  # rows S-I, columns R-L
    h, w = image.shape
    assert image[: h // 2, : w // 2].max() == 100  # top left: superior, patient's right
    assert image[h // 2 :].max() == 10 and image[:, w // 2 :].max() == 10
    np.testing.assert_array_equal(coronal_slice(data, affine, k, "neurological"), image[:, ::-1])


def test_sample_png_has_titled_radiological_columns(tmp_path):
    from PIL import Image

    affine = AFFINES["LPS"]
    hr = Volume(right_anterior_blob(affine), affine, name="hr")
    lr = simulate_lr(hr, (1, 1, 2))
    cubic = upsample(lr, (1, 1, 2), order="cubic")
    pair = ValidationPair(hr=hr, lr=lr, mask=np.ones(hr.shape, bool))
    volumes = {"cubic": cubic, "sr": cubic}
    path = save_slices(tmp_path / "samples" / "step.png", pair, volumes, count=2)

    png = np.asarray(Image.open(path))
    strip, tile, gap = 14, 96, 4  # title row above, R/L row below; 16-pixel slices enlarged x6
    assert png.shape == (strip + 2 * tile + gap + strip, 4 * tile + 3 * gap)
    for c in range(4):
        x = c * (tile + gap)
        assert png[:strip, x : x + tile].max() > 200  # a title above each column
        assert png[-strip:, x : x + tile // 4].max() > 200  # "R" under the left edge
        assert png[-strip:, x + 3 * tile // 4 : x + tile].max() > 200  # "L" under the right edge
        for r in range(2):  # every tile: the blob (patient's right, front) in the top left quarter
            y = strip + r * (tile + gap)
            cell = png[y : y + tile, x : x + tile].astype(float)
            elsewhere = max(cell[:, tile // 2 :].mean(), cell[tile // 2 :].mean())
            assert cell[: tile // 2, : tile // 2].mean() > 2 * elsewhere
    assert list(tmp_path.joinpath("samples").iterdir()) == [path]  # no temporary file left
