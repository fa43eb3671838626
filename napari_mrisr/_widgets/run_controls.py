"""Run, Cancel, a progress bar and a status line: the controls every dock starts its work with.

:class:`RunControls` holds the one piece of work a dock runs at a time (a napari worker, or the
Train dock's subprocess), so a dock never has two runs, its buttons never stay "running" after
an error or a cancel, and every dock says the same words when a run ends without a result.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Protocol

from magicgui.widgets import Container, Label, ProgressBar, PushButton

from napari_mrisr.progress import Progress

from .layout import status_label
from .worker import start_worker

__all__ = ["RunControls"]


class _Job(Protocol):
    """What a dock can cancel: a napari worker or a training run (``quit``: stop after the
    current step)."""

    def quit(self) -> None: ...


class RunControls:
    """The Run button (and optionally Cancel and a progress bar) with a status line.

    Parameters
    ----------
    run, cancel : str
        Button texts; ``cancel=""`` leaves the Cancel button out (work too short to cancel).
    progress : bool
        Show a progress bar in the dock (besides napari's activity dock).
    cancelling : str
        The status while a cancelled job finishes its current step.
    """

    def __init__(
        self,
        run: str = "Run",
        cancel: str = "Cancel",
        progress: bool = True,
        cancelling: str = "cancelling...",
    ) -> None:
        self.run_button = PushButton(text=run)
        self.cancel_button = PushButton(text=cancel or "Cancel", enabled=False, visible=bool(cancel))
        self.progress = ProgressBar(label="progress", min=0, max=1, value=0, visible=progress)
        self.status: Label = status_label()
        self.buttons = Container(
            widgets=[self.run_button, self.cancel_button], layout="horizontal", labels=False
        )
        self.job: _Job | None = None
        self.cancelling = cancelling
        self._ready = True
        self._cancelled = False
        self._busy = False  # from begin() to finish(): the job may not be assigned yet
        self.cancel_button.changed.connect(self.cancel)

    @property
    def widgets(self) -> list:
        """The rows to put in a dock's form: buttons, progress bar, status."""
        return [self.buttons, self.progress, self.status]

    @property
    def running(self) -> bool:
        """Whether a run has begun and not finished (its job is assigned once it started)."""
        return self._busy

    @property
    def ready(self) -> bool:
        """Whether the dock's choices allow a run (Run is enabled when ready and idle)."""
        return self._ready

    @ready.setter
    def ready(self, value: bool) -> None:
        self._ready = bool(value)
        self._update_buttons()

    def start(
        self,
        work: Callable[[], Generator[Progress, Any, Any]],
        what: str,
        on_result: Callable[[Any], Any],
        status: str,
        on_progress: Callable[[Progress], Any] | None = None,
        on_done: Callable[[bool], Any] | None = None,
    ):
        """Run a core generator in a worker (:func:`~.worker.start_worker`) as this dock's job.

        Progress events move the dock's bar; a run that ends without a result (an error or a
        cancel) says so in the status line, and ``on_done(ok)`` runs after the controls are
        idle again.
        """
        def progressed(event: Progress) -> None:
            if event.total and not event.warning:
                self.show_progress(event.done, event.total)
            if on_progress is not None:
                on_progress(event)

        def done(ok: bool) -> None:
            self.finish(None if ok else self.outcome())
            if on_done is not None:
                on_done(ok)

        self.begin(status)
        self.job = start_worker(work, what, on_result, on_progress=progressed, on_done=done)
        return self.job

    def begin(self, status: str, job: _Job | None = None) -> None:
        """A run starts: the bar at zero, the buttons busy, ``status`` shown."""
        self.job, self._cancelled, self._busy = job, False, True
        self.progress.max, self.progress.value = 1, 0
        self.status.value = status
        self._update_buttons(busy=True)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.max = max(1, total)
        self.progress.value = min(done, self.progress.max)

    def cancel_requested(self) -> bool:
        """Whether the user cancelled the current run: the cancel check to hand to core work
        that can stop inside a long step (it is asked from the worker's thread)."""
        return self._cancelled

    def cancel(self, *_args) -> None:
        """Ask the job to stop after its current step; nothing it would add is added."""
        if self.job is not None:
            self._cancelled = True
            self.status.value = self.cancelling
            self.cancel_button.enabled = False
            self.job.quit()

    def outcome(self) -> str:
        """What the status says after a run that returned no result."""
        return "cancelled; no layer added" if self._cancelled else "failed; no layer added"

    def finish(self, status: str | None = None) -> None:
        """The run ended: idle buttons, and ``status`` if given (else the status stays)."""
        self.job, self._busy = None, False
        if self._cancelled and self.progress.value >= self.progress.max:
            self.progress.value = 0  # a cancelled run never shows 100 %
        if status is not None:
            self.status.value = status
        self._update_buttons()

    def _update_buttons(self, busy: bool | None = None) -> None:
        # While start() creates the worker, napari may redraw the dock (its activity bar
        # appears) and a dock's render sets ``ready``: busy must not read the unassigned job.
        busy = self.running if busy is None else busy
        self.run_button.enabled = self._ready and not busy
        self.cancel_button.enabled = busy and not self._cancelled
