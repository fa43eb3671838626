"""Evented state the dock widgets share, so no widget has to find or call another."""

from __future__ import annotations

from psygnal import Signal

__all__ = ["MODELS"]


class ModelEvents:
    """``changed(path)``: a model file appeared (e.g. training exported and installed one)."""

    changed = Signal(str)


#: Emitted by the Train widget; the Super-resolve widget re-reads its model list.
MODELS = ModelEvents()
