"""How the command lines (``mrisr``, ``mrisr-train``) speak: one line per warning."""

from __future__ import annotations

import sys

__all__ = ["one_line_warnings"]


def one_line_warnings(prog: str) -> None:
    """Show this package's warnings as ``PROG: warning: <sentence>``, not with a source line."""
    import warnings

    from napari_mrisr.volume.base import VolumeWarning
    from napari_mrisr.zoo.folders import ModelFileWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, (VolumeWarning, ModelFileWarning)):
            print(f"{prog}: warning: {message}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
