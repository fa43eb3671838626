"""Model files and the choice among them: format, folders, fit to a scan, preference.

- :mod:`~napari_mrisr.zoo.metadata`: the JSON a model file carries, read and checked alone.
- :mod:`~napari_mrisr.zoo.model_file`: :func:`save_model` / :func:`load_model` (safetensors,
  never pickles).
- :mod:`~napari_mrisr.zoo.folders`: bundled and user models, :func:`list_models`.
- :mod:`~napari_mrisr.zoo.model_fit`: whether a model fits a scan, and how it is turned to it.
- :mod:`~napari_mrisr.zoo.model_choice`: which fitting model to prefer on this device.
"""

from .folders import ModelFileWarning, ModelInfo, bundled_models_dir, list_models, user_models_dir
from .metadata import FORMAT_VERSION, SUFFIX, ModelError, read_metadata
from .model_choice import (
    BundledChoice,
    best_bundled_model,
    choose_bundled,
    preference,
    preferred,
    runs_full_models,
)
from .model_file import load_model, save_model
from .model_fit import Fit, ModelFitError, ModelGeometry, check_fit, fit_model

__all__ = [
    "FORMAT_VERSION",
    "SUFFIX",
    "BundledChoice",
    "Fit",
    "ModelError",
    "ModelFileWarning",
    "ModelFitError",
    "ModelGeometry",
    "ModelInfo",
    "best_bundled_model",
    "bundled_models_dir",
    "check_fit",
    "choose_bundled",
    "fit_model",
    "list_models",
    "load_model",
    "preference",
    "preferred",
    "read_metadata",
    "runs_full_models",
    "save_model",
    "user_models_dir",
]
