"""Which model to prefer: the kind that suits the device, content over GAN, then validation.

The rule of the demo, of ``mrisr predict`` without ``--model`` (:func:`choose_bundled`), of
``mrisr models``' default marks and of the Super-resolve widget when the chosen model does not
fit a new scan: all of them pick with :func:`preferred`, among the models that fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from napari_mrisr.engine.devices import pick_device
from napari_mrisr.engine.precision import native_bf16
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.geometry import MIN_ANISOTROPY

from .folders import ModelInfo, list_models
from .model_fit import Fit, ModelGeometry, _mm, fit_model

__all__ = [
    "FULL_SUFFIX",
    "BundledChoice",
    "adversarial",
    "best_bundled_model",
    "bundled_inputs",
    "choose_bundled",
    "default_bundled",
    "device_rule",
    "preference",
    "preferred",
    "runs_full_models",
    "suits_device",
]

T = TypeVar("T")

#: Bundled models named ``*-full`` are reference-size networks: the best results, for several
#: times the compute of the compact ones (``benchmarks/quality.py --time`` measures both).
FULL_SUFFIX = "-full"


def runs_full_models(device: torch.device) -> bool:
    """Whether the ``-full`` models suit ``device``: a GPU, or a CPU that computes bfloat16
    natively; in float32 a CPU takes about three times as long (``benchmarks/quality.py
    --time``), so other CPUs get the compact models."""
    return device.type != "cpu" or native_bf16(device)


def device_rule(device: str | torch.device = "auto") -> tuple[bool, str]:
    """:func:`runs_full_models` on ``device`` and why, in words: e.g. ``(False, "compact: this
    CPU has no native bf16")`` or ``(True, "full: this machine has a CUDA GPU")``."""
    device = device if isinstance(device, torch.device) else pick_device(device)
    full = runs_full_models(device)
    if device.type == "cpu":
        why = "this CPU computes bf16 natively" if full else "this CPU has no native bf16"
    else:
        gpu = {"cuda": "a CUDA GPU", "mps": "an Apple GPU (mps)"}.get(device.type, device.type)
        why = f"this machine has {gpu}"
    return full, f"{'full' if full else 'compact'}: {why}"


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


def best_bundled_model(
    method: str = "kspace", factors=(2, 2, 2), device: str = "auto"
) -> ModelInfo | None:
    """The bundled model for this degradation, or None: a full (``-full``) model on a GPU or a
    CPU with native bf16, else a compact one, and among those the best by validation PSNR
    (brain)."""
    full = runs_full_models(pick_device(device))
    candidates = [
        info
        for info in list_models()
        if info.bundled
        and (info.meta.get("degradation") or {}).get("method") == method
        and list((info.meta.get("degradation") or {}).get("factors", [])) == list(factors)
    ]
    return max(candidates, key=lambda info: preference(info.name, info.meta, full), default=None)


def preferred(candidates: Iterable[tuple[T, str, Mapping]], full: bool) -> T | None:
    """The key of the candidate to choose by default, or None: never a GAN (a user picks one),
    then the highest :func:`preference`. ``candidates`` are ``(key, name, metadata)`` of the
    models that may run (those that fit the scan); on a tie the first listed wins."""
    content = [c for c in candidates if not adversarial(dict(c[2]))]
    best = max(content, key=lambda c: preference(c[1], dict(c[2]), full), default=None)
    return None if best is None else best[0]


@dataclass(frozen=True)
class BundledChoice:
    """The bundled model chosen for a scan, how it fits, and why it was chosen (one clause)."""

    info: ModelInfo
    fit: Fit
    why: str  # e.g. "the bundled model that fits 1 x 1 x 4 mm thick slices (compact: ...)"


def choose_bundled(volume: Volume, device: str | torch.device = "auto") -> BundledChoice | None:
    """The bundled content model to run on ``volume`` when the user names none: among those
    that fit it (:func:`~napari_mrisr.zoo.model_fit.fit_model`), the :func:`preferred` one on
    ``device``. None when no bundled content model fits (see :func:`bundled_inputs`)."""
    full, rule = device_rule(device)
    fits = [
        (info, fit_model(volume, info.meta, info.name)) for info in list_models() if info.bundled
    ]
    index = preferred(
        ((i, info.name, info.meta) for i, (info, fit) in enumerate(fits) if fit.ok), full
    )
    if index is None:
        return None
    info, fit = fits[index]
    if not suits_device(info.name, full):
        rule += f", but no {'full' if full else 'compact'} model fits this scan"
    return BundledChoice(info, fit, f"the bundled model that fits {_scan_words(volume)} ({rule})")


def bundled_inputs() -> list[str]:
    """What the bundled content models expect, each input once (e.g. ``"LR 2 x 2 x 2 mm"``)."""
    infos = [info for info in list_models() if info.bundled and not adversarial(info.meta)]
    return list(dict.fromkeys(ModelGeometry.from_meta(info.meta).expects() for info in infos))


def default_bundled(device: str | torch.device = "auto") -> set[str]:
    """The names of the bundled models :func:`choose_bundled` picks on ``device`` for a scan of
    each input the bundled models expect (one per input geometry, e.g. x2 isotropic and x4
    thick-slice)."""
    full = runs_full_models(device if isinstance(device, torch.device) else pick_device(device))
    groups: dict[ModelGeometry, list[ModelInfo]] = {}
    for info in list_models():
        if info.bundled:
            groups.setdefault(ModelGeometry.from_meta(info.meta), []).append(info)
    chosen = (
        preferred(((i.name, i.name, i.meta) for i in infos), full) for infos in groups.values()
    )
    return {name for name in chosen if name is not None}


def _scan_words(volume: Volume) -> str:
    """E.g. ``"1 x 1 x 4 mm thick slices"`` or ``"2 x 2 x 2 mm isotropic voxels"``."""
    spacing = np.asarray(volume.spacing, dtype=np.float64)
    if spacing.max() < MIN_ANISOTROPY * spacing.min():
        return f"{_mm(spacing)} isotropic voxels"
    thick = spacing.max() >= 2 * np.median(spacing)  # one axis at least twice the others
    return f"{_mm(spacing)} {'thick slices' if thick else 'voxels'}"
