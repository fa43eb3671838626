"""The fuzzing harness's budgets and its guard against hangs.

Two Hypothesis profiles: ``ci`` (the default: a few dozen examples per property, part of the
suite) and ``long`` (thousands, run by hand:
``python -m pytest tests/fuzz -p no:randomly --hypothesis-profile=long``). Every example runs
under :func:`no_hang`: one that takes longer than its limit fails as a hang.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,  # the per-example limit is no_hang's, which also stops a real hang
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same examples on every CI run: a failure is reproducible
)
settings.register_profile(
    "long",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class Hang(Exception):
    """An example ran past its time limit."""


@contextmanager
def no_hang(seconds: float = 20.0):
    """Fail (:class:`Hang`) if the block runs longer than ``seconds`` (SIGALRM, main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(_signum, _frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
