"""DICOM series written by hand from a known NIfTI volume, independently of the package's writer.

The NIfTI's voxel ``data[i, j, k]`` is column ``i``, row ``rows - 1 - j`` of slice ``k`` (dcm2niix's
convention), so reading the series back must give the NIfTI's affine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def write_series(
    data: np.ndarray,
    affine: np.ndarray,
    folder: Path,
    order=None,
    thickness: float | None = None,
    slope: float = 1.0,
    intercept: float = 0.0,
    uids: dict | None = None,
    **attributes,
) -> Path:
    """One file per slice ``k`` (in ``order``, default ascending), the images' rows reversed."""
    folder.mkdir(parents=True, exist_ok=True)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    rows = data.shape[1]
    dc, dr, ds = np.linalg.norm(lps[:3, :3], axis=0)
    uids = {"study": generate_uid(), "series": generate_uid(), "frame": generate_uid(), **(uids or {})}
    for n, k in enumerate(range(data.shape[2]) if order is None else order):
        ds_ = Dataset()
        ds_.file_meta = FileMetaDataset()
        ds_.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds_.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds_.SOPInstanceUID = ds_.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds_.SOPClassUID = MRImageStorage
        ds_.StudyInstanceUID, ds_.SeriesInstanceUID = uids["study"], uids["series"]
        ds_.FrameOfReferenceUID = uids["frame"]
        ds_.Modality, ds_.PatientName, ds_.PatientID = "MR", "Test^Phantom", "PHANTOM-1"
        ds_.SeriesNumber, ds_.SeriesDescription = 3, "T1 phantom"
        ds_.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds_.InstanceNumber = k + 1
        ds_.Rows, ds_.Columns = rows, data.shape[0]
        ds_.PixelSpacing = [float(dr), float(dc)]
        ds_.ImageOrientationPatient = [*(lps[:3, 0] / dc), *(-lps[:3, 1] / dr)]
        ds_.ImagePositionPatient = [float(v) for v in (lps @ [0, rows - 1, k, 1])[:3]]
        ds_.SliceThickness = float(ds) if thickness is None else thickness
        ds_.SamplesPerPixel, ds_.PhotometricInterpretation = 1, "MONOCHROME2"
        ds_.BitsAllocated, ds_.BitsStored, ds_.HighBit, ds_.PixelRepresentation = 16, 16, 15, 0
        ds_.RescaleSlope, ds_.RescaleIntercept = slope, intercept
        stored = np.round((data[:, ::-1, k].T - intercept) / slope).astype(np.uint16)
        ds_.PixelData = stored.tobytes()
        for key, value in attributes.items():
            setattr(ds_, key, value)
        ds_.save_as(folder / f"{n:04d}.dcm", enforce_file_format=True)
    return folder


def oblique(spacing=(0.9, 1.1, 3.0), tilt=0.35, turn=0.2, origin=(-20.0, 15.5, 7.25)) -> np.ndarray:
    """Axial slices tilted ``tilt`` rad about L-R (as along the AC-PC line) and turned ``turn``
    rad in-plane: an oblique acquisition."""
    ct, st, cz, sz = np.cos(tilt), np.sin(tilt), np.cos(turn), np.sin(turn)
    about_x = np.array([[1, 0, 0], [0, ct, -st], [0, st, ct]])
    about_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = about_x @ about_z @ np.diag(spacing)
    affine[:3, 3] = origin
    return affine
