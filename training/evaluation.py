"""Metrics of a model file, beside cubic interpolation, on held-out volumes (no Lightning)."""

from __future__ import annotations

from pathlib import Path

from napari_mrisr.volume.geometry import as_factors
from napari_mrisr.volume.metrics import mean_tables
from napari_mrisr.zoo.model_file import load_model

from .config import DegradationConfig, TrainConfig, validate_config
from .data.volumes import load_volumes, make_validation_pair, split_volumes
from .validation import evaluate_pair

__all__ = ["evaluate"]


def evaluate(
    model: str | Path, data: list[str], held_out: bool = True, device: str = "auto", tile: int | None = None
) -> dict[str, dict[str, float]]:
    """Metrics of a model file and of cubic interpolation on volumes, with the model's degradation.

    ``data`` empty means the MNI152 sample; with ``held_out`` (default) only the validation
    volumes/slab of the model's own training split are used, so training data is never scored.
    """
    net = load_model(model)
    meta = net.meta
    training = (meta.get("training") or {}).get("config")
    config = validate_config(training) if training else None
    if config is None:
        degradation = DegradationConfig.model_validate(meta.get("degradation") or {"factors": list(net.scale)})
        data_config = TrainConfig().data
        seed = 0
    else:
        degradation, data_config, seed = config.degradation, config.data, config.seed
    volumes = load_volumes(data)
    if held_out:
        _, volumes = split_volumes(volumes, data_config, as_factors(degradation.factors), seed)
    results = [
        evaluate_pair(net, make_validation_pair(v, degradation, i), device=device, tile=tile)[0]
        for i, v in enumerate(volumes)
    ]
    return mean_tables(results)
