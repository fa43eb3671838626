"""Reading and writing MRI volumes (NIfTI-1/2 and MGH/MGZ) through nibabel.

A :class:`Volume` is the one data type the whole package passes around: voxel data in the
file's own axis order plus the voxel-to-world affine (millimetres, nibabel's RAS+ convention).
Every bad input is refused here with one :class:`VolumeError` sentence, before anything
large is allocated, so callers (reader, widgets, CLI) only have to show that sentence.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import psutil

__all__ = [
    "SUFFIXES",
    "Volume",
    "VolumeError",
    "check_volume_path",
    "is_volume_path",
    "load_volume",
    "save_volume",
    "volume_name",
]

#: File name endings this package reads and writes.
SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh")

#: A volume is refused if its float32 copy would take more than this share of the free memory.
MEMORY_FRACTION = 0.5


class VolumeError(ValueError):
    """A file or array that cannot be used as a 3D MRI volume; the message says why."""


@dataclass
class Volume:
    """A 3D MRI volume with its geometry.

    Parameters
    ----------
    data : numpy.ndarray
        3D float32 array in the file's voxel axis order.
    affine : numpy.ndarray
        4x4 float64 voxel-to-world matrix in millimetres (RAS+), as nibabel gives it.
    name : str
        A short name for display (layer names, file names).
    """

    data: np.ndarray
    affine: np.ndarray
    name: str = "volume"

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        self.affine = np.array(self.affine, dtype=np.float64)
        if self.data.ndim != 3:
            raise VolumeError(f"A volume must be 3D, but {self.name!r} has shape {self.data.shape}.")
        check_affine(self.affine, self.name)

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size along each data axis in mm (the lengths of the affine's columns)."""
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.data.shape


def check_affine(affine: np.ndarray, name: str = "volume") -> None:
    """Refuse an affine that cannot place voxels in the world (non-finite or singular)."""
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise VolumeError(f"{name!r} has an invalid voxel-to-world affine.")
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    if np.any(spacing <= 0) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise VolumeError(f"{name!r} has zero voxel spacing: its geometry is undefined.")


def is_volume_path(path: str | os.PathLike) -> bool:
    """True if the file name ends with a suffix this package reads."""
    return str(path).lower().endswith(SUFFIXES)


def check_volume_path(path: str | os.PathLike) -> Path:
    """Refuse, before any work, an output name this package cannot write."""
    path = Path(path)
    if not is_volume_path(path):
        raise VolumeError(f"{path.name!r}: choose a file name ending in {', '.join(SUFFIXES)}.")
    return path


