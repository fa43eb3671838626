"""How a radiologist reads a slice: the radiological (or neurological) convention, remembered.

Radiological: the patient's right on the screen's left, anterior up in axial views (as a
radiologist reads films); neurological: the patient's right on the right. The convention is a
user setting, remembered in the user config folder (``$NAPARI_MRISR_CONFIG`` overrides the
file). napari's camera (:mod:`napari_mrisr._napari.orientation`) and the validation slices
that training saves both follow it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

from napari_mrisr.atomic import write_text

__all__ = ["CONVENTIONS", "convention", "remember_convention"]

#: Camera orientation per convention (napari world axes S, A, R: slider, vertical, horizontal).
CONVENTIONS = {
    "radiological": ("towards", "up", "left"),
    "neurological": ("towards", "up", "right"),
}


def _settings_path() -> Path:
    env = os.environ.get("NAPARI_MRISR_CONFIG")
    return Path(env) if env else Path(platformdirs.user_config_dir("napari-mrisr")) / "settings.json"


def convention() -> str:
    """The remembered display convention (radiological unless the user chose neurological)."""
    try:
        value = json.loads(_settings_path().read_text()).get("convention")
    except (OSError, ValueError, AttributeError):
        value = None
    return value if value in CONVENTIONS else "radiological"


def remember_convention(name: str) -> None:
    """Remember a convention for the next session (ValueError for an unknown one)."""
    if name not in CONVENTIONS:
        raise ValueError(f"Unknown convention {name!r}; choose one of {', '.join(CONVENTIONS)}.")
    path = _settings_path()
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError):
        settings = {}
    write_text(path, json.dumps({**settings, "convention": name}, indent=2))
