"""A volume read and, optionally, its simulated low-resolution acquisition (the Load widget's work)."""

from __future__ import annotations

from pathlib import Path

from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import load_volume

from .degrade import simulate_lr
from .geometry import crop_to_multiple

__all__ = ["load_and_simulate"]


def load_and_simulate(
    source: str | Path | Volume,
    simulate: bool = False,
    method: str = "kspace",
    factors: tuple[int, int, int] = (2, 2, 2),
    noise: float = 0.0,
    seed: int | None = 0,
) -> list[tuple[Volume, dict]]:
    """The volumes the Load widget adds, with their layer metadata.

    Parameters
    ----------
    source : path or Volume
        A NIfTI/MGZ file, or an already loaded volume (the built-in sample).
    simulate : bool
        Also simulate an LR acquisition with :func:`napari_mrisr.volume.degrade.simulate_lr`; then the
        HR volume is cropped to a multiple of ``factors`` (the grid an SR of the LR lands on)
        and named ``"<name> ground truth"``.
    method, factors, noise, seed
        Passed to :func:`~napari_mrisr.volume.degrade.simulate_lr`; a fixed seed by default, so a
        simulated acquisition is reproducible.

    Returns
    -------
    list of (Volume, metadata)
        The HR volume, then the LR volume if simulated (its metadata records the degradation).

    Raises
    ------
    napari_mrisr.volume.base.VolumeError
        For a file that is not a usable 3D volume.
    ValueError
        For factors larger than the volume.
    """
    volume = source if isinstance(source, Volume) else load_volume(source)
    metadata = {} if isinstance(source, Volume) else {"source": str(source)}
    if not simulate:
        return [(volume, metadata)]
    factors = tuple(int(f) for f in factors)
    hr = Volume(crop_to_multiple(volume.data, factors), volume.affine, f"{volume.name} ground truth")
    lr = simulate_lr(volume, factors, method=method, noise=noise, seed=seed)
    degradation = {"method": method, "factors": list(factors), "noise": float(noise)}
    return [(hr, metadata), (lr, {**metadata, "degradation": degradation})]
