"""Model files: safetensors weights with the JSON metadata needed to use them, never pickles.

:func:`save_model` writes a generator and its metadata (:mod:`~napari_mrisr.zoo.metadata`) to
one file atomically; :func:`load_model` builds the generator a file declares, on the meta
device first, so a declared network is checked against the file's tensors before any memory
is allocated. Bundled models ship in ``napari_mrisr/pretrained/``; users add theirs to
:func:`~napari_mrisr.zoo.folders.user_models_dir` (``$NAPARI_MRISR_MODELS`` overrides it).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from napari_mrisr import __version__
from napari_mrisr.atomic import atomic_path, check_writable

from .folders import list_models
from .metadata import FORMAT_VERSION, META_KEY, SUFFIX, ModelError, read_metadata

__all__ = ["load_model", "save_model"]

#: safetensors dtypes a generator's tensors may have: real numbers (and integer buffers).
_WEIGHT_DTYPES = {"F16", "BF16", "F32", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"}


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
        halved = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
        beyond = next((k for k, v in halved.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
        if beyond is not None:
            largest = float(tensors[beyond].abs().max())
            raise ModelError(
                f"{path.name!r}: weight {beyond} reaches {largest:.3g}, beyond float16's range "
                "(65504); save it without --half."
            )
        tensors = halved
        document["storage"] = "float16"
    text = json.dumps(document)
    check_writable(path, sum(v.numel() * v.element_size() for v in tensors.values()) + len(text), replace)
    try:
        with atomic_path(path, replace=replace) as tmp:
            save_file(tensors, tmp, metadata={META_KEY: text})
    except SafetensorError as exc:  # safetensors' own error for a failed write (e.g. a full disk)
        raise OSError(f"Could not write {str(path)!r}: {exc}.") from None
    return path


def load_model(name_or_path: str | os.PathLike) -> torch.nn.Module:
    """Build the generator a model file declares and load its weights (on the CPU, eval mode).

    ``name_or_path`` is a model name from :func:`list_models` or a file path. The returned
    module has a ``meta`` attribute holding the file's metadata.
    """
    from napari_mrisr.models import build_model

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
        dtypes = {key: f.get_slice(key).get_dtype() for key in f.keys()}
    odd = next((k for k, d in dtypes.items() if d not in _WEIGHT_DTYPES), None)
    if odd is not None:
        raise ModelError(f"{path.name!r} holds {dtypes[odd]} numbers (first: {odd}); a model's weights are real.")
    # Build on the meta device (no memory) with not many more tensors than the file holds (the
    # exact comparison follows): a declared config can never make us allocate or loop far
    # beyond what the file bounds.
    try:
        with torch.device("meta"), _at_most_tensors(2 * len(shapes) + 16, path.name):
            skeleton = build_model(meta["architecture"], tuple(meta["scale"]), **meta.get("config", {}))
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError, MemoryError) as exc:
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
