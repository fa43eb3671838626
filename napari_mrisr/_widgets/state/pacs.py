"""The PACS dock's choices without Qt: the server, the search, the series found, what to send.

The password is no field here: the dock passes it from its password box to :meth:`server` at
each request, so it lives in no object that outlasts the request and is never saved.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, ClassVar

from psygnal import Signal, evented

from napari_mrisr.dicom import load_series, save_series, series_description
from napari_mrisr.dicom.dicomweb import (
    PASSWORD_VARIABLE,
    TOKEN_VARIABLE,
    USER_VARIABLE,
    PacsSeries,
    PacsServer,
    iter_retrieve,
    iter_store,
    search_series,
)
from napari_mrisr.progress import Progress, ProgressGenerator
from napari_mrisr.volume.base import Volume

__all__ = ["URL_VARIABLE", "PacsState", "send_description", "unfinished_send"]

#: The server address a user may set once in the environment.
URL_VARIABLE = "MRISR_PACS_URL"


def send_description(metadata: dict[str, Any]) -> str:
    """The SeriesDescription of a result layer: its factor and its model (or method)."""
    meta = metadata.get("model_meta") or {}
    grid = meta.get("selfsr") or {}
    factors = grid.get("ratio") or meta.get("scale") or 1
    return series_description(factors, str(metadata.get("model") or "SR"))


def unfinished_send(latest: Progress, description: str, cancelled: bool) -> str:
    """The status after a send that ended without its result, from its last progress event
    (``done`` images of ``total`` stored): the images already stored stay on the server."""
    how = "cancelled" if cancelled else "failed"
    if not latest.done:
        return f"{how}; nothing was sent"
    return (
        f"{how} after sending {latest.done} of {latest.total} images: the PACS now holds an "
        f"incomplete series {description!r}; delete it there"
    )


@evented(signal_aliases={"results": None})
@dataclass
class PacsState:
    """Server, search terms and results; ``note`` says what the last request found."""

    url: str = field(default_factory=lambda: os.environ.get(URL_VARIABLE, "http://localhost:8042/dicom-web"))
    user: str = field(default_factory=lambda: os.environ.get(USER_VARIABLE, ""))
    patient: str = ""
    study: str = ""
    modality: str = "MR"
    results: list[PacsSeries] = field(default_factory=list)
    chosen: int = 0
    note: str = ""
    #: Emitted by every search, even one whose note is the same as the last one's (same count).
    listed: ClassVar[Signal] = Signal()

    def server(self, password: str = "") -> PacsServer:
        """The server with the typed password, else the environment's password or token: a
        typed password is what the user chose for this request, so a token from the
        environment (which :meth:`PacsServer.client` would send instead) is then left out."""
        user = self.user or None
        if password:
            return PacsServer(self.url, user, password)
        env = os.environ
        return PacsServer(self.url, user, env.get(PASSWORD_VARIABLE), env.get(TOKEN_VARIABLE))

    def search(self, password: str = "") -> ProgressGenerator[list[PacsSeries]]:
        """Search the server (a generator for a worker: the network must not stall the viewer)."""
        yield Progress(0, 1, f"searching {self.url}")
        found = search_series(self.server(password), self.patient, self.study, self.modality)
        yield Progress(1, 1)
        return found

    def found(self, results: list[PacsSeries]) -> None:
        self.results, self.chosen = results, 0
        self.note = f"{len(results)} series found." if results else "No series matches the search."
        self.listed.emit()

    def retrieve(self, password: str = "") -> ProgressGenerator[Volume]:
        """Download the chosen series into a temporary folder, read it, delete the files: the
        patient's images stay in memory only."""
        series = self.results[self.chosen]
        with tempfile.TemporaryDirectory(prefix="mrisr-pacs-") as folder:
            yield from iter_retrieve(self.server(password), series, folder)
            return load_series(folder)

    def send(self, volume: Volume, description: str, password: str = "") -> ProgressGenerator[int]:
        """Write ``volume`` as a derived series of its DICOM source and store it on the server."""
        source = (volume.header or {}).get("dicom")
        if not source:
            raise ValueError(f"{volume.name!r} did not come from a DICOM series; only such results go back to a PACS.")
        with tempfile.TemporaryDirectory(prefix="mrisr-pacs-") as folder:
            yield Progress(0, 1, "writing the series")
            written = save_series(volume, os.path.join(folder, "series"), description, source)
            return (yield from iter_store(self.server(password), sorted(written.iterdir())))
