"""Super-resolving scans with a model file or the cubic baseline: one scan, or a cohort.

- :mod:`.method`: :class:`Method` (a model file or the baseline), :func:`iter_run`, and
  :func:`iter_fitted` (the engine on a scan turned to the model, as its fit says).
- :mod:`.cohort`: many files into a folder, resumable, spread over several GPUs.
"""

from .cohort import FileOutcome, iter_cohort, run_on_devices
from .method import BASELINE, Method, SRResult, iter_fitted, iter_run

__all__ = [
    "BASELINE",
    "FileOutcome",
    "Method",
    "SRResult",
    "iter_cohort",
    "iter_fitted",
    "iter_run",
    "run_on_devices",
]
