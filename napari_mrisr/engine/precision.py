"""Where networks run in bfloat16: devices that compute it natively (the engine and training).

:class:`Precision` is the one vocabulary of numeric precisions (Lightning's names), used by
training's ``trainer.precision``; :func:`resolve_precision` settles ``auto`` for a device.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum

import torch

__all__ = ["Precision", "autocast", "native_bf16", "resolve_precision"]


class Precision(StrEnum):
    """Numeric precision of training (Lightning's names; members equal their plain strings)."""

    AUTO = "auto"
    FLOAT32 = "32-true"
    BF16_MIXED = "bf16-mixed"
    FP16_MIXED = "16-mixed"

#: torch's checks of the CPU's bfloat16 instructions (private; a torch without them means no).
_CPU_BF16_CHECKS = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX (on other CPUs oneDNN emulates it, slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(getattr(torch.cpu, check, lambda: False)() for check in _CPU_BF16_CHECKS)
    return False


def autocast(device: torch.device, enabled: bool = True) -> AbstractContextManager:
    """bfloat16 autocast where the device has it natively (float16 on an older CUDA GPU), else
    nothing. Its speed and its cost in PSNR are measured by ``benchmarks/inference.py`` and
    ``benchmarks/quality.py --fp32``."""
    if not enabled:
        return nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16 if native_bf16(device) else torch.float16)
    if native_bf16(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """``precision`` itself, or for ``auto`` bf16-mixed where ``device`` computes bfloat16
    natively (a GPU, or a CPU with AVX512-BF16 or AMX), else float32."""
    chosen = Precision(precision)
    if chosen != Precision.AUTO:
        return chosen
    return Precision.BF16_MIXED if native_bf16(device) else Precision.FLOAT32
