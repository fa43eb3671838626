"""Where networks run in bfloat16: devices that compute it natively (the engine and training)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

__all__ = ["autocast", "native_bf16"]

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
    nothing. On 2 AMD EPYC (Zen 4) cores it cuts the bundled models' CPU time by 2.2x for at
    most 0.01 dB of PSNR (``benchmarks/inference.py``, ``benchmarks/quality.py --fp32``)."""
    if not enabled:
        return nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16 if native_bf16(device) else torch.float16)
    if native_bf16(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
