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
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from safetensors import SafetensorError, safe_open

from napari_mrisr.models.registry import check_architecture_options
from napari_mrisr.schema_errors import first_error

__all__ = ["FORMAT_VERSION", "META_KEY", "SUFFIX", "ModelError", "ModelMetadata", "read_metadata"]

FORMAT_VERSION = 1
#: Largest per-axis scale a model file may declare (the training config allows 1..8).
MAX_SCALE = 16
SUFFIX = ".safetensors"
#: The safetensors metadata key that holds the JSON document.
META_KEY = "napari_mrisr"
#: Characters of metadata a model file may hold (the bundled ones: under 10,000).
MAX_METADATA = 1 << 20

_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


class ModelError(ValueError):
    """A model file or module that cannot be used; the message says why in one sentence."""


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a model file, refusing pickles and foreign files without loading them."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"No model file at {str(path)!r}.")
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as exc:
        raise ModelError(f"{path.name!r} cannot be read ({exc.strerror or exc}).") from exc
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
    text = metadata[META_KEY]
    if len(text) > MAX_METADATA:
        raise ModelError(f"{path.name!r} has {len(text)} characters of metadata; a model file has a few thousand.")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path.name!r} has corrupt napari-mrisr metadata.") from exc
    except RecursionError:
        raise ModelError(f"{path.name!r} has metadata nested too deeply to be a model's.") from None
    return _checked_metadata(document, path.name)


# -- the schema: types and bounds of every field the package reads ---------------------------
def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Number = Annotated[StrictInt | StrictFloat, AfterValidator(_finite)]
Positive = Annotated[Number, Field(gt=0)]
Axis = Annotated[StrictInt, Field(ge=0, le=2)]
Factor = Annotated[StrictInt, Field(ge=1, le=MAX_SCALE)]
Text = Annotated[StrictStr, Field(max_length=4096)]


class _Part(BaseModel):
    """A part of the metadata: its known fields checked, any others kept as written."""

    model_config = ConfigDict(extra="allow", strict=True)


class Normalization(_Part):
    kind: Literal["percentile"] = "percentile"
    low: Annotated[Number, Field(ge=0, le=100)] = 0.5
    high: Annotated[Number, Field(ge=0, le=100)] = 99.5

    @model_validator(mode="after")
    def _ordered(self) -> Normalization:
        if not self.low < self.high:
            raise ValueError("low must be below high")
        return self


class InputGeometry(_Part):
    spacing_mm: Annotated[list[Positive], Field(min_length=3, max_length=3)] | None = None
    through_plane_axis: Axis | None = None


class Degradation(_Part):
    method: Text | None = None
    factors: Annotated[list[Factor], Field(min_length=3, max_length=3)] | None = None
    noise: Annotated[Number, Field(ge=0, le=1)] = 0.0
    family: list[dict[str, Any]] = []


class SelfSR(_Part):
    axis: Axis
    lr_spacing: Positive
    in_plane_spacing: Positive
    out_spacing: Positive | None = None
    thickness: Positive | None = None
    ratio: Positive | None = None
    profile: Text | None = None
    n_lr: Annotated[StrictInt, Field(ge=1)] | None = None


class Metrics(_Part):
    #: method ("model", "cubic") -> metric ("psnr_brain", ...) -> value
    validation: dict[Text, dict[Text, Number | None] | None] | None = None


class _Named(_Part):
    architecture: Text = "none"


class _Data(_Part):
    paths: list[Text] = []


class Recipe(_Part):
    """The parts of an embedded training config that the package reads without validating
    the whole recipe (that happens where a recipe is trained or evaluated again)."""

    discriminator: _Named | None = None
    data: _Data | None = None


class Training(_Part):
    config: Recipe | None = None
    steps: Annotated[StrictInt, Field(ge=0)] | None = None


class ModelMetadata(_Part):
    """Every field of a model file's metadata that the package reads, with its type and bounds."""

    format_version: Annotated[StrictInt, Field(ge=0, le=FORMAT_VERSION)] = 0
    architecture: Annotated[StrictStr, Field(max_length=64)]
    config: dict[Annotated[StrictStr, Field(max_length=64)], Any] = {}
    scale: Annotated[list[Factor], Field(min_length=3, max_length=3)]
    normalization: Normalization = Normalization()
    name: Text | None = None
    description: Text | None = None
    degradation: Degradation | None = None
    training: Training | None = None
    metrics: Metrics | None = None
    input_geometry: InputGeometry | None = None
    selfsr: SelfSR | None = None

    @model_validator(mode="after")
    def _buildable_options(self) -> ModelMetadata:
        check_architecture_options(self.architecture, self.config)
        return self


def _checked_metadata(document: Any, name: str) -> dict:
    """The metadata if every field the package reads has its type and bounds, else one ModelError."""
    if not isinstance(document, dict):
        raise ModelError(f"{name!r} has napari-mrisr metadata that is not a JSON object.")
    version = document.get("format_version", 0)
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ModelError(f"{name!r} needs a newer napari-mrisr (model format {version}).")
    try:
        ModelMetadata.model_validate(document)
    except ValidationError as exc:
        raise ModelError(first_error(exc, f"{name!r} has metadata that cannot be used")) from None
    return document
