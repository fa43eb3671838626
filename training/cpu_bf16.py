"""A fault of bfloat16 training on the CPU, and its guard.

Under bfloat16 autocast on the CPU (oneDNN; seen with torch 2.13 on a Zen 4 CPU with
AVX512-BF16), a Conv3d's *weight gradient* is wrong, off by up to 1e36 and at times NaN, in about
half the steps, when its input is shorter than the kernel along an axis where the output is
longer than one voxel: a 3^3 kernel on a 2^3 map, as in the patch discriminator's last layer on
32^3 patches (the ``rrdb3d_patch`` recipe's discriminator turned to NaN within 20 steps). The
forward pass and the input gradient are right, and so is the weight gradient on maps at least as
long as the kernel (sizes 1-8 against kernels 3-5, strides 1-2 checked) and Conv2d's. Such a
convolution runs in float32 here; a map that small costs nothing.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

__all__ = ["keep_short_conv3d_in_float32"]


def _short(conv: nn.Conv3d, x: torch.Tensor) -> bool:
    """Whether the input is one oneDNN's bfloat16 weight gradient gets wrong (module docstring)."""
    if x.device.type != "cpu":
        return False
    sizes = x.shape[-3:]  # (N, C, D, H, W) or unbatched (C, D, H, W)
    if conv.padding == "same":
        out = list(sizes)
    else:
        pads = (0, 0, 0) if conv.padding == "valid" else conv.padding
        out = [
            (size + 2 * pad - dil * (k - 1) - 1) // stride + 1
            for size, k, pad, stride, dil in zip(
                sizes, conv.kernel_size, pads, conv.stride, conv.dilation, strict=True
            )
        ]
    return any(size < k and n > 1 for size, k, n in zip(sizes, conv.kernel_size, out, strict=True))


def _conv_forward_float32_when_short(
    conv: nn.Conv3d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    plain = type(conv)._conv_forward
    if torch.is_autocast_enabled("cpu") and _short(conv, x):  # the cheap check first
        with torch.autocast("cpu", enabled=False):
            return plain(conv, x.float(), weight.float(), None if bias is None else bias.float())
    return plain(conv, x, weight, bias)


def keep_short_conv3d_in_float32(net: nn.Module) -> nn.Module:
    """Run each Conv3d of ``net`` in float32 when bfloat16 autocast would give it a wrong weight
    gradient on the CPU (module docstring); other calls are unchanged, and so is the state dict.
    In place; idempotent."""
    for module in net.modules():
        if isinstance(module, nn.Conv3d) and "_conv_forward" not in module.__dict__:
            module._conv_forward = functools.partial(_conv_forward_float32_when_short, module)
    return net
