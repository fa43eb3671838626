"""Model files: safetensors weights with the JSON metadata needed to use them, never pickles.

A model file holds the generator's tensors and, under the safetensors metadata key
``napari_mrisr``, a JSON document: architecture and its kwargs, scale, intensity
normalisation, the degradation it was trained for, the input geometry it expects
(``input_geometry``, see :mod:`napari_mrisr.fit`), a training summary, validation metrics and
versions. Bundled models ship in ``napari_mrisr/pretrained/``; users add theirs to the folder
given by :func:`user_models_dir` (``$NAPARI_MRISR_MODELS`` overrides it).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from . import __version__
from .atomic import atomic_path
from .precision import native_bf16

__all__ = [
    "FORMAT_VERSION",
    "FULL_SUFFIX",
    "ModelError",
    "ModelFileWarning",
    "ModelInfo",
    "adversarial",
    "bundled_models_dir",
    "list_models",
    "load_model",
    "preference",
    "read_metadata",
    "runs_full_models",
    "save_model",
    "suits_device",
    "user_models_dir",
]

FORMAT_VERSION = 1
#: Largest per-axis scale a model file may declare (the training config allows 1..8).
MAX_SCALE = 16
SUFFIX = ".safetensors"
#: Bundled models named ``*-full`` are reference-size networks trained on a GPU: the best
#: results, for about 5x the compute of the compact ones (about 95 s instead of 20 s for the
#: sample on 2 CPU cores, under 0.1 s on a GPU).
FULL_SUFFIX = "-full"

_META_KEY = "napari_mrisr"
_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


def runs_full_models(device: torch.device) -> bool:
    """Whether the ``-full`` models suit ``device``: a GPU, or a CPU that computes bfloat16
    natively, where the x2 one takes 28 s on the sample on 2 cores (the goal is 60 s); in
    float32 81 s or more, so other CPUs get the compact models."""
    return device.type != "cpu" or native_bf16(device)


def suits_device(name: str, full: bool) -> bool:
    """Whether a model of this name is the kind to prefer: a full one where ``full`` models
    run (:func:`runs_full_models`), else a compact one."""
    return name.endswith(FULL_SUFFIX) == full


def adversarial(meta: dict) -> bool:
    """Whether a model file was trained against a discriminator (a GAN), by its embedded recipe."""
    config = (meta.get("training") or {}).get("config") or {}
    return (config.get("discriminator") or {}).get("architecture", "none") != "none"


def preference(name: str, meta: dict, full: bool) -> tuple[bool, bool, float]:
    """How much to prefer a model on this kind of device (larger is better): the kind that suits
    the device (:func:`suits_device`), then a content model over a GAN (whose sharper detail is
    partly made up: a user picks it, it is never the default), then the validation PSNR in the
    brain its file records (files validated with different noise compare only roughly)."""
    validation = (meta.get("metrics") or {}).get("validation") or {}
    psnr = (validation.get("model") or {}).get("psnr_brain", float("-inf"))
    return suits_device(name, full), not adversarial(meta), psnr


class ModelError(ValueError):
    """A model file or module that cannot be used; the message says why in one sentence."""


@dataclass(frozen=True)
class ModelInfo:
    """A model file found by :func:`list_models` (metadata read without loading weights)."""

    name: str
    path: Path
    meta: dict
    bundled: bool


def bundled_models_dir() -> Path:
    return Path(__file__).parent / "pretrained"


def user_models_dir() -> Path:
    """Where users put their own model files (and where training exports them)."""
    env = os.environ.get("NAPARI_MRISR_MODELS")
    return Path(env) if env else Path(platformdirs.user_data_dir("napari-mrisr")) / "models"


def save_model(
    module: torch.nn.Module,
    path: str | os.PathLike,
    meta: dict | None = None,
    half: bool = False,
    replace: bool = True,
) -> Path:
    """Write a generator and its metadata to one ``.safetensors`` file, atomically.

    ``module`` must come from :func:`napari_mrisr.models.build_model` (it carries
    ``architecture``, ``scale`` and ``config``). ``meta`` adds or overrides fields such as
    ``normalization``, ``degradation``, ``training`` and ``metrics``. ``half`` stores the
    floating-point weights as float16 (half the file; :func:`load_model` loads them into the
    float32 network, and inference runs as before). Without ``replace`` an existing file is
    never replaced (FileExistsError), even one that appeared while writing.
    """
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ModelError(f"{path.name!r}: model files end in {SUFFIX}.")
    document = {
        "format_version": FORMAT_VERSION,
        "architecture": module.architecture,
        "config": module.config,
        "scale": list(module.scale),
        "normalization": {"kind": "percentile", "low": 0.5, "high": 99.5},
        "napari_mrisr_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        **(meta or {}),
    }
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
        document["storage"] = "float16"
    with atomic_path(path, replace=replace) as tmp:
        save_file(tensors, tmp, metadata={_META_KEY: json.dumps(document)})
    return path


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
    if _META_KEY not in metadata:
        raise ModelError(f"{path.name!r} has no napari-mrisr metadata, so its architecture is unknown.")
    try:
        document = json.loads(metadata[_META_KEY])
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
    """``input_geometry`` (see :mod:`napari_mrisr.fit`): absent, or spacing and thick axis."""
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


class ModelFileWarning(UserWarning):
    """A file in the user's model folder was skipped (unreadable, or named like a bundled model)."""


