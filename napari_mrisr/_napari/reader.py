"""napari reader for NIfTI and MGH/MGZ volumes."""

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
