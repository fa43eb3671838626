"""Small host arrays to the device without making the host wait for the GPU."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["upload"]


def upload(
    data: np.ndarray | torch.Tensor | list, device: torch.device, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """``data`` as a tensor on ``device`` (in ``dtype``).

    To a CUDA GPU the copy is made from pinned memory without blocking: a plain ``.to(device)``
    from pageable memory returns only once every kernel queued before it has run, so the few
    that a training step made of the draws (flips, intensities, slice profiles) kept Python from
    ever running ahead of the GPU. Elsewhere a plain ``.to`` (no copy on the CPU).
    """
    tensor = torch.as_tensor(data, dtype=dtype)
    if tensor.device.type != "cpu" or torch.device(device).type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)
