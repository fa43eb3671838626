"""A DICOM series as a :class:`~napari_mrisr.volume.base.Volume`, with exact patient geometry.

highdicom builds the volume (``get_volume_from_series`` for single-frame series, the image's
own volume for multi-frame objects): it sorts the slices by their position along the normal,
applies the modality transform (RescaleSlope/Intercept) and gives the voxel-to-LPS affine,
the slice spacing coming from the positions, never from SliceThickness. Here the series is
checked first, so each thing that makes it no volume is one sentence, and the result is turned
to this package's convention, which is dcm2niix's: data axes (column, row, slice) with the
last row first, slices in the order of their position along the normal (column x row
direction), and a RAS affine (``diag(-1, -1, 1, 1) @ LPS``). SliceThickness is kept in the volume's header
(``dicom.thickness_mm``): it is the slice profile's width, which self-supervised SR models.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.io import available_bytes

from .series import DicomSeries, find_series

__all__ = ["CARRIED", "LPS_TO_RAS", "load_series", "series_volume"]

#: LPS (DICOM's patient coordinates) to RAS (nibabel's), and back: the same matrix.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: Attributes of the source series a derived series carries over (patient, study, frame).
CARRIED = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
    "ReferringPhysicianName", "StudyDescription", "FrameOfReferenceUID", "Modality",
    "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "Manufacturer",
    "MagneticFieldStrength", "BodyPartExamined", "PatientPosition", "SOPClassUID",
)  # fmt: skip

#: Relative difference of slice gaps above which a series is not regularly spaced.
SPACING_TOLERANCE = 0.01


def load_series(source: DicomSeries | str | os.PathLike | Sequence[str | os.PathLike]) -> Volume:
    """Read one DICOM series (a :class:`DicomSeries`, or files/a folder holding exactly one).

    Raises
    ------
    VolumeError
        One sentence for whatever makes the series no 3D volume: several series, one slice,
        a localiser, a Siemens mosaic, mixed orientations or sizes, unequal slice spacing
        (a missing slice), no geometry, a volume too large for memory, unreadable pixels.
    """
    if isinstance(source, DicomSeries):
        series = source
    else:
        paths = [source] if isinstance(source, str | os.PathLike) else list(source)
        found = find_series(paths)
        if len(found) > 1:
            listed = "; ".join(s.describe() for s in found[:4])
            raise VolumeError(
                f"{', '.join(map(str, paths))} holds {len(found)} series ({listed}); pick one."
            )
        series = found[0]
    _check_series(series)
    needed = series.frames * series.rows * series.columns * (4 + 8)  # float32 + highdicom's float64
    if needed > available_bytes():
        raise VolumeError(
            f"Series {series.describe()!r} needs more memory than this machine can spare; "
            "crop or downsample it first."
        )
    datasets = [_read(path) for path in series.files]
    return series_volume(datasets, series)


def _read(path: Path) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise VolumeError(f"{path.name!r} is not a readable DICOM file ({exc}).") from exc


def _check_series(series: DicomSeries) -> None:
    """Refusals that the headers alone decide."""
    name = series.describe()
    if "MOSAIC" in series.image_types:
        raise VolumeError(
            f"Series {name!r} is a Siemens mosaic (many slices tiled in one image); convert it "
            "with dcm2niix and open the NIfTI file."
        )
    if "LOCALIZER" in series.image_types or "SCOUT" in series.image_types:
        raise VolumeError(f"Series {name!r} is a localiser (scout), not a volume.")
    if series.frames < 2:
        raise VolumeError(f"Series {name!r} holds one image, not a volume of slices.")


def series_volume(datasets: Sequence[pydicom.Dataset], series: DicomSeries | None = None) -> Volume:
    """The volume of one series' datasets (single-frame images, or one multi-frame object)."""
    import highdicom as hd

    first = datasets[0]
    label = series.describe() if series is not None else str(first.get("SeriesDescription", "series"))
    multiframe = [d for d in datasets if int(d.get("NumberOfFrames", 1) or 1) > 1]
    try:
        if multiframe:
            if len(datasets) > 1:
                raise VolumeError(f"Series {label!r} holds {len(datasets)} multi-frame objects; open them one by one.")
            volume = hd.Image.from_dataset(first).get_volume(dtype=np.float32)
        else:
            _check_single_frames(datasets, label)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom's notes on vendors' odd VRs
                volume = hd.get_volume_from_series(datasets, dtype=np.float32)
    except VolumeError:
        raise
    except (RuntimeError, ValueError, AttributeError, KeyError, TypeError, NotImplementedError) as exc:
        raise VolumeError(f"Series {label!r} cannot be read as a volume ({_reason(exc)}).") from exc
    return _our_volume(volume, first, label, series)