def volume_name(path: str | os.PathLike) -> str:
    """The file name without its volume suffix ('T1.nii.gz' -> 'T1')."""
    name = Path(path).name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_volume(path: str | os.PathLike, *, max_bytes: int | None = None) -> Volume:
    """Read a NIfTI-1/2 or MGH/MGZ file as a float32 :class:`Volume`.

    A 4D series with more than one volume gives its first volume and a ``UserWarning``;
    trailing singleton axes are dropped.

    Parameters
    ----------
    path : str or PathLike
        The file to read.
    max_bytes : int, optional
        Refuse volumes whose float32 data would exceed this many bytes. By default half
        the memory available now.

    Raises
    ------
    VolumeError
        For a missing, corrupt or truncated file, a 2D image, RGB or complex voxels,
        NaN or Inf voxels, zero or negative spacing, or a volume too large for memory.
    """
    path = Path(path)
    name = volume_name(path)
    if not path.is_file():
        raise VolumeError(f"{str(path)!r} does not exist or is not a file.")
    try:
        img = nib.load(path)
    except Exception as exc:  # nibabel raises many types for unreadable files
        raise VolumeError(
            f"{path.name!r} is not a readable NIfTI or MGH/MGZ image ({_reason(exc)})."
        ) from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image, nib.MGHImage)):
        raise VolumeError(f"{path.name!r} is a {type(img).__name__}, not a NIfTI or MGH/MGZ image.")

    shape = tuple(int(n) for n in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) < 3 or min(shape[:3]) < 2:
        raise VolumeError(f"{path.name!r} has shape {img.shape}: it is not a 3D volume.")
    if len(shape) > 4:
        raise VolumeError(f"{path.name!r} has {len(shape)} dimensions; only 3D or 4D series are read.")
    dtype = img.get_data_dtype()
    if dtype.fields is not None or dtype.kind == "c":
        raise VolumeError(f"{path.name!r} holds {dtype} voxels (RGB or complex), not intensities.")

    zooms = _declared_spacing(img)
    if any(z <= 0 for z in zooms):
        raise VolumeError(
            f"{path.name!r} declares zero or negative voxel spacing {tuple(map(float, zooms))}."
        )
    affine = np.array(img.affine, dtype=np.float64)
    check_affine(affine, path.name)

    nbytes = int(np.prod(shape[:3])) * 4
    limit = max_bytes if max_bytes is not None else available_bytes()
    if nbytes > limit:
        raise VolumeError(
            f"{path.name!r} needs {nbytes / 2**30:.1f} GiB as float32 but only "
            f"{limit / 2**30:.1f} GiB can be used; crop or downsample it first."
        )

    try:
        dataobj = img.dataobj
        if len(shape) == 4:
            if shape[3] > 1:
                warnings.warn(
                    f"{path.name!r} is a 4D series of {shape[3]} volumes; using the first.",
                    UserWarning,
                    stacklevel=2,
                )
            data = np.asarray(dataobj[..., 0], dtype=np.float32)
        else:
            data = np.asarray(dataobj, dtype=np.float32).reshape(shape)
    except Exception as exc:
        raise VolumeError(f"{path.name!r} is truncated or corrupt ({_reason(exc)}).") from exc

    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise VolumeError(f"{path.name!r} contains {bad} NaN or infinite voxels.")
    return Volume(data=data, affine=affine, name=name)


def save_volume(volume: Volume, path: str | os.PathLike) -> Path:
    """Write a :class:`Volume` as NIfTI (.nii, .nii.gz) or MGH (.mgz, .mgh), atomically.

    The data is written as float32 with its affine (NIfTI: sform and qform), so saving a
    loaded volume reproduces its data and affine exactly. MGH stores the geometry as float32
    direction cosines, voxel sizes and centre, so there the affine is kept to about 1e-6 mm.
    The file appears under its final name only once it is complete.
    """
    path = check_volume_path(path)
    data = np.asarray(volume.data, dtype=np.float32)
    if path.name.lower().endswith((".mgz", ".mgh")):
        img = nib.MGHImage(data, volume.affine)
    else:
        img = nib.Nifti1Image(data, volume.affine)
        img.header.set_xyzt_units("mm", "sec")
        img.set_sform(volume.affine, code="aligned")
        img.set_qform(volume.affine, code="aligned")
        img.header["descrip"] = b"napari-mrisr"
    suffix = next(s for s in sorted(SUFFIXES, key=len, reverse=True) if path.name.lower().endswith(s))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        nib.save(img, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _declared_spacing(img) -> tuple[float, ...]:
    """Voxel spacing as the file declares it, before nibabel's silent fixes.

    nibabel replaces zero pixdim by 1 mm and negative pixdim by its absolute value when it
    reads a NIfTI header; both are guesses that would misplace voxels, so read the header
    again unchecked. Only matters where the affine comes from pixdim (no sform).
    """
    if isinstance(img, nib.Nifti1Image) and int(img.header["sform_code"]) == 0:
        with nib.openers.ImageOpener(img.get_filename()) as fobj:
            raw = type(img.header).from_fileobj(fobj, check=False)
        return tuple(float(z) for z in raw["pixdim"][1:4])
    return tuple(float(z) for z in img.header.get_zooms()[:3])


def available_bytes() -> int:
    """Bytes a new volume may take: a fixed share of the memory available now."""
    return int(psutil.virtual_memory().available * MEMORY_FRACTION)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
