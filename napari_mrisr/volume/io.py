"""Reading and writing MRI volumes (NIfTI-1/2 and MGH/MGZ) through nibabel.

Every bad file is refused here with one :class:`~napari_mrisr.volume.base.VolumeError`
sentence, before anything large is allocated, so callers (reader, widgets, CLI) only have to
show that sentence.
"""

from __future__ import annotations

import glob
import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import psutil

from napari_mrisr.atomic import atomic_path, byte_size

from .base import Volume, VolumeError, VolumeWarning, check_affine

__all__ = [
    "SUFFIXES",
    "check_volume_path",
    "is_volume_path",
    "load_volume",
    "read_bytes",
    "save_volume",
    "volume_name",
]

#: File name endings this package reads and writes.
SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh")

#: A volume is refused if its float32 copy would take more than this share of the free memory.
MEMORY_FRACTION = 0.5

#: NIfTI header fields a loaded volume carries to its saved derivatives.
KEPT_HEADER_FIELDS = ("qform_code", "sform_code", "intent_code", "intent_name", "descrip")

#: NIfTI xform code "aligned to another file": what we write when the source said nothing.
_ALIGNED = 2


def is_volume_path(path: str | os.PathLike) -> bool:
    """True if the file name ends with a suffix this package reads."""
    return str(path).lower().endswith(SUFFIXES)


