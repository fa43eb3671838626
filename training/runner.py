"""Run ``python -m napari_mrisr.training fit`` as a subprocess and follow its JSON-lines events.

The napari Train widget uses this (so a crash on either side loses nothing on the other, and
GPU memory is freed when training ends); it needs no Qt and no napari.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from .config import TrainConfig, save_config

__all__ = ["LAUNCHER_FILES", "TrainingRun"]

#: The files a run folder holds before training starts (the request and the process's output).
REQUEST, LOG = "request.yaml", "train.log"
LAUNCHER_FILES = frozenset({REQUEST, LOG})


class TrainingRun:
    """One training subprocess: start, read new events, stop cleanly.

    Parameters
    ----------
    config : TrainConfig
        Written to ``RUN_DIR/request.yaml`` and trained; output goes to ``RUN_DIR``.
    install : bool
        Put the exported model in the user's model folder (where the plugin lists models).
    """

    def __init__(self, config: TrainConfig, install: bool = True) -> None:
        self.config = config
        self.run_dir = config.run_dir
        self.events_path = self.run_dir / "events.jsonl"
        self.log_path = self.run_dir / LOG
        self.install = install
        self.process: subprocess.Popen | None = None
        self._offset = 0
        self._partial = b""

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        request = save_config(self.config, self.run_dir / REQUEST)
        command = [sys.executable, "-P", "-m", "napari_mrisr.training", "fit", str(request), "--events", str(self.events_path), "--quiet"]
        if self.install:
            command.append("--install")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def new_events(self) -> list[dict]:
        """Events written since the last call (complete lines only)."""
        if not self.events_path.exists():
            return []
        with open(self.events_path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def request_stop(self) -> None:
        """Ask training to stop after its current step and write its last checkpoint (SIGTERM)."""
        if self.running:
            self.process.send_signal(signal.SIGTERM if sys.platform != "win32" else signal.CTRL_BREAK_EVENT)

    quit = request_stop  # the name a dock's run controls call, as for a napari worker

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop and wait; kill the process if it has not ended after ``timeout`` seconds."""
        self.request_stop()
        if self.process is None:
            return None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 5) -> str:
        """The end of the subprocess's output, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
