"""The Load dock's choices without Qt: what to read, whether and how to simulate its LR.

:class:`LoadState` names the factor boxes by the direction each file axis runs (from the
header alone) and makes the loading work the dock runs in a worker (:meth:`LoadState.work`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import nibabel as nib
from psygnal import Signal, evented

from napari_mrisr.dicom import DicomSeries, find_series, load_series
from napari_mrisr.progress import Progress, ProgressGenerator
from napari_mrisr.volume.base import Volume, volume_warnings
from napari_mrisr.volume.geometry import DIRECTIONS
from napari_mrisr.volume.simulate import load_and_simulate

__all__ = ["DICOM", "FILE", "SAMPLE", "LoadState"]

FILE, DICOM, SAMPLE = "file", "dicom", "sample"
#: The MNI152 sample's voxel axes run L-R, A-P, S-I (RAS+).
_SAMPLE_CODES = ("R", "A", "S")


@evented(signal_aliases={"series": None})
@dataclass
class LoadState:
    """The Load dock's settings; ``axis_labels`` follows the source."""

    source: str = FILE
    path: Path | None = None
    folder: Path | None = None  # a DICOM folder (or DICOMDIR)
    series: list[DicomSeries] = field(default_factory=list)  # the series found there
    chosen: int = 0  # which of them to load
    note: str = ""  # what scanning the DICOM folder found, or why it found nothing
    #: Emitted by every scan of a folder, even one whose note is the last one's (same count).
    listed: ClassVar[Signal] = Signal()
    simulate: bool = False
    method: str = "kspace"
    factors: tuple[int, int, int] = (2, 2, 2)
    noise: float = 0.0
    axis_labels: tuple[str, str, str] = ("i", "j", "k")  # the factor boxes' names

    def __post_init__(self) -> None:
        self.events.source.connect(self._label_axes)
        self.events.path.connect(self._label_axes)
        self.events.folder.connect(self._scan)
        self._label_axes()

    def _scan(self, *_args) -> None:
        """List the series of the DICOM folder (headers only), by series number."""
        series, note = [], ""
        if self.folder is not None and str(self.folder) not in ("", "."):
            try:
                series = find_series([self.folder])
                note = f"{len(series)} series: pick one."
            except (ValueError, OSError) as exc:  # VolumeError is a ValueError
                note = str(exc)
        self.series, self.chosen, self.note = series, 0, note
        self.listed.emit()

    def _label_axes(self, *_args) -> None:
        """Name each file axis by its direction (L-R, A-P, S-I): i, j, k when unknown."""
        codes: tuple = (None,) * 3
        if self.source == SAMPLE:
            codes = _SAMPLE_CODES
        elif self.path is not None:
            try:
                codes = nib.aff2axcodes(nib.load(self.path).affine)  # the header only
            except Exception:  # noqa: BLE001 (no file yet, or not an image: loading says why)
                pass
        self.axis_labels = tuple(DIRECTIONS.get(c, d) for c, d in zip(codes, "ijk", strict=True))

    def problem(self) -> str | None:
        """Why loading cannot start (one sentence), or None."""
        if self.source == FILE and (self.path is None or not Path(self.path).is_file()):
            return "Choose a NIfTI or MGZ file to load."
        if self.source == DICOM and not self.series:
            return self.note or "Choose a folder of DICOM files (or a DICOMDIR) to load a series from."
        return None

    def work(self) -> ProgressGenerator[list[tuple[Volume, dict]]]:
        """Read the source (and simulate its LR acquisition): the volumes and their metadata."""
        yield Progress(0, 1, "reading")
        if self.source == SAMPLE:
            from napari_mrisr.volume.sample import mni152_hr

            source: Path | Volume = mni152_hr()
        elif self.source == DICOM:
            source = load_series(self.series[self.chosen])
        else:
            source = Path(self.path)
        with volume_warnings() as notes:
            volumes = load_and_simulate(
                source, self.simulate, self.method, tuple(self.factors), self.noise
            )
        for note in notes:
            yield Progress(0, 0, note, warning=True)
        return volumes
