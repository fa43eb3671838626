"""The JSON metadata of a model file: what it must hold, read and checked without the weights.

A model file holds the generator's tensors and, under the safetensors metadata key
``napari_mrisr``, a JSON document: architecture and its kwargs, scale, intensity
normalisation, the degradation it was trained for, the input geometry it expects
(``input_geometry``, see :mod:`napari_mrisr.zoo.model_fit`), a training summary, validation
metrics and versions. Pickles and foreign files are refused before anything is loaded.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

__all__ = ["FORMAT_VERSION", "META_KEY", "SUFFIX", "ModelError", "read_metadata"]

FORMAT_VERSION = 1
#: Largest per-axis scale a model file may declare (the training config allows 1..8).
MAX_SCALE = 16
SUFFIX = ".safetensors"
#: The safetensors metadata key that holds the JSON document.
META_KEY = "napari_mrisr"

_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


class ModelError(ValueError):
    """A model file or module that cannot be used; the message says why in one sentence."""


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a model file, refusing pickles and foreign files without loading them."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"No model file at {str(path)!r}.")
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header's "{". Its
    # first byte can be 0x80 like a pickle's, so the "{" tells the two apart.
    pickled = head[:2] == b"PK" or (head[:1] == b"\x80" and head[8:9] != b"{")
    if path.suffix.lower() in _PICKLE_SUFFIXES or pickled:
        raise ModelError(
            f"{path.name!r} is a PyTorch/pickle checkpoint; napari-mrisr never unpickles a file it "
            f"is given (it can run code), so export it to {SUFFIX} with `python -m napari_mrisr.training export`."
        )
    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path.name!r} is not a readable safetensors model file ({exc}).") from exc
    if META_KEY not in metadata:
        raise ModelError(f"{path.name!r} has no napari-mrisr metadata, so its architecture is unknown.")
    try:
        document = json.loads(metadata[META_KEY])
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path.name!r} has corrupt napari-mrisr metadata.") from exc
    return _checked_metadata(document, path.name)


def _checked_metadata(document: Any, name: str) -> dict:
    """The metadata if its fields have the types the engine relies on, else one ModelError."""
    if not isinstance(document, dict):
        raise ModelError(f"{name!r} has napari-mrisr metadata that is not a JSON object.")
    version = document.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelError(f"{name!r} has a format_version that is not a whole number ({version!r}).")
    if version > FORMAT_VERSION:
        raise ModelError(f"{name!r} needs a newer napari-mrisr (model format {version}).")
    if not isinstance(document.get("architecture"), str):
        raise ModelError(f"{name!r} does not name its architecture.")
    config = document.get("config", {})
    if not isinstance(config, dict):
        raise ModelError(f"{name!r} has an architecture config that is not a JSON object.")
    if any(isinstance(v, float) and not math.isfinite(v) for v in config.values()):
        raise ModelError(f"{name!r} has NaN or infinite numbers in its architecture config.")
    scale = document.get("scale")
    if (
        not isinstance(scale, list)
        or len(scale) != 3
        or not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_SCALE for s in scale)
    ):
        raise ModelError(f"{name!r} declares scale {scale!r}; expected three whole numbers 1..{MAX_SCALE}.")
    norm = document.get("normalization", {"kind": "percentile", "low": 0.5, "high": 99.5})
    numbers = isinstance(norm, dict) and all(
        isinstance(norm.get(k), (int, float)) and not isinstance(norm.get(k), bool) for k in ("low", "high")
    )
    if not numbers or norm.get("kind") != "percentile" or not 0 <= norm["low"] < norm["high"] <= 100:
        raise ModelError(
            f"{name!r} declares intensity normalisation {norm!r}; expected percentiles "
            "{'kind': 'percentile', 'low': L, 'high': H} with 0 <= L < H <= 100."
        )
    for key in ("degradation", "training", "metrics"):
        if not isinstance(document.get(key, {}), dict | None):
            raise ModelError(f"{name!r} has {key!r} metadata that is not a JSON object.")
    _check_input_geometry(document.get("input_geometry"), name)
    return document


def _check_input_geometry(geometry: Any, name: str) -> None:
    """``input_geometry`` (see :mod:`napari_mrisr.zoo.model_fit`): absent, or spacing and thick axis."""
    if geometry is None:
        return
    spacing = geometry.get("spacing_mm") if isinstance(geometry, dict) else "missing"
    axis = geometry.get("through_plane_axis") if isinstance(geometry, dict) else None
    numbers = (
        isinstance(spacing, list)
        and len(spacing) == 3
        and all(isinstance(s, int | float) and not isinstance(s, bool) for s in spacing)
        and all(math.isfinite(s) and s > 0 for s in spacing)
    )
    whole = isinstance(axis, int) and not isinstance(axis, bool) and 0 <= axis <= 2
    if not (spacing is None or numbers) or not (axis is None or whole):
        raise ModelError(
            f"{name!r} declares input geometry {geometry!r}; expected "
            "{'spacing_mm': [three positive mm] or null, 'through_plane_axis': 0, 1, 2 or null}."
        )
