"""Super-resolution generators of the reference systems, one module per architecture.

Use :func:`build_model` and :func:`list_architectures`; every model maps
``(B, 1, D, H, W)`` to ``(B, 1, D*s0, H*s1, W*s2)`` for any input size.
"""

from .registry import build_model, list_architectures

__all__ = ["build_model", "list_architectures"]