def list_models() -> list[ModelInfo]:
    """Bundled models, then the user's, by name.

    A user file that cannot be used, or whose name a bundled model already has, is skipped
    with one warning naming it: one bad file never hides the others.
    """
    found: dict[str, ModelInfo] = {}
    for folder, bundled in ((bundled_models_dir(), True), (user_models_dir(), False)):
        # By name, so a model comes before its "-gan" twin (file names sort "-" before "."); a
        # missing folder globs to nothing.
        for path in sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.name.removesuffix(SUFFIX)):
            try:
                meta = read_metadata(path)
            except ModelError as exc:
                # stacklevel 1: one warning per file, however many callers list the models
                warnings.warn(f"Skipping model file {str(path)!r}: {exc}", ModelFileWarning, stacklevel=1)
                continue
            if path.stem in found:
                warnings.warn(
                    f"Skipping model file {str(path)!r}: a bundled model is named {path.stem!r}; "
                    "rename the file to use it.",
                    ModelFileWarning,
                    stacklevel=1,
                )
                continue
            found[path.stem] = ModelInfo(path.stem, path, meta, bundled)
    return list(found.values())


def load_model(name_or_path: str | os.PathLike) -> torch.nn.Module:
    """Build the generator a model file declares and load its weights (on the CPU, eval mode).

    ``name_or_path`` is a model name from :func:`list_models` or a file path. The returned
    module has a ``meta`` attribute holding the file's metadata.
    """
    from .models import build_model

    path = Path(name_or_path)
    if not path.is_file():
        if path.suffix == SUFFIX or len(path.parts) > 1:  # meant as a file, not a name
            raise ModelError(f"No model file at {str(path)!r}.")
        by_name = {info.name: info.path for info in list_models()}
        if str(name_or_path) not in by_name:
            known = ", ".join(by_name) or "none installed"
            raise ModelError(f"No model named {str(name_or_path)!r} (known: {known}).")
        path = by_name[str(name_or_path)]
    meta = read_metadata(path)
    with safe_open(path, framework="pt") as f:
        shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    # Build on the meta device (no memory) with not many more tensors than the file holds (the
    # exact comparison follows): a declared config can never make us allocate or loop far
    # beyond what the file bounds.
    try:
        with torch.device("meta"), _at_most_tensors(2 * len(shapes) + 16, path.name):
            skeleton = build_model(meta["architecture"], tuple(meta["scale"]), **meta.get("config", {}))
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path.name!r} declares an architecture this version cannot build ({exc}).") from exc
    _check_tensors(skeleton, shapes, path.name, meta["architecture"])
    tensors = load_file(path)
    bad = next((k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise ModelError(f"{path.name!r} holds NaN or infinite weights (first: {bad}); the file is corrupt.")
    module = build_model(meta["architecture"], tuple(meta["scale"]), **meta.get("config", {}))
    module.load_state_dict(tensors, strict=True)
    module.meta = meta
    return module.eval()


@contextmanager
def _at_most_tensors(limit: int, name: str):
    """Refuse (ModelError) as soon as building registers more parameters and buffers than ``limit``."""
    from torch.nn.modules.module import (
        register_module_buffer_registration_hook,
        register_module_parameter_registration_hook,
    )

    count = [0]

    def counted(*_args):
        count[0] += 1
        if count[0] > limit:
            raise ModelError(f"{name!r} declares a far larger network than its tensors hold.")

    handles = [
        register_module_parameter_registration_hook(counted),
        register_module_buffer_registration_hook(counted),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _check_tensors(module: torch.nn.Module, found: dict[str, tuple], name: str, arch: str) -> None:
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(expected.keys() - found.keys())
    extra = sorted(found.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    if missing or extra or wrong:
        parts = [
            f"{len(missing)} {'tensor' if len(missing) == 1 else 'tensors'} missing" if missing else "",
            f"{len(extra)} unexpected" if extra else "",
            f"{len(wrong)} of the wrong shape (first: {wrong[0]} is {found[wrong[0]]}, "
            f"expected {expected[wrong[0]]})" if wrong else "",
        ]
        raise ModelError(
            f"{name!r} does not match its declared architecture {arch!r}: "
            f"{', '.join(p for p in parts if p)}."
        )
