"""How many CPU threads torch should use: the cores this process may actually run on.

``os.cpu_count()`` counts the machine's cores, not the ones a container, a cluster job or
``taskset`` gives the process. Threads beyond those wait for a core while spinning, which costs
CPU time and slows every thread down; so the default is the cores of the process's affinity
mask, capped by its cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``). Other processes
can still take some of those cores, and the load changes while a run goes on:
:class:`ThreadTuner` keeps a repeated step at the thread count that runs it fastest now.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path

__all__ = ["ThreadTuner", "available_cores", "use_threads"]

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
    global _pinned
    _pinned = threads is not None
    chosen = threads or available_cores()
    torch.set_num_threads(chosen)
    return chosen


#: Whether the user chose the thread count (``--threads``): :class:`ThreadTuner` then keeps it.
_pinned = False


class ThreadTuner:
    """Keeps torch's CPU threads at the count that runs a repeated step fastest now.

    A thread that shares its core with another process slows each parallel region to its pace
    (and its partners spin while they wait), so on a busy machine fewer threads than cores can
    be faster; and the load changes during a run. Call :meth:`tick` after each step of equal
    work: after ``first`` steps, then every ``every`` steps, it times ``probe`` steps at each
    candidate count (the current one, one fewer, half) and keeps the fastest; :meth:`restore`
    goes back to the count it began with. It does nothing when ``active`` is False or the user
    chose the count (:func:`use_threads` with a number).
    """

    def __init__(
        self, active: bool = True, first: int = 10, every: int = 100, probe: int = 4
    ) -> None:
        import torch

        self._torch = torch
        self.start = torch.get_num_threads()
        counts = {self.start, max(1, self.start - 1), max(1, self.start // 2)}
        self.candidates = sorted(counts, reverse=True)
        self.active = active and not _pinned and len(self.candidates) > 1
        self.first, self.every, self.probe = first, every, probe
        self.chosen = self.start
        self._count, self._last = 0, None
        self._probing: list[int] = []  # candidates left to time, the one being timed first
        self._times: dict[int, list[float]] = {}

    def restore(self) -> None:
        """Back to the count set when the tuner was made."""
        self._torch.set_num_threads(self.start)

    def tick(self) -> None:
        """One step of the repeated work has ended."""
        if not self.active:
            return
        now = time.perf_counter()
        last, self._last = self._last, now
        self._count += 1
        if self._probing:
            times = self._times.setdefault(self._probing[0], [])
            times.append(now - last)
            if len(times) > self.probe:  # the first step after a switch warms the new count up
                self._probing.pop(0)
                if self._probing:
                    self._torch.set_num_threads(self._probing[0])
                else:
                    self._choose()
        elif self._count >= self.first and (self._count - self.first) % self.every == 0:
            self._times = {}
            self._probing = list(self.candidates)
            self._torch.set_num_threads(self._probing[0])

    def _choose(self) -> None:
        speed = {n: statistics.median(t[1:]) for n, t in self._times.items()}
        self.chosen = min(speed, key=speed.get)
        self._torch.set_num_threads(self.chosen)
