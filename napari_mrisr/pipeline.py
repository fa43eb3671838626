"""The Load and Super-resolve widgets' work as plain functions, for widgets, benchmarks and tests.

:func:`load_and_simulate` reads a volume and optionally simulates its LR acquisition;
:func:`iter_run` applies a trained model file or the cubic-interpolation baseline (yielding
progress, returning an :class:`SRResult`), and the result carries what the napari layer records about it (model name and metadata). No Qt here:
the widgets only run these in a worker thread and add the layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .degrade import simulate_lr
from .fit import check_fit, iter_fitted
from .geometry import Factors, as_factors, crop_to_multiple
from .interpolate import upsample
from .io import Volume, load_volume
from .layers import layer_data
from .progress import Progress, ProgressGenerator

__all__ = [
    "BASELINE",
    "Method",
    "SRResult",
    "baseline_factors",
    "iter_run",
    "load_and_simulate",
    "result_layer_data",
]

#: Display name of the always-available interpolation baseline.
BASELINE = "cubic interpolation (baseline)"


@dataclass(frozen=True)
class Method:
    """What to super-resolve with: a model file, or the cubic baseline when ``path`` is None."""

    name: str
    path: Path | None = None

    @property
    def is_baseline(self) -> bool:
        return self.path is None


@dataclass
class SRResult:
    """The SR volume and the model that made it (its name and file metadata)."""

    volume: Volume
    model: str
    model_meta: dict = field(default_factory=dict)


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
        Also simulate an LR acquisition with :func:`napari_mrisr.degrade.simulate_lr`; then the
        HR volume is cropped to a multiple of ``factors`` (the grid an SR of the LR lands on)
        and named ``"<name> ground truth"``.
    method, factors, noise, seed
        Passed to :func:`~napari_mrisr.degrade.simulate_lr`; a fixed seed by default, so a
        simulated acquisition is reproducible.

    Returns
    -------
    list of (Volume, metadata)
        The HR volume, then the LR volume if simulated (its metadata records the degradation).

    Raises
    ------
    napari_mrisr.io.VolumeError
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


def baseline_factors(metadata: Mapping[str, Any] | None) -> Factors:
    """Upsampling factors for the baseline: those of the recorded degradation, else 2."""
    degradation = (metadata or {}).get("degradation") or {}
    return as_factors(degradation.get("factors", 2))


def iter_run(
    volume: Volume,
    method: Method,
    device: str = "auto",
    tile: int | None = None,
    factors: Factors | None = None,
) -> ProgressGenerator[SRResult]:
    """Super-resolve ``volume``, yielding :class:`Progress` events and returning an :class:`SRResult`.

    Parameters
    ----------
    volume : Volume
        The low-resolution input, in its file's axis order.
    method : Method
        A model file, or the cubic baseline (``path=None``).
    device : {"auto", "cuda", "mps", "cpu"}
        Where the model runs (ignored by the baseline).
    tile : int, optional
        Tile edge in LR voxels; None or 0 picks one for the device.
    factors : 3 ints, optional
        Upsampling factors of the baseline (default 2); with a model, the LR's known
        degradation factors, only used to warn when the model's (oriented) scale differs.

    Raises
    ------
    napari_mrisr.zoo.ModelError
        For a model file that cannot be used.
    napari_mrisr.fit.ModelFitError
        For a scan the model does not fit (:mod:`napari_mrisr.fit`); the baseline always runs.
    """
    if method.is_baseline:
        f = as_factors(factors or 2)
        yield Progress(0, 1)
        result = upsample(volume, f, order="cubic")
        yield Progress(1, 1)
        meta = {"architecture": "cubic B-spline interpolation", "scale": list(f)}
        return SRResult(result, method.name, meta)

    from .zoo import load_model  # imports the model zoo (and its registry) only when needed

    model = load_model(method.path)
    scale = check_fit(volume, model.meta, method.name).factors  # in the scan's axes
    if factors is not None and tuple(as_factors(factors)) != scale:
        yield Progress(
            0,
            0,
            f"{method.name!r} upsamples by {scale} but {volume.name!r} was degraded by "
            f"{tuple(as_factors(factors))}; the result will not be on the ground truth's grid.",
            warning=True,
        )
    sr = yield from iter_fitted(volume, model, method.name, device=device, tile=tile or None)
    return SRResult(sr, method.name, dict(model.meta))


def result_layer_data(
    result: SRResult, input_name: str, input_metadata: Mapping[str, Any] | None = None, **kwargs: Any
) -> tuple:
    """The napari ``LayerDataTuple`` of an SR result, named ``"<input> SR <model>"``.

    The input's degradation and ground-truth records are carried over, so the Compare widget
    finds the whole LR / SR / GT family from the SR layer alone.
    """
    source = input_metadata or {}
    metadata = {
        "model": result.model,
        "model_meta": result.model_meta,
        "input": input_name,
        **{key: source[key] for key in ("degradation", "ground_truth") if key in source},
    }
    volume = Volume(result.volume.data, result.volume.affine, f"{input_name} SR {result.model}")
    return layer_data(volume, metadata=metadata, **kwargs)
