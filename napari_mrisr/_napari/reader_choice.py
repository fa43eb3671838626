"""Our readers as napari's choice for our own file patterns, unless the user chose otherwise.

napari asks "Choose reader" whenever more than one plugin declares a pattern that matches the
file (``napari.plugins._npe2.get_readers``) and ``settings.plugins.extension2reader`` names none
of them (``napari.plugins.utils.get_preferred_reader``). napari's builtins declare ``*.nii``,
``*.nii.gz``, ``*.mgh``, ``*.dcm`` and ``*.dicom`` too (through imageio, which reads none of
them here), so without a preference every such file would ask, and the dialog's "remember" box
would store ``*.gz`` for a ``.nii.gz``. npe2 runs no plugin code before a plugin's first use, so
the preference is written when napari first uses this plugin in a session (npe2 calls
:func:`activate`: a dock, a sample, our reader picked in that dialog) and is kept in napari's
settings from then on: a user is asked at most once, with our reader first and selected.

A pattern gets our reader only where the user's settings hold no entry that already decides a
file of that pattern (``*.nii.gz`` is left alone where ``*.gz`` or ``*`` names any reader), so a
choice made in Preferences > Plugins or in the dialog is never overridden.
"""

from __future__ import annotations

import os
from fnmatch import fnmatch
from typing import Any

__all__ = ["PLUGIN", "activate", "our_extension_patterns", "prefer_our_readers"]

PLUGIN = "napari-mrisr"


def our_extension_patterns() -> list[str]:
    """The ``*.ext`` patterns our readers declare in the manifest, and each in capitals.

    The DICOM reader's dot-free names and folders are left out: no other reader here declares
    them. Capitals because napari matches readers to a file's extension case-blind but its
    preferences case-true (``*.nii.gz`` does not decide ``SCAN.NII.GZ``; scanners and CDs
    write ``.DCM`` and ``.IMA``).
    """
    from npe2 import PluginManager

    manifest = PluginManager.instance().get_manifest(PLUGIN)
    patterns: list[str] = []
    for reader in manifest.contributions.readers or ():
        for pattern in reader.filename_patterns:
            if pattern.startswith("*."):
                patterns += [p for p in (pattern, pattern.upper()) if p not in patterns]
    return patterns


def prefer_our_readers(patterns: list[str] | None = None) -> dict[str, str]:
    """Name our plugin in napari's ``extension2reader`` for each pattern that no entry decides yet.

    Returns the entries added (none where the user has chosen for every pattern already).
    """
    from napari.settings import get_settings

    plugins = get_settings().plugins
    chosen = dict(plugins.extension2reader)
    added = {}
    for pattern in our_extension_patterns() if patterns is None else patterns:
        example = os.path.join(os.sep, "scan" + pattern[1:])  # a file this pattern matches
        if not any(fnmatch(example, key) for key in chosen):
            added[pattern] = PLUGIN
    if added:
        plugins.extension2reader = {**chosen, **added}
    return added


def activate(context: Any = None) -> None:
    """npe2's ``on_activate`` hook: runs once per session, the first time napari uses the plugin."""
    try:
        prefer_our_readers()
    except Exception as exc:  # a settings file napari cannot write must not stop the plugin
        import warnings

        warnings.warn(
            f"Could not make napari-mrisr napari's reader for its files: {exc}", stacklevel=2
        )
