"""A scan given by path, whichever its format: a NIfTI/MGZ file, or a DICOM series (a folder,
a DICOMDIR or one of its files) - what the command line and napari's File > Open accept."""

from __future__ import annotations

import os
from pathlib import Path

from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import is_volume_path, load_volume

from .reading import load_series
from .series import is_dicom_file

__all__ = ["is_dicom_input", "read_scan"]

#: Files looked at to tell a DICOM folder from a folder of volumes (a quick look, not a scan).
PEEK = 50


def is_dicom_input(path: str | os.PathLike) -> bool:
    """Whether ``path`` is DICOM: a DICOM file, a DICOMDIR, or a folder whose files (the first
    few looked at) include DICOM and no NIfTI/MGZ volume."""
    path = Path(path)
    if path.is_file():
        return path.name.upper() == "DICOMDIR" or is_dicom_file(path)
    if not path.is_dir():
        return False
    if (path / "DICOMDIR").is_file():
        return True
    seen = 0
    dicom = False
    for entry in path.rglob("*"):
        if not entry.is_file():
            continue
        if is_volume_path(entry):
            return False
        dicom = dicom or is_dicom_file(entry)
        seen += 1
        if seen >= PEEK:
            break
    return dicom


def read_scan(path: str | os.PathLike) -> Volume:
    """The volume at ``path``: a DICOM series (its one series) or a NIfTI/MGZ file."""
    return load_series(path) if is_dicom_input(path) else load_volume(path)
