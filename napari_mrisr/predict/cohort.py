"""Super-resolve whole cohorts: many files into one folder, resumable, one bad file never stops it.

:func:`iter_cohort` runs files one after another in this process (yielding progress, returning
one :class:`FileOutcome` per file). :func:`run_on_devices` spreads files over several devices,
one worker process per device (each loads the model once), which is how a machine with
several GPUs is used: independent files need no communication, so plain processes beat a
distributed framework here, and a crash on one GPU loses only that file.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_mrisr.atomic import check_writable, claim, sweep_stale
from napari_mrisr.progress import Progress, ProgressGenerator
from napari_mrisr.volume.io import load_volume, save_volume, volume_name
from napari_mrisr.zoo.model_fit import check_fit, model_meta

from .method import iter_fitted

__all__ = ["FileOutcome", "cohort_inputs", "cohort_output", "iter_cohort", "run_on_devices", "summary"]


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input: ``done``, ``skipped`` (its output exists, or another run is
    writing it) or ``failed``."""

    input: Path
    output: Path
    status: str
    message: str = ""


def cohort_output(path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """``OUT_DIR/<name>_sr.nii.gz`` (``.mgz`` for MGH inputs)."""
    path = Path(path)
    suffix = ".mgz" if path.name.lower().endswith((".mgz", ".mgh")) else ".nii.gz"
    return Path(out_dir) / f"{volume_name(path)}_sr{suffix}"


def cohort_inputs(inputs: Sequence[Path], out_dir: str | os.PathLike) -> list[Path]:
    """The inputs to run: without the outputs of other inputs (an output folder that is also the
    input folder, run again), and refused (ValueError) when two inputs would write one output."""
    unique = {Path(path).resolve(): path for path in reversed(inputs)}  # one file named twice: once
    inputs = [path for path in inputs if unique.get(Path(path).resolve()) is path]
    outputs = {cohort_output(path, out_dir).resolve(): path for path in inputs}
    inputs = [path for path in inputs if Path(path).resolve() not in outputs]
    by_output: dict[Path, Path] = {}
    for path in inputs:
        out = cohort_output(path, out_dir)
        if out in by_output:
            raise ValueError(
                f"{str(by_output[out])!r} and {str(path)!r} would both be written to {str(out)!r}; "
                "rename one, or run them into separate folders."
            )
        by_output[out] = path
    return inputs


def _one_file(path: Path, out_dir: Path, model, device: str, tile: int | None, force: bool):
    """Super-resolve one file (a generator of tile progress, returning its outcome)."""
    out = cohort_output(path, out_dir)
    if out.is_dir():
        return FileOutcome(path, out, "failed", "a folder of the output's name is in the way")
    if out.exists() and not force:
        return FileOutcome(path, out, "skipped", "output exists")
    with claim(out) as mine:
        if not mine:
            return FileOutcome(path, out, "skipped", "another run is writing it")
        if out.exists() and not force:  # another run finished it meanwhile
            return FileOutcome(path, out, "skipped", "output exists")
        try:
            volume = load_volume(path)
            check_writable(out, volume.data.size * int(np.prod(model.scale)) * 4, replace=force)
            fit = check_fit(volume, model_meta(model))
            sr = yield from iter_fitted(volume, model, fit, device=device, tile=tile)
            save_volume(sr, out, replace=force)
        except (ValueError, OSError) as exc:  # VolumeError, ModelError, ModelFitError, disk problems
            return FileOutcome(path, out, "failed", str(exc))
    return FileOutcome(path, out, "done", " x ".join(map(str, sr.shape)))


def iter_cohort(
    inputs: Sequence[Path],
    out_dir: str | os.PathLike,
    model,
    device: str = "auto",
    tile: int | None = None,
    force: bool = False,
) -> ProgressGenerator[list[FileOutcome]]:
    """Super-resolve ``inputs`` into ``out_dir`` one by one.

    Yields ``Progress(files done, files, "<file>: tile i/n")``; returns the outcomes in input
    order. Existing outputs are skipped (so a crashed run resumes) unless ``force``.
    """
    sweep_stale(out_dir)  # what a killed run of ours left here
    outcomes: list[FileOutcome] = []
    for index, path in enumerate(inputs):
        work = _one_file(Path(path), Path(out_dir), model, device, tile, force)
        while True:
            try:
                tiles = next(work)
            except StopIteration as stop:
                outcomes.append(stop.value)
                break
            if not tiles.warning:
                tiles = Progress(index, len(inputs), f"{Path(path).name}: tile {tiles.done}/{tiles.total}")
            yield tiles
        yield Progress(index + 1, len(inputs), f"{Path(path).name}: {outcomes[-1].status}")
    return outcomes


_WORKER: dict = {}


def _start_worker(devices, model_ref) -> None:
    from napari_mrisr.zoo.model_file import load_model

    _WORKER["device"] = devices.get()
    _WORKER["model"] = load_model(model_ref)


def _run_in_worker(path: Path, out_dir: Path, tile: int | None, force: bool) -> FileOutcome:
    from napari_mrisr.progress import run_to_end

    work = _one_file(path, out_dir, _WORKER["model"], _WORKER["device"], tile, force)
    return run_to_end(work)


def run_on_devices(
    inputs: Sequence[Path],
    out_dir: str | os.PathLike,
    model_ref: str | os.PathLike,
    devices: Sequence[str],
    tile: int | None = None,
    force: bool = False,
    on_outcome: Callable[[FileOutcome], None] | None = None,
) -> list[FileOutcome]:
    """Spread the files over ``devices`` (e.g. ``["cuda:0", "cuda:1"]``), one process each.

    ``model_ref`` is a model name or file (each process loads it once). ``on_outcome`` is
    called in this process as each file ends. Returns the outcomes in input order.
    """
    sweep_stale(out_dir)  # what a killed run of ours left here
    context = multiprocessing.get_context("spawn")  # CUDA cannot be used in forked processes
    queue = context.Queue()
    for device in devices:
        queue.put(device)
    with ProcessPoolExecutor(
        len(devices), mp_context=context, initializer=_start_worker, initargs=(queue, str(model_ref))
    ) as pool:
        futures = {pool.submit(_run_in_worker, Path(p), Path(out_dir), tile, force): i for i, p in enumerate(inputs)}
        outcomes: list[FileOutcome | None] = [None] * len(futures)
        for future in as_completed(futures):
            outcomes[futures[future]] = outcome = future.result()
            if on_outcome is not None:
                on_outcome(outcome)
    return outcomes  # type: ignore[return-value]


def summary(outcomes: Sequence[FileOutcome]) -> str:
    """One line per file and a count: what a user reads at the end of a cohort run."""
    lines = [f"{o.status:>7}  {o.input}" + (f": {o.message}" if o.message else "") for o in outcomes]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)
