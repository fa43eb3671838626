"""The command lines on a radiologist's data: a DICOM series in, a file or a derived series out."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from napari_mrisr import zoo
from napari_mrisr.cli import main
from napari_mrisr.dicom import find_series, load_series
from napari_mrisr.volume.io import load_volume

from ..phantoms import head_phantom
from .helpers import oblique, write_series
from .test_reading import FLIP


@pytest.fixture
def series(tmp_path):
    """An axial series of 4 mm slices (1 x 1 mm in-plane): a thick-slice scan."""
    data = head_phantom((16, 16, 6)) * 10
    return write_series(data.round(), np.diag([1.0, 1.0, 4.0, 1.0]) @ FLIP, tmp_path / "T1_axial", thickness=3.0)


@pytest.fixture
def x4(tmp_path):
    from ..phantoms import X4, tiny

    return str(zoo.save_model(tiny((1, 1, 4), X4), tmp_path / "x4.safetensors", X4))


def test_predict_reads_a_series_and_writes_a_file_and_a_derived_series(tmp_path, series, x4, capsys):
    code = main(["predict", str(series), str(tmp_path / "sr.nii.gz"), "--dicom-out", str(tmp_path / "T1_sr"),
                 "--model", x4, "--device", "cpu"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    file, derived = load_volume(tmp_path / "sr.nii.gz"), load_series(tmp_path / "T1_sr")
    np.testing.assert_allclose(derived.affine, file.affine, atol=1e-4)
    assert derived.shape == file.shape == (16, 16, 24)
    image = pydicom.dcmread(next((tmp_path / "T1_sr").iterdir()))
    assert image.SeriesDescription.startswith("SR x4 x4 (napari-mrisr")
    assert image.StudyInstanceUID == pydicom.dcmread(next(series.iterdir())).StudyInstanceUID


def test_a_folder_output_of_a_dicom_input_is_the_derived_series(tmp_path, series, x4, capsys):
    assert main(["predict", str(series), str(tmp_path / "out"), "--model", x4, "--device", "cpu"]) == 0
    (found,) = find_series([tmp_path / "out"])
    assert found.frames == 24 and "DERIVED" in found.image_types


def test_selfsr_of_a_series_writes_a_derived_series_named_for_the_method(tmp_path, series, capsys):
    assert main(["selfsr", str(series), str(tmp_path / "out"), "--steps", "2", "--device", "cpu"]) == 0
    # the profile it trains with is the series' own SliceThickness (3 mm), said before training
    assert "Slice thickness from the DICOM header: 3 mm" in capsys.readouterr().out
    image = pydicom.dcmread(sorted((tmp_path / "out").iterdir())[0])
    assert image.SeriesDescription.startswith("SR x4 self-supervised (napari-mrisr")
    assert load_series(tmp_path / "out").shape == (16, 16, 24)


@pytest.mark.parametrize(
    ("target", "sentence"),
    [("inside", "is inside the input series"), ("full", "already exists; a DICOM series is written into a new folder")],
)
def test_a_series_is_never_written_into_the_source_or_a_full_folder(tmp_path, series, x4, capsys, target, sentence):
    folder = series / "sr" if target == "inside" else tmp_path / "full"
    if target == "full":
        folder.mkdir()
        (folder / "mine.txt").write_text("the user's")
    before = sorted(p.name for p in series.iterdir())
    assert main(["predict", str(series), str(folder), "--model", x4, "--device", "cpu"]) == 2
    assert sentence in capsys.readouterr().err
    assert sorted(p.name for p in series.iterdir()) == before


def test_dicom_out_needs_a_dicom_source(tmp_path, x4, capsys):
    from napari_mrisr.volume.base import Volume
    from napari_mrisr.volume.io import save_volume

    save_volume(Volume(head_phantom((8, 8, 4)), oblique((1.0, 1.0, 4.0))), tmp_path / "in.nii.gz")
    code = main(["predict", str(tmp_path / "in.nii.gz"), str(tmp_path / "o.nii.gz"), "--dicom-out",
                 str(tmp_path / "s"), "--model", x4])  # fmt: skip
    assert code == 2 and "is not DICOM" in capsys.readouterr().err
