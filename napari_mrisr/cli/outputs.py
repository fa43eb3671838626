"""Where a command writes: a NIfTI/MGZ file, a new DICOM series beside a DICOM source, or both.

``mrisr predict IN OUT`` and ``mrisr selfsr IN OUT`` read ``IN`` as a NIfTI/MGZ file or a DICOM
series (a folder or DICOMDIR). ``OUT`` named like a volume is a file; for a DICOM input, ``OUT``
may also be a new folder, which then receives the result as a derived series; ``--dicom-out
DIR`` writes that series besides a file. Everything is checked before the work.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from napari_mrisr.atomic import check_writable
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import check_volume_path, is_volume_path, save_volume

__all__ = ["Outputs", "plan_outputs"]


@dataclass(frozen=True)
class Outputs:
    """The file and the DICOM series folder a run writes (either may be None, not both)."""

    file: Path | None
    series: Path | None

    def check(self, source: Path, nbytes: int, force: bool) -> None:
        """Refuse, before any work, outputs that cannot be written (one sentence)."""
        if self.file is not None:
            if not force and self.file.resolve() == source.resolve():
                raise ValueError(f"{str(self.file)!r} is the input file; pass --force to overwrite it.")
            check_writable(self.file, nbytes, replace=force)
        if self.series is not None:
            folder = self.series.resolve()
            if folder == source.resolve() or source.resolve() in folder.parents:
                raise ValueError(f"{str(self.series)!r} is inside the input series; a result goes into a new folder beside it.")
            if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
                raise FileExistsError(f"{str(self.series)!r} already exists; a DICOM series is written into a new folder.")
            check_writable(folder.parent / f".{folder.name}", nbytes // 2)  # 16-bit images

    def write(self, volume: Volume, description: str, force: bool) -> list[str]:
        """Write the result; what was written, for the user."""
        from napari_mrisr.dicom.writing import save_series

        written = []
        if self.file is not None:
            save_volume(volume, self.file, replace=force)
            written.append(str(self.file))
        if self.series is not None:
            source = (volume.header or {}).get("dicom")
            save_series(volume, self.series, description, source)
            written.append(f"{self.series} (DICOM series {description!r})")
        return written


def plan_outputs(args: argparse.Namespace, dicom_input: bool) -> Outputs:
    """The outputs ``args.output`` and ``args.dicom_out`` ask for."""
    output, series = Path(args.output), getattr(args, "dicom_out", None)
    if is_volume_path(output) or not dicom_input:
        file = check_volume_path(output)
    else:
        file, series = None, series or output
        if series != output:
            raise ValueError("Give the DICOM series one folder: the output, or --dicom-out.")
    if series is not None and not dicom_input:
        raise ValueError(f"--dicom-out writes a series beside a DICOM source, and {str(args.input)!r} is not DICOM.")
    return Outputs(file, Path(series) if series is not None else None)