def _check_single_frames(datasets: Sequence[pydicom.Dataset], label: str) -> None:
    """Sizes, orientations and positions of single-frame images that make one regular grid."""
    sizes = {(int(d.Rows), int(d.Columns)) for d in datasets}
    if len(sizes) > 1:
        raise VolumeError(f"Series {label!r} mixes image sizes {sorted(sizes)}; it is not one volume.")
    if any("ImageOrientationPatient" not in d or "ImagePositionPatient" not in d for d in datasets):
        raise VolumeError(f"Series {label!r} has images without a position or orientation in the patient.")
    orientations = np.array([[float(v) for v in d.ImageOrientationPatient] for d in datasets])
    if np.abs(orientations - orientations[0]).max() > 1e-3:
        raise VolumeError(f"Series {label!r} mixes slice orientations; it is not one volume.")
    normal = np.cross(orientations[0, :3], orientations[0, 3:])
    positions = np.sort([float(np.dot(normal, [float(v) for v in d.ImagePositionPatient])) for d in datasets])
    gaps = np.diff(positions)
    if np.any(gaps < 1e-4 * max(1.0, abs(positions).max())):
        count = len(positions) - len(np.unique(np.round(positions, 4)))
        raise VolumeError(
            f"Series {label!r} has {count} images at a position another image already has "
            "(echoes or time points?); it is not one volume."
        )
    step = float(np.median(gaps))
    odd = np.flatnonzero(np.abs(gaps - step) > SPACING_TOLERANCE * step)
    if odd.size:
        at = odd[0]
        raise VolumeError(
            f"Series {label!r} has unequal slice spacing: slices {step:.3g} mm apart but "
            f"{gaps[at]:.3g} mm between slices {at + 1} and {at + 2} (a missing slice?)."
        )


def _our_volume(volume, first: pydicom.Dataset, label: str, series: DicomSeries | None) -> Volume:
    """highdicom's volume (axes slice, row, column; LPS) as ours (column, row, slice; RAS)."""
    data = np.asarray(volume.array, dtype=np.float32)
    if data.ndim != 3:
        raise VolumeError(f"Series {label!r} has {data.ndim} dimensions; only one volume can be read.")
    data = data.transpose(2, 1, 0)
    lps = np.asarray(volume.affine, dtype=np.float64)[:, [2, 1, 0, 3]]
    normal = np.cross(lps[:3, 0], lps[:3, 1])  # column x row: DICOM's stacking direction
    if np.dot(lps[:3, 2], normal) < 0:  # slices in order of their position along the normal
        lps, data = _flipped(lps, data, 2)
    lps, data = _flipped(lps, data, 1)  # the last row first, as dcm2niix stores it
    data = np.ascontiguousarray(data)
    affine = LPS_TO_RAS @ lps
    if not np.all(np.isfinite(data)):
        raise VolumeError(f"Series {label!r} contains NaN or infinite voxels.")
    thickness = series.thickness if series is not None else _thickness(first)
    carried = {key: str(first.get(key)) for key in CARRIED if first.get(key) not in (None, "")}
    header = {"dicom": {**carried, "thickness_mm": thickness, "slice_axis": 2}}
    name = str(first.get("SeriesDescription") or f"series {first.get('SeriesNumber', '')}").strip()
    return Volume(data, affine, name or "DICOM series", header)


def _flipped(lps: np.ndarray, data: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The same voxels with ``axis`` indexed the other way round (the affine follows)."""
    lps = lps.copy()
    last = [0, 0, 0, 1]
    last[axis] = data.shape[axis] - 1
    lps[:, 3] = lps @ last
    lps[:, axis] *= -1
    return lps, np.flip(data, axis)


def _thickness(ds: pydicom.Dataset) -> float | None:
    try:
        value = float(ds.get("SliceThickness"))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
