"""Adam as one fused kernel per step where the device has one, the optimiser every trainer uses."""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["adam"]

#: Devices with a fused Adam kernel for float32 parameters (torch >= 2.4).
FUSED_DEVICES = ("cpu", "cuda")


def adam(
    params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999)
) -> torch.optim.Adam:
    """``torch.optim.Adam``, fused where every parameter allows it.

    The same update (equal to 1e-7 of the weights), but one kernel for all parameters instead
    of several per parameter (CPU) or per group of them (CUDA): a small network's step is bound
    by launches, not arithmetic.
    """
    params = list(params)
    fused = all(p.device.type in FUSED_DEVICES and p.dtype == torch.float32 for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None)
