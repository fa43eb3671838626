"""The command line (``mrisr``, ``napari-mrisr``): one module per command, :func:`main` here."""

from .main import main, parser

__all__ = ["main", "parser"]
