"""Progress of long-running work: one event type, and one way to run such work to its end.

Long-running core functions (inference, the pipeline, comparisons) are generators that yield
:class:`Progress` events and ``return`` their result. napari's ``thread_worker`` hands the
return value to ``returned``; the CLI, benchmarks and tests call :func:`run_to_end`.
Cancelling is simply not iterating further (or calling ``.close()``). Work that can spend long
inside one step (a network's forward on a large tile) also takes a cancel check, a callable
asked while the step runs: once it says True, the work raises :class:`Cancelled`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Cancelled", "Progress", "ProgressGenerator", "run_to_end"]

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` steps, with an optional message for the user.

    ``warning`` marks a message the user must see (a notification rather than a status
    line), e.g. an out-of-memory retry or a model whose scale does not match the data.
    ``preview`` is an interim result to show while the work goes on (e.g. a plane of the
    volume being super-resolved, as a :class:`~napari_mrisr.volume.base.Volume`), or None.
    """

    done: int
    total: int
    message: str = ""
    warning: bool = False
    preview: Any = None


class Cancelled(Exception):
    """Work stopped because its cancel check said so; nothing half-made is returned."""


#: A generator that yields :class:`Progress` and returns a ``T``.
ProgressGenerator = Generator[Progress, None, T]


def run_to_end(work: Generator[Progress, Any, T], on_progress: Callable[[Progress], Any] | None = None) -> T:
    """Run ``work`` to its end, passing each event to ``on_progress``, and return its result."""
    while True:
        try:
            event = next(work)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)
