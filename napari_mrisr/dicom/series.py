"""Finding DICOM series: files, folders and DICOMDIRs scanned by their headers, grouped by series.

Only headers are read here (``stop_before_pixels``), so a folder of thousands of files is
listed quickly and a radiologist picks the series by what a PACS shows: modality, description,
orientation, size and spacing. Objects that are not images (structured reports, presentation
states, raw data) are left out of every series.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from napari_mrisr.volume.base import VolumeError

__all__ = ["DicomSeries", "find_series", "is_dicom_file", "orientation_name"]

#: Files read at most when a folder is scanned (a PACS export of a whole study holds a few
#: thousand; more means the wrong folder was chosen).
MAX_FILES = 20_000


@dataclass
class DicomSeries:
    """One series: its files and what a radiologist sees of it in a PACS list."""

    uid: str
    files: list[Path] = field(default_factory=list)
    modality: str = ""
    description: str = ""
    number: int | None = None
    rows: int = 0
    columns: int = 0
    frames: int = 0  # images in all: files, or the frames of a multi-frame object
    pixel_spacing: tuple[float, float] | None = None  # (row spacing, column spacing) in mm
    thickness: float | None = None  # SliceThickness: the slice profile's width, not the spacing
    orientation: str = ""  # axial, coronal, sagittal or oblique
    image_types: set[str] = field(default_factory=set)

    def describe(self) -> str:
        """E.g. ``"MR 3  T1 MPRAGE  sagittal, 176 x 256 x 256, 1 x 1 mm, 1 mm thick"``."""
        size = f"{self.frames} x {self.rows} x {self.columns}"
        spacing = (
            f", {self.pixel_spacing[0]:.3g} x {self.pixel_spacing[1]:.3g} mm"
            if self.pixel_spacing
            else ""
        )
        thick = f", {self.thickness:.3g} mm thick" if self.thickness else ""
        number = f" {self.number}" if self.number is not None else ""
        return f"{self.modality}{number}  {self.description or '(no description)'}  {self.orientation}, {size}{spacing}{thick}"


def is_dicom_file(path: str | os.PathLike) -> bool:
    """Whether a file starts like DICOM (the ``DICM`` preamble marker), read without parsing."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def orientation_name(iop: Sequence[float] | None) -> str:
    """``axial``, ``coronal`` or ``sagittal`` for slices within 10 degrees of one, else
    ``oblique`` (from ImageOrientationPatient: the slice normal's largest LPS component)."""
    if iop is None or len(iop) != 6:
        return "unknown"
    normal = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
    norm = np.linalg.norm(normal)
    if not norm or not np.isfinite(norm):
        return "unknown"
    normal = np.abs(normal / norm)
    axis = int(np.argmax(normal))
    if normal[axis] < np.cos(np.radians(10)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def _candidates(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The files behind ``paths``: files as given, folders walked, DICOMDIRs followed."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.name != "DICOMDIR")
            dicomdir = path / "DICOMDIR"
            if dicomdir.is_file():
                found += _dicomdir_files(dicomdir)
        elif path.is_file() and path.name.upper() == "DICOMDIR":
            found += _dicomdir_files(path)
        elif path.is_file():
            found.append(path)
        else:
            raise VolumeError(f"No file or folder at {str(path)!r}.")
        if len(found) > MAX_FILES:
            raise VolumeError(
                f"{str(path)!r} holds more than {MAX_FILES:,} files; choose the folder of one study."
            )
    return list(dict.fromkeys(p.resolve() for p in found))  # each file once


def _dicomdir_files(path: Path) -> list[Path]:
    """The image files a DICOMDIR references (paths relative to its folder)."""
    try:
        directory = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise VolumeError(f"{str(path)!r} is not a readable DICOMDIR ({exc}).") from exc
    files = []
    for record in getattr(directory, "DirectoryRecordSequence", []):
        parts = record.get("ReferencedFileID")
        if parts:
            parts = [parts] if isinstance(parts, str) else list(parts)
            files.append(path.parent.joinpath(*parts))
    return [f for f in files if f.is_file()]


def _number(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def find_series(paths: Iterable[str | os.PathLike]) -> list[DicomSeries]:
    """The image series among ``paths`` (files, folders, DICOMDIRs), by series number.

    One image file given alone stands for its series, as in a viewer that a file is dropped
    on: the files beside it (in its folder) of the same series join it.

    Raises
    ------
    VolumeError
        When no DICOM image is found (one sentence).
    """
    paths = list(paths)
    found = _grouped(_candidates(paths), paths)
    given = Path(paths[0]) if len(paths) == 1 else None
    alone = given is not None and given.is_file() and given.name.upper() != "DICOMDIR"
    if alone and len(found) == 1 and found[0].frames == 1:
        try:
            beside = sorted(p for p in given.resolve().parent.iterdir() if p.is_file())
        except OSError:  # a folder that cannot be listed: the file alone, refused as such
            beside = []
        if 1 < len(beside) <= MAX_FILES:
            found = [s for s in _grouped(beside, paths) if s.uid == found[0].uid]
    return found


def _grouped(candidates: list[Path], paths: list) -> list[DicomSeries]:
    """The image series among the candidate files, by series number (see :func:`find_series`)."""
    series: dict[str, DicomSeries] = {}
    for path in candidates:
        if not is_dicom_file(path):
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, AttributeError, EOFError):
            continue  # not DICOM after all, or broken: a series is judged by its readable files
        if "Rows" not in ds or "SeriesInstanceUID" not in ds:  # reports, states, raw data
            continue
        uid = str(ds.SeriesInstanceUID)
        entry = series.get(uid)
        if entry is None:
            spacing = ds.get("PixelSpacing")
            entry = series[uid] = DicomSeries(
                uid=uid,
                modality=str(ds.get("Modality", "")),
                description=str(ds.get("SeriesDescription", "")),
                number=int(ds.SeriesNumber) if _number(ds.get("SeriesNumber")) is not None else None,
                rows=int(ds.Rows),
                columns=int(ds.get("Columns", 0)),
                pixel_spacing=tuple(float(s) for s in spacing) if spacing and len(spacing) == 2 else None,
                thickness=_number(ds.get("SliceThickness")),
                orientation=orientation_name(ds.get("ImageOrientationPatient")),
            )
            _enhanced_geometry(ds, entry)
        entry.files.append(path)
        entry.frames += int(_number(ds.get("NumberOfFrames"), 1) or 1)
        entry.image_types.update(str(t).upper() for t in (ds.get("ImageType") or []))
    if not series:
        where = ", ".join(map(str, paths)) or "the given paths"
        raise VolumeError(f"No DICOM images in {where}.")
    return sorted(series.values(), key=lambda s: (s.number is None, s.number or 0, s.description))


def _enhanced_geometry(ds, entry: DicomSeries) -> None:
    """Pixel spacing, thickness and orientation of a multi-frame object: from its shared
    functional groups, or its first frame's where a vendor keeps them per frame."""
    groups = [g[0] for g in (ds.get("SharedFunctionalGroupsSequence"), ds.get("PerFrameFunctionalGroupsSequence")) if g]
    for group in groups:
        measures = group.get("PixelMeasuresSequence")
        if measures and entry.pixel_spacing is None:
            spacing = measures[0].get("PixelSpacing")
            if spacing and len(spacing) == 2:
                entry.pixel_spacing = tuple(float(s) for s in spacing)
            entry.thickness = _number(measures[0].get("SliceThickness"), entry.thickness)
        orientation = group.get("PlaneOrientationSequence")
        if orientation and entry.orientation in ("", "unknown"):
            entry.orientation = orientation_name(orientation[0].get("ImageOrientationPatient"))
