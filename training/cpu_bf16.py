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

import torch
from torch import nn

__all__ = ["keep_short_conv3d_in_float32"]


def _short(conv: nn.Conv3d, x: torch.Tensor) -> bool:
    """Whether the input is one oneDNN's bfloat16 weight gradient gets wrong (module docstring)."""
    if x.device.type != "cpu":
        return False
    out = [
        (size + 2 * pad - dil * (k - 1) - 1) // stride + 1
        for size, k, pad, stride, dil in zip(x.shape[2:], conv.kernel_size, conv.padding, conv.stride, conv.dilation)
    ]
    return any(size < k and n > 1 for size, k, n in zip(x.shape[2:], conv.kernel_size, out))


# Only a short input touches any state, so the hooks cost a shape check on every other call
# (and torch.compile traces them without a break).
def _enter(conv: nn.Conv3d, args: tuple) -> tuple | None:
    x = args[0]
    if not (_short(conv, x) and torch.is_autocast_enabled("cpu")):
        return None
    context = torch.autocast("cpu", enabled=False)
    context.__enter__()
    conv._float32_context = context
    return (x.float(), *args[1:])


def _leave(conv: nn.Conv3d, args: tuple, output: torch.Tensor) -> None:
    if _short(conv, args[0]):
        context = conv.__dict__.pop("_float32_context", None)
        if context is not None:
            context.__exit__(None, None, None)


def keep_short_conv3d_in_float32(net: nn.Module) -> nn.Module:
    """Run each Conv3d of ``net`` in float32 when bfloat16 autocast would give it a wrong weight
    gradient on the CPU (module docstring); other calls are unchanged. In place; idempotent."""
    for module in net.modules():
        if isinstance(module, nn.Conv3d) and not getattr(module, "_short_in_float32", False):
            module.register_forward_pre_hook(_enter)
            module.register_forward_hook(_leave, always_call=True)
            module._short_in_float32 = True
    return net
