"""Super-resolution generators of the reference systems, one module per architecture.

Use :func:`build_model` with a name of :class:`Architecture` (:func:`list_architectures`);
every model maps ``(B, 1, D, H, W)`` to ``(B, 1, D*s0, H*s1, W*s2)`` for any input size.
"""

from .layout import is_channels_last, to_channels_last
from .registry import Architecture, build_model, list_architectures

__all__ = [
    "Architecture",
    "build_model",
    "is_channels_last",
    "list_architectures",
    "to_channels_last",
]
