"""A volume as a new derived DICOM series, written beside the original, never into it.

pydicom writes it, one single-frame image per slice of the volume's third axis: the storage
class every PACS and viewer shows with its geometry (MR Image Storage for an MR source),
where highdicom's writers make enhanced multi-frame or secondary-capture objects, which many
workstations show without the patient geometry a radiologist measures in. Each image is a
derived one (ImageType DERIVED\\SECONDARY) in a new series (new Series and SOP Instance UIDs)
of the source's study and frame of reference, carrying the source's patient and study
attributes; the voxels are stored as unsigned 16-bit values with one RescaleSlope/Intercept
for the whole series. The series goes to a temporary folder beside the target, renamed only
once every file is whole: a crash leaves no half series.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from napari_mrisr import __version__
from napari_mrisr.atomic import TEMP_MARK, check_writable
from napari_mrisr.volume.base import Volume, VolumeError

from .reading import LPS_TO_RAS

__all__ = ["SERIES_NUMBER_OFFSET", "save_series", "series_description"]

#: A derived series is numbered after its source: source number + this.
SERIES_NUMBER_OFFSET = 1000
#: Storage classes of single-frame images with patient geometry a derived series may keep.
_SINGLE_FRAME = {
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
}


def series_description(factors, method: str) -> str:
    """What a PACS list shows for a derived series, e.g. ``SR x4 self-supervised (napari-mrisr
    0.1.0)`` or ``SR x2 mni-x2-iso (...)``; at most 64 characters (DICOM's LO).

    ``factors`` are the per-axis upsampling factors (or one number); the largest is named.
    """
    largest = max(np.atleast_1d(np.asarray(factors, dtype=float)))
    factor = f"x{largest:g}" if largest == round(largest) else f"x{largest:.2g}"
    return f"SR {factor} {method} (napari-mrisr {__version__})"[:64]


def save_series(
    volume: Volume,
    folder: str | os.PathLike,
    description: str,
    source: dict | None = None,
) -> Path:
    """Write ``volume`` as a new derived series into the new folder ``folder``.

    Parameters
    ----------
    volume : Volume
        Slices along its third axis, in the reader's convention (the last row first).
    folder : path
        A folder that does not exist yet (or is empty); the source's folder is refused.
    description : str
        SeriesDescription, naming the method and the model (:func:`series_description`).
    source : dict, optional
        The source series' attributes (``volume.header["dicom"]`` of a volume read from
        DICOM): patient, study and frame of reference carried over. Without it the series
        starts a new study of an anonymous patient.

    Returns
    -------
    Path
        The folder, holding ``IM00001.dcm`` ... one file per slice.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{str(folder)!r} already exists; a DICOM series is written into a new folder.")
    lps = LPS_TO_RAS @ volume.affine
    columns, rows, slices = volume.shape
    dc, dr, ds = np.linalg.norm(lps[:3, :3], axis=0)
    axes = lps[:3, :3] / [dc, dr, ds]
    if np.abs(axes.T @ axes - np.eye(3)).max() > 1e-4:
        raise VolumeError(f"{volume.name!r} has sheared voxel axes, which DICOM images cannot describe.")
    stored, slope, intercept = _stored(volume.data)
    check_writable(folder.parent / f".{folder.name}", stored.nbytes + slices * 4096)  # its parent
    source = dict(source or {})
    template = _template(volume, source, description, (dr, dc), float(ds), slope, intercept)
    template.ImageOrientationPatient = [*np.round(axes[:, 0], 8), *np.round(-axes[:, 1], 8)]
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}{TEMP_MARK}{os.getpid()}-", dir=folder.parent))
    try:
        for k in range(slices):
            image = pydicom.Dataset()
            image.update(template)
            image.file_meta = _file_meta(template.SOPClassUID)
            image.SOPInstanceUID = image.file_meta.MediaStorageSOPInstanceUID
            image.InstanceNumber = k + 1
            # pixel (column 0, row 0) of slice k: the reader's last row is DICOM's first
            image.ImagePositionPatient = [float(v) for v in np.round((lps @ [0, rows - 1, k, 1])[:3], 6)]
            image.SliceLocation = float(np.dot(np.cross(axes[:, 0], -axes[:, 1]), image.ImagePositionPatient))
            image.PixelData = np.ascontiguousarray(stored[:, ::-1, k].T).tobytes()
            image.save_as(work / f"IM{k + 1:05d}.dcm", enforce_file_format=True)
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.rename(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def _stored(data: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Unsigned 16-bit values and the rescale that gives the voxels back (to 1/65535 of the range)."""
    low, high = float(data.min()), float(data.max())
    slope = (high - low) / 65535 if high > low else 1.0
    stored = np.clip(np.round((data - low) / slope), 0, 65535).astype(np.uint16)
    return stored, slope, low


def _file_meta(sop_class: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    return meta


def _template(
    volume: Volume,
    source: dict,
    description: str,
    pixel_spacing: tuple[float, float],
    slice_spacing: float,
    slope: float,
    intercept: float,
) -> Dataset:
    """The attributes every image of the new series shares."""
    now = datetime.datetime.now()
    ds = Dataset()
    for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
                "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
                "StudyDescription", "Manufacturer", "MagneticFieldStrength", "BodyPartExamined",
                "PatientPosition"):  # fmt: skip
        if source.get(key):
            setattr(ds, key, source[key])
    ds.PatientName = source.get("PatientName", "Anonymous")
    ds.PatientID = source.get("PatientID", "")
    ds.StudyInstanceUID = source.get("StudyInstanceUID") or generate_uid()
    ds.FrameOfReferenceUID = source.get("FrameOfReferenceUID") or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    sop_class = source.get("SOPClassUID")
    ds.SOPClassUID = sop_class if sop_class in _SINGLE_FRAME else MRImageStorage
    ds.Modality = source.get("Modality") or "MR"
    number = int(float(source.get("SeriesNumber") or 0))
    ds.SeriesNumber = number + SERIES_NUMBER_OFFSET
    ds.SeriesDescription = description[:64]
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DerivationDescription = f"{description} of series {source.get('SeriesNumber', '?')}"[:1024]
    ds.SoftwareVersions = f"napari-mrisr {__version__}"
    ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
    ds.PixelSpacing = [float(round(pixel_spacing[0], 8)), float(round(pixel_spacing[1], 8))]
    ds.SliceThickness = float(round(slice_spacing, 8))  # the SR grid's slices touch: no gap
    ds.SpacingBetweenSlices = float(round(slice_spacing, 8))
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = float(slope), float(intercept)
    low, high = np.percentile(volume.data, [1, 99])
    ds.WindowCenter, ds.WindowWidth = float((low + high) / 2), float(max(high - low, 1e-6))
    return ds
