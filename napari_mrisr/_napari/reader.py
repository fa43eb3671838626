"""napari readers: NIfTI and MGH/MGZ volumes, and DICOM series (a folder, a DICOMDIR, a file)."""

from __future__ import annotations

from collections.abc import Callable

from napari_mrisr.volume.base import volume_warnings
from napari_mrisr.volume.io import is_volume_path, load_volume

from .layers import layer_data


def get_reader(path: str | list[str]) -> Callable | None:
    """Return a reader if every path is a volume file this plugin reads, else None."""
    paths = [path] if isinstance(path, str) else list(path)
    if not paths or not all(is_volume_path(p) for p in paths):
        return None
    return read_volumes


def get_dicom_reader(path: str | list[str]) -> Callable | None:
    """Return a reader if ``path`` is DICOM (a series' folder, a DICOMDIR or a DICOM file)."""
    from napari_mrisr.dicom.scan import is_dicom_input

    paths = [path] if isinstance(path, str) else list(path)
    if not paths or not all(is_dicom_input(p) for p in paths):
        return None
    return read_dicom


def read_dicom(path: str | list[str]) -> list[tuple]:
    """Every series that is a volume as an image layer; each other one is one warning."""
    from napari.utils.notifications import show_warning

    from napari_mrisr.dicom import find_series, load_series
    from napari_mrisr.volume.base import VolumeError

    paths = [path] if isinstance(path, str) else list(path)
    layers, skipped = [], []
    for series in find_series(paths):
        try:
            volume = load_series(series)
        except VolumeError as exc:
            skipped.append(str(exc))
            continue
        layers.append(layer_data(volume, metadata={"source": str(paths[0]), "series": series.uid}))
    for note in skipped:
        show_warning(note)
    if not layers:
        raise VolumeError(skipped[0] if len(skipped) == 1 else f"No series in {paths[0]} is a volume.")
    _show_mri_in_current_viewer()
    return layers


def read_volumes(path: str | list[str]) -> list[tuple]:
    """Read each file as an image layer placed in world space (RAS mm, axial slices)."""
    from napari.utils.notifications import show_warning

    paths = [path] if isinstance(path, str) else list(path)
    with volume_warnings() as notes:  # e.g. "a 4D series; using the first": shown in napari
        layers = [layer_data(load_volume(p), metadata={"source": str(p)}) for p in paths]
    for note in notes:
        show_warning(note)
    _show_mri_in_current_viewer()
    return layers


def _show_mri_in_current_viewer() -> None:
    """File > Open and the sample data show MRI as our widgets do (the chosen convention)."""
    import napari

    from .orientation import show_mri

    viewer = napari.current_viewer()
    if viewer is not None:
        show_mri(viewer)