def find_volumes(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The volume files named by ``paths``: files, folders (not recursive) and glob patterns.

    Raises :class:`VolumeError` for a name that matches nothing, or if no volume is found.
    """
    found: list[Path] = []
    for entry in map(str, paths):
        pattern = glob.has_magic(entry) and not Path(entry).exists()  # 'scan[1].nii.gz' may be a file
        matches = [Path(m) for m in sorted(glob.glob(entry))] if pattern else [Path(entry)]
        if not matches:
            raise VolumeError(f"Nothing matches {entry!r}.")
        for path in matches:
            if path.is_dir():
                found += sorted(p for p in path.iterdir() if p.is_file() and is_volume_path(p))
            elif path.is_file():
                found.append(path)
            else:
                raise VolumeError(f"No file or folder at {entry!r}.")
    if paths and not found:
        raise VolumeError(f"No NIfTI/MGZ volumes in {', '.join(map(str, paths))}.")
    return found


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

    nbytes = read_bytes(shape, dtype)
    limit = max_bytes if max_bytes is not None else available_bytes()
    if nbytes > limit:
        raise VolumeError(
            f"{path.name!r} needs {byte_size(nbytes)} to read ({' x '.join(map(str, shape[:3]))} "
            f"voxels) but only {byte_size(limit)} can be used; crop or downsample it first."
        )
    _check_declared_size(img, path, shape)
    if len(shape) == 4 and shape[3] > 1:
        warnings.warn(
            f"{path.name!r} is a 4D series of {shape[3]} volumes; using the first.",
            VolumeWarning,
            stacklevel=2,
        )
    try:
        data, bad = _read_slabs(img.dataobj, shape, _slab_planes(shape, dtype))
    except Exception as exc:
        raise VolumeError(f"{path.name!r} is truncated or corrupt ({_reason(exc)}).") from exc
    if bad:
        raise VolumeError(f"{path.name!r} contains {bad} NaN or infinite voxels.")
    return Volume(data=data, affine=affine, name=name, header={**_kept_header(img), **_sidecar(path)})


#: A sidecar larger than this is not read (a slice thickness takes a few bytes).
SIDECAR_BYTES = 1 << 20
#: Folders above a scan looked at for its BIDS dataset's root (``dataset_description.json``):
#: ``sub-01/ses-1/anat/`` is three below it.
BIDS_DEPTH = 4


def _sidecar(path: Path) -> dict:
    """The slice thickness that a NIfTI file's BIDS sidecars state (``T1.json`` beside
    ``T1.nii.gz``, as dcm2niix writes it; its slices lie along the third axis), as
    ``{"sidecar": {"file", "thickness_mm", "spacing_mm", "slice_axis"}}``, or ``{}``.

    Inside a BIDS dataset the sidecars above the scan count too, by BIDS's inheritance
    principle (:func:`_sidecars`): each field from the nearest sidecar that states it. A
    sidecar that cannot be read is skipped with a warning: the scan still loads."""
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        return {}
    stated: dict[str, tuple] = {}  # field -> (value, the sidecar that states it)
    for json_path in _sidecars(path):  # the farthest first: a nearer one's fields win
        fields = _read_sidecar(json_path, path)
        stated.update({key: (fields[key], json_path) for key in SIDECAR_FIELDS if key in fields})
    thickness, source = stated.get("SliceThickness", (None, None))
    thickness = _positive(thickness)
    if thickness is None:
        return {}
    return {
        "sidecar": {
            "file": os.path.relpath(source.resolve(), path.resolve().parent),
            "thickness_mm": thickness,
            "spacing_mm": _positive(stated.get("SpacingBetweenSlices", (None,))[0]),
            "slice_axis": 2,
        }
    }


#: The sidecar fields read (mm).
SIDECAR_FIELDS = ("SliceThickness", "SpacingBetweenSlices")


def _sidecars(path: Path) -> list[Path]:
    """The BIDS sidecars of a NIfTI file, the farthest first: its own (``T1.json`` beside
    ``T1.nii.gz``) last, and, inside a BIDS dataset (a folder up to :data:`BIDS_DEPTH` above
    it holds ``dataset_description.json``), before it the JSON files in its folder and in each
    folder up to the dataset's root whose names have the scan's suffix and only entities that
    the scan's name has (``T1w.json`` and ``sub-01_T1w.json`` for ``sub-01_ses-1_T1w.nii.gz``),
    the more general first (BIDS's inheritance principle)."""
    own = path.with_name(volume_name(path) + ".json")
    found = [own] if own.is_file() else []
    name = _bids_name(volume_name(path))
    folders = [path.resolve().parent, *path.resolve().parent.parents][: BIDS_DEPTH + 1]
    root = next((f for f in folders if (f / "dataset_description.json").is_file()), None)
    if name is None or root is None:
        return found
    entities, suffix = name
    above = []
    for depth, folder in enumerate(folders[: folders.index(root) + 1]):
        try:
            names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
        except OSError:  # a folder that cannot be listed: its sidecars are not known
            continue
        for candidate in names:
            other = _bids_name(candidate[: -len(".json")])
            if other and other[1] == suffix and other[0].items() <= entities.items():
                if folder / candidate != own.resolve():
                    above.append((-depth, len(other[0]), folder / candidate))
    return [p for *_, p in sorted(above)] + found


def _bids_name(stem: str) -> tuple[dict[str, str], str] | None:
    """A BIDS file name's entities and suffix (``sub-01_ses-1_T1w``: ``{sub: 01, ses: 1}``,
    ``T1w``), or None for a name that is not one."""
    *pairs, suffix = stem.split("_")
    entities = dict(pair.split("-", 1) for pair in pairs if "-" in pair)
    if len(entities) != len(pairs) or not suffix or "-" in suffix:
        return None
    return entities, suffix


def _read_sidecar(json_path: Path, scan: Path) -> dict:
    """A sidecar's fields, or ``{}`` with a warning when it cannot be read."""
    try:
        if json_path.stat().st_size > SIDECAR_BYTES:
            raise ValueError(f"it is larger than {byte_size(SIDECAR_BYTES)}")
        fields = json.loads(json_path.read_text(encoding="utf-8"))
        if not isinstance(fields, dict):
            raise ValueError("it is not a JSON object")
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        home = scan.resolve().parent
        where = "beside the scan" if json_path.resolve().parent == home else "above the scan"
        warnings.warn(
            f"{os.path.relpath(json_path.resolve(), home)!r} {where} cannot be read "
            f"({_reason(exc)}); its slice thickness is not used.",
            VolumeWarning,
            stacklevel=4,
        )
        return {}
    return fields


def _positive(value) -> float | None:
    """A JSON number that is finite and above 0, else None (booleans and text are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


#: Bytes of source values decoded at once while reading (the rest of the file stays on disk).
SLAB_BYTES = 64 << 20


def read_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Memory :func:`load_volume` takes at its peak for a file of this shape and stored type:
    the float32 result, and one slab's decoded source values with their float32 and scaled
    (float64) copies (the file is read slab by slab into the result)."""
    plane = math.prod(shape[:2])  # Python integers: no overflow for any declared shape
    return plane * shape[2] * 4 + plane * _slab_planes(shape, dtype) * (dtype.itemsize + 4 + 8)


def _slab_planes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Planes along the last axis read at once: about :data:`SLAB_BYTES` of source values."""
    plane = math.prod(shape[:2]) * max(dtype.itemsize, 1)
    return int(min(shape[2], max(1, SLAB_BYTES // plane)))


def _read_slabs(dataobj, shape: tuple[int, ...], planes: int) -> tuple[np.ndarray, int]:
    """The first 3D volume of ``dataobj`` as float32 and its count of NaN or infinite voxels,
    read ``planes`` planes at a time into one preallocated array: neither the decoded source
    nor a mask of the whole volume is ever held. The last axis is the slowest in NIfTI and MGH
    files, so the slabs are read in file order."""
    data = np.empty(shape[:3], dtype=np.float32)
    first = (0,) if len(shape) == 4 else ()
    bad = 0
    for start in range(0, shape[2], planes):
        stop = min(start + planes, shape[2])
        index = (slice(None), slice(None), slice(start, stop), *first)
        part = np.asarray(dataobj[index], dtype=np.float32).reshape(shape[0], shape[1], stop - start)
        bad += int(part.size - np.count_nonzero(np.isfinite(part)))
        data[:, :, start:stop] = part
    return data, bad


def _kept_header(img) -> dict:
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        return {}
    h = img.header
    text = {k: h[k].item().decode("latin-1").rstrip("\x00") for k in ("intent_name", "descrip")}
    return {"qform_code": int(h["qform_code"]), "sform_code": int(h["sform_code"]),
            "intent_code": int(h["intent_code"]), **text}  # fmt: skip


def save_volume(volume: Volume, path: str | os.PathLike, replace: bool = True) -> Path:
    """Write a :class:`Volume` as NIfTI (.nii, .nii.gz) or MGH (.mgz, .mgh), atomically.

    With ``replace=False`` an existing file is never replaced (FileExistsError), even one
    written by someone else while this volume was being written.

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
        _set_header(img, volume)
    suffix = next(s for s in sorted(SUFFIXES, key=len, reverse=True) if path.name.lower().endswith(s))
    with atomic_path(path, suffix=suffix, replace=replace) as tmp:
        nib.save(img, tmp)
    return path


#: gzip cannot shrink data by more than about 1032:1, so a compressed file declaring more
#: voxel bytes than this times its size lies about its shape.
_MAX_GZIP_RATIO = 1100


def _check_declared_size(img, path: Path, shape: tuple[int, ...]) -> None:
    """Refuse a header whose declared voxels cannot be in the file, before reading any voxel."""
    stored = math.prod(shape) * img.get_data_dtype().itemsize
    size = path.stat().st_size
    compressed = path.name.lower().endswith((".gz", ".mgz"))
    offset = 0 if compressed else int(getattr(img.dataobj, "offset", 0) or 0)
    room = size * _MAX_GZIP_RATIO if compressed else size - offset
    if stored > room:
        raise VolumeError(
            f"{path.name!r} is truncated or corrupt: its header declares "
            f"{' x '.join(map(str, shape))} voxels ({byte_size(stored)}) but the file "
            f"holds {byte_size(size)}."
        )


def _set_header(img: nib.Nifti1Image, volume: Volume) -> None:
    """The source's qform/sform codes, intent and description, with an honest qform.

    A qform can only hold a rotation, voxel sizes and a shift: for a sheared affine it is
    written with code 0 (unknown), so no reader places voxels by an approximation; the sform
    then carries the code. Without a source header both codes are "aligned".
    """
    h = volume.header
    qcode, scode = int(h.get("qform_code", 0)), int(h.get("sform_code", 0))
    if not qcode and not scode:
        qcode = scode = _ALIGNED
    if qcode and not _qform_can_hold(volume.affine):
        scode, qcode = scode or qcode, 0
    img.set_sform(volume.affine, code=scode)
    img.set_qform(volume.affine, code=qcode)
    if h.get("intent_code"):
        img.header.set_intent(int(h["intent_code"]), name=h.get("intent_name", ""), allow_unknown=True)
    img.header["descrip"] = (h.get("descrip") or "napari-mrisr").encode("latin-1", "replace")[:79]


def _qform_can_hold(affine: np.ndarray) -> bool:
    """True if the affine is a rotation times voxel sizes (no shear): what a qform represents."""
    m = affine[:3, :3]
    gram = m.T @ m
    off = gram - np.diag(np.diag(gram))
    return bool(np.abs(off).max() <= 1e-6 * np.abs(np.diag(gram)).max())


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
