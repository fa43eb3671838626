"""Model files: safetensors weights with the JSON metadata needed to use them, never pickles.

A model file holds the generator's tensors and, under the safetensors metadata key
``napari_mrisr``, a JSON document: architecture and its kwargs, scale, intensity
normalisation, the degradation it was trained for, a training summary, validation metrics and
versions. Bundled models ship in ``napari_mrisr/pretrained/``; users add theirs to the folder
given by :func:`user_models_dir` (``$NAPARI_MRISR_MODELS`` overrides it).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from . import __version__

__all__ = [
    "FORMAT_VERSION",
    "ModelError",
    "ModelInfo",
    "bundled_models_dir",
    "list_models",
    "load_model",
    "read_metadata",
    "save_model",
    "user_models_dir",
]

FORMAT_VERSION = 1
SUFFIX = ".safetensors"
_META_KEY = "napari_mrisr"
_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


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


def save_model(module: torch.nn.Module, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write a generator and its metadata to one ``.safetensors`` file, atomically.

    ``module`` must come from :func:`napari_mrisr.models.build_model` (it carries
    ``architecture``, ``scale`` and ``config``). ``meta`` adds or overrides fields such as
    ``normalization``, ``degradation``, ``training`` and ``metrics``.
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={_META_KEY: json.dumps(document)})
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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
    if document.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(
            f"{path.name!r} needs a newer napari-mrisr (model format {document['format_version']})."
        )
    return document


def list_models() -> list[ModelInfo]:
    """Bundled models, then the user's, by name; unreadable files in the user folder are skipped."""
    found: dict[str, ModelInfo] = {}
    for folder, bundled in ((bundled_models_dir(), True), (user_models_dir(), False)):
        for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
            try:
                meta = read_metadata(path)
            except ModelError:
                continue
            found.setdefault(path.stem, ModelInfo(path.stem, path, meta, bundled))
    return list(found.values())


def load_model(name_or_path: str | os.PathLike) -> torch.nn.Module:
    """Build the generator a model file declares and load its weights (on the CPU, eval mode).

    ``name_or_path`` is a model name from :func:`list_models` or a file path. The returned
    module has a ``meta`` attribute holding the file's metadata.
    """
    from .models import build_model

    path = Path(name_or_path)
    if not path.is_file():
        by_name = {info.name: info.path for info in list_models()}
        if str(name_or_path) not in by_name:
            known = ", ".join(by_name) or "none installed"
            raise ModelError(f"No model named {str(name_or_path)!r} (known: {known}).")
        path = by_name[str(name_or_path)]
    meta = read_metadata(path)
    try:
        module = build_model(meta["architecture"], tuple(meta["scale"]), **meta.get("config", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path.name!r} declares an architecture this version cannot build ({exc}).") from exc
    tensors = load_file(path)
    _check_tensors(module, tensors, path.name, meta["architecture"])
    module.load_state_dict(tensors, strict=True)
    module.meta = meta
    return module.eval()


def _check_tensors(module: torch.nn.Module, tensors: dict[str, Any], name: str, arch: str) -> None:
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    missing = sorted(expected.keys() - found.keys())
    extra = sorted(found.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    if missing or extra or wrong:
        parts = [
            f"{len(missing)} tensors missing" if missing else "",
            f"{len(extra)} unexpected" if extra else "",
            f"{len(wrong)} of the wrong shape (first: {wrong[0]} is {found[wrong[0]]}, "
            f"expected {expected[wrong[0]]})" if wrong else "",
        ]
        raise ModelError(
            f"{name!r} does not match its declared architecture {arch!r}: "
            f"{', '.join(p for p in parts if p)}."
        )
