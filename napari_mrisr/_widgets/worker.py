"""Running a core generator in a napari worker: the one place widgets wire workers, and the
one way an error reaches the user (one sentence)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from napari.qt.threading import thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_warning

from napari_mrisr.progress import Cancelled, Progress

__all__ = ["show_failure", "start_worker"]


def show_failure(exc: BaseException, what: str) -> None:
    """One sentence for the user: the error's own message for expected errors, else what failed."""
    if isinstance(exc, (ValueError, OSError)):  # VolumeError and ModelError are ValueErrors
        show_error(str(exc))
    else:
        show_error(f"{what} failed: {type(exc).__name__}: {exc}")


#: Workers started by :func:`start_worker` and not yet finished.
_running = 0


#: What a worker returns when its work raised Cancelled (its cancel check said so).
_CANCELLED = object()


@dataclass(frozen=True)
class _Failed:
    """What a worker returns when its work raised: the error, reported in the GUI thread."""

    error: BaseException


def start_worker(
    work: Callable[[], Generator[Progress, Any, Any]],
    what: str,
    on_result: Callable[[Any], Any],
    on_progress: Callable[[Progress], Any] | None = None,
    on_done: Callable[[bool], Any] | None = None,
):
    """Run a core generator in a napari worker thread: the one place widgets wire workers.

    Each :class:`Progress` goes to a progress bar in napari's activity dock and to
    ``on_progress``; a warning becomes a notification. The generator's return value goes to
    ``on_result``. Any exception, even one superqt would swallow (a RuntimeError such as an
    out-of-memory), is caught inside the worker and shown as one sentence. ``on_done(ok)``
    runs last in every case (``ok`` is False after an error or a cancel), so buttons and
    status lines never stay "running". Returns the started worker (``.quit()`` cancels after
    the current step; work given a cancel check that raises
    :class:`~napari_mrisr.progress.Cancelled` inside a step ends as a cancel, not an error).

    While any worker runs, the objects that existed when it started are left out of Python's
    garbage collection (``gc.freeze``): a full collection walks all of napari's, Qt's and
    torch's objects (hundreds of thousands), which holds the GIL in whichever thread triggers
    it long enough to stall the event loop mid-run (``benchmarks/gui_responsiveness.py``
    prints the longest stall). Garbage among them waits until the last worker finishes.
    """
    global _running
    _running += 1
    gc.freeze()
    bar = progress(total=0, desc=what)
    state: dict[str, Any] = {"ok": False, "closed": False, "latest": None, "drawing": False}

    def guarded() -> Generator[Progress, Any, Any]:
        try:
            state["work"] = running = work()
            return (yield from running)
        except Cancelled:  # the work saw the cancel inside a step: not an error
            return _CANCELLED
        except Exception as exc:  # noqa: BLE001 (reported to the user in the GUI thread)
            return _Failed(exc)

    def yielded(event: Progress) -> None:
        # napari's activity-dock bar runs the event loop on each update, so the next events
        # (even the result) can be handled inside this call: the widget hears of each event
        # first and in order, and the bar only ever draws the latest one.
        if on_progress is not None:
            on_progress(event)
        if event.warning:
            show_warning(event.message)
        elif event.total:
            state["latest"] = event
            if not state["drawing"]:
                state["drawing"] = True
                try:
                    draw_latest()
                finally:
                    state["drawing"] = False

    def draw_latest() -> None:
        drawn = None
        while not state["closed"] and state["latest"] is not drawn:
            drawn = state["latest"]
            if bar.total != drawn.total:
                bar.total = drawn.total
            if drawn.message:
                bar.set_description(f"{what}: {drawn.message}")
            bar.update(drawn.done - bar.n)

    def returned(result: Any) -> None:
        if result is _CANCELLED:
            return
        if isinstance(result, _Failed):
            show_failure(result.error, what)
            return
        state["ok"] = True
        on_result(result)

    def finished() -> None:
        global _running
        try:
            state["closed"] = True
            bar.close()
            if state.get("work") is not None:
                # A worker quit between two steps leaves the work suspended: closing it here
                # (the worker's loop has ended) runs its cleanup now (a model's hooks, its
                # mode), not whenever the garbage collector gets to it.
                try:
                    state["work"].close()
                except Exception as exc:  # noqa: BLE001 (a cleanup that failed, said once)
                    show_failure(exc, what)
            if on_done is not None:
                on_done(state["ok"])
        finally:
            _running -= 1
            if not _running:
                gc.unfreeze()

    return thread_worker(
        guarded,
        connect={"yielded": yielded, "returned": returned, "finished": finished},
    )()
