"""Which model to prefer: the kind that suits the device, content over GAN, then validation.

The rule of the demo, of ``mrisr predict`` without ``--model`` and of the Super-resolve widget
when the chosen model does not fit a new scan.
"""

from __future__ import annotations

import torch

from napari_mrisr.engine.devices import pick_device
from napari_mrisr.engine.precision import native_bf16

from .folders import ModelInfo, list_models

__all__ = [
    "FULL_SUFFIX",
    "adversarial",
    "best_bundled_model",
    "preference",
    "runs_full_models",
    "suits_device",
]

#: Bundled models named ``*-full`` are reference-size networks: the best results, for several
#: times the compute of the compact ones (``benchmarks/quality.py --time`` measures both).
FULL_SUFFIX = "-full"


def runs_full_models(device: torch.device) -> bool:
    """Whether the ``-full`` models suit ``device``: a GPU, or a CPU that computes bfloat16
    natively; in float32 a CPU takes about three times as long (``benchmarks/quality.py
    --time``), so other CPUs get the compact models."""
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
