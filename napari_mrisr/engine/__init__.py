"""The inference engine: tiled, cancellable SR on any device, in the precision it computes fast.

- :mod:`.inference`: :func:`iter_super_resolve`, overlap-tile stitching.
- :mod:`.tiling`: tile sizes from a memory budget, the halo from the receptive field.
- :mod:`.devices`: the device vocabulary and :func:`pick_device`; :mod:`.precision`: bfloat16
  where native, and the precision vocabulary.
- :mod:`.optim`: the trainers' Adam (one fused kernel per step where the device has one).
"""

from .devices import Device, available_devices, pick_device
from .inference import intensity_range, iter_super_resolve, super_resolve
from .precision import Precision, native_bf16

__all__ = [
    "Device",
    "Precision",
    "available_devices",
    "intensity_range",
    "iter_super_resolve",
    "native_bf16",
    "pick_device",
    "super_resolve",
]
