"""Self-supervised SR of one anisotropic scan (SMORE/ECLARE principle): no training set needed.

A 2D network learns from the scan's own in-plane slices degraded by its slice profile
(:mod:`.pairs`, :mod:`.train`), then super-resolves the through-plane planes in two
orientations, fused (:mod:`.apply`), on the grid of a real slice ratio (:mod:`.grid`);
:mod:`.run` chains them and saves the per-scan model. The network is
:class:`napari_mrisr.models.selfsr2d.SelfSR2D`, with the other architectures.
"""

from .apply import PlanePreview, SelfSRResult, disagreement_map, iter_apply
from .grid import SelfSRGrid, plan_grid, resample_matrix
from .run import iter_selfsr, save_selfsr_model
from .train import BUDGETS, Budget, BudgetName, iter_train

__all__ = [
    "BUDGETS",
    "Budget",
    "BudgetName",
    "PlanePreview",
    "SelfSRGrid",
    "SelfSRResult",
    "disagreement_map",
    "iter_apply",
    "iter_selfsr",
    "iter_train",
    "plan_grid",
    "resample_matrix",
    "save_selfsr_model",
]
