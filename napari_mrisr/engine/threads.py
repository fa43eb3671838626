"""How many CPU threads torch should use: the cores this process may actually run on.

``os.cpu_count()`` counts the machine's cores, not the ones a container, a cluster job or
``taskset`` gives the process. Threads beyond those wait for a core while spinning, which costs
CPU time and slows every thread down; so the default is the cores of the process's affinity
mask, capped by its cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["available_cores", "use_threads"]

CGROUP = Path("/sys/fs/cgroup")


def _quota(root: Path = CGROUP) -> float | None:
    """The cgroup CPU quota in cores, or None when there is none (or it cannot be read)."""
    try:
        limit, period = (root / "cpu.max").read_text().split()[:2]  # cgroup v2: "max 100000"
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        limit = int((root / "cpu" / "cpu.cfs_quota_us").read_text())  # cgroup v1: -1 = none
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if limit <= 0 or period <= 0 else limit / period
    except (OSError, ValueError):
        return None


def available_cores(root: Path = CGROUP) -> int:
    """The cores this process may run on: its affinity mask, capped by its CPU quota (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _quota(root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def use_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads to ``threads`` (default: :func:`available_cores`); returns it.

    Raises ValueError (one sentence) for a number below 1.
    """
    import torch

    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be 1 or more, not {threads}.")
    chosen = threads or available_cores()
    torch.set_num_threads(chosen)
    return chosen
