"""Every code example in README.md and docs/ runs, as a reader would run it.

Python blocks of a page run in order in one namespace; each line of a bash block runs as one
command. Both run in a fresh copy of a folder that holds the files the examples name (a
thick-slice ``scan.nii.gz``, a folder ``scans/`` of two, a 2 mm DICOM series
``dicom_series/``), so no example depends on another's outputs. A block that cannot run here
(it installs packages, or trains for hours) is marked ``<!-- example: not-run (why) -->`` and
must say why. The README's two fresh-machine commands install packages too: .ci/run runs the test
command (tests/test_packaging.py keeps the two the same), and the main command's demo runs here
as ``napari-mrisr demo --screenshot`` (Getting started). JSON blocks must parse.
Self-supervised SR runs with ``--steps 10`` and the demo with ``--screenshot`` (under pytest's
Xvfb): the same commands, shorter.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
REPOSITORY = "https://github.com/napari-mrisr/napari-mrisr/blob/main/"
RAW = "https://raw.githubusercontent.com/napari-mrisr/napari-mrisr/main/"


@dataclass
class Example:
    page: Path
    line: int
    lang: str
    code: str
    mark: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def examples(page: Path) -> list[Example]:
    """The fenced code blocks of a page (not MyST directives such as ```{toctree}), each with the
    HTML comment on the line before it, if any."""
    found, lines, opened = [], page.read_text().splitlines(), None
    for number, line in enumerate(lines, 1):
        if opened is None and line.startswith("```"):
            opened = (number, line[3:].strip(), [])
        elif opened is not None and line == "```":
            start, info, code = opened
            before = lines[start - 2] if start > 1 else ""
            mark = re.fullmatch(r"<!-- (.*?) -->", before)
            if not info.startswith("{"):
                found.append(Example(page, start, info, "\n".join(code) + "\n", mark[1] if mark else ""))
            opened = None
        elif opened is not None:
            opened[2].append(line)
    assert opened is None, f"{page}: a code block opened on line {opened[0]} never closes"
    return found


ALL = [e for page in PAGES for e in examples(page)]
PYTHON = [e for e in ALL if e.lang == "python"]
SHELL = [e for e in ALL if e.lang in ("bash", "sh")]
FRESH_MACHINE = ("main-command", "test-command")
NOT_RUN = [e for e in ALL if e.mark.startswith("example: not-run") or e.mark in FRESH_MACHINE]


def test_every_example_is_python_shell_json_or_text_and_every_skip_says_why():
    assert len(PYTHON) >= 3 and len(SHELL) >= 10, (len(PYTHON), len(SHELL))  # the parser sees them
    for e in ALL:
        assert e.lang in ("python", "bash", "sh", "json", "text", "yaml"), f"{e.id}: ```{e.lang}"
    for e in NOT_RUN:
        if e.mark in FRESH_MACHINE:
            continue
        assert re.fullmatch(r"example: not-run \(.{10,}\)", e.mark), f"{e.id}: say why it is not run"
    for e in ALL:
        if e.lang == "json":
            json.loads(e.code)


def _write_scans(folder: Path) -> None:
    """A 1 x 1 x 4 mm thick-slice scan cut from the template, another one, and a 2 mm series."""
    from napari_mrisr.volume import degrade, io, sample
    from napari_mrisr.volume.base import Volume

    hr = sample.mni152_hr()
    centre = [n // 2 for n in hr.shape]
    crop = tuple(slice(c - 32, c + 32) for c in centre)
    origin = hr.affine @ [*(s.start for s in crop), 1]
    affine = hr.affine.copy()
    affine[:3, 3] = origin[:3]
    head = Volume(np.ascontiguousarray(hr.data[crop]), affine, "head")
    thick = degrade.simulate_lr(head, (1, 1, 4), method="thick_slice")
    io.save_volume(thick, folder / "scan.nii.gz")
    (folder / "scans").mkdir()
    io.save_volume(thick, folder / "scans" / "first.nii.gz")
    io.save_volume(degrade.simulate_lr(head, (1, 1, 4), method="gaussian"), folder / "scans" / "second.nii.gz")


def _write_dicom(folder: Path) -> None:
    from tests.dicom.helpers import write_series

    from napari_mrisr.volume import degrade, sample

    lr = degrade.simulate_lr(sample.mni152_hr(), (2, 2, 2), method="kspace")
    centre = [n // 2 for n in lr.shape]
    crop = tuple(slice(c - 16, c + 16) for c in centre)
    affine = lr.affine.copy()
    affine[:3, 3] = (lr.affine @ [*(s.start for s in crop), 1])[:3]
    data = np.clip(lr.data[crop], 0, None)
    write_series(data, affine, folder / "dicom_series", slope=float(data.max()) / 4000 or 1.0)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("examples")
    _write_scans(folder)
    _write_dicom(folder)
    return folder


@pytest.fixture
def sandbox(files, tmp_path) -> Path:
    """A fresh copy of the example files for one page or block."""
    return Path(shutil.copytree(files, tmp_path / "sandbox"))


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted({e.page for e in PYTHON}), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run(page, sandbox, monkeypatch, capsys):
    monkeypatch.chdir(sandbox)
    namespace: dict = {"__name__": "__example__"}
    for e in (e for e in PYTHON if e.page == page and e not in NOT_RUN):
        exec(compile(e.code, e.id, "exec"), namespace)  # noqa: S102 - our own documentation
    assert capsys.readouterr().out.strip(), "an example prints what it shows"


def commands(code: str) -> list[str]:
    """A bash block's commands: continuation lines joined, comments and blank lines dropped."""
    joined = code.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def shortened(command: str, sandbox: Path) -> list[str]:
    words = shlex.split(command, comments=True)
    if words[:2] == ["mrisr", "selfsr"]:
        words += ["--steps", "10"]
    if words[:2] in (["napari-mrisr", "demo"], ["mrisr", "demo"]) and "--screenshot" not in words:
        words += ["--screenshot", str(sandbox / "window.png")]
    return words


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("example", [e for e in SHELL if e not in NOT_RUN], ids=lambda e: e.id)
def test_shell_examples_run(example, sandbox):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["NAPARI_MRISR_MODELS"] = str(sandbox / "user_models")
    for command in commands(example.code):
        words = shortened(command, sandbox)
        assert not {"&&", "||", "|", ";", ">", "<"} & set(words), f"{example.id}: one command per line"
        done = subprocess.run(words, cwd=sandbox, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{example.id}: {command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def test_readme_links_and_images_point_at_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\((\S+?)(?:#[\w-]+)?\)", readme)
    for target in targets:
        assert not target.startswith(("docs/", "./")), f"{target}: PyPI and the hub need absolute URLs"
        for prefix in (REPOSITORY, RAW):
            if target.startswith(prefix):
                assert (ROOT / target.removeprefix(prefix)).exists(), target


def test_readme_stays_a_short_guide_with_both_fresh_machine_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    main = re.search(r"<!-- main-command -->\s*```bash\n(.*?)```", readme, re.S)
    assert main and main.group(1).strip() == (
        'pip install torch==2.13.0 && pip install ".[pyqt6]" && napari-mrisr demo'
    )
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", readme), "dated history belongs in CHANGELOG.md"


def test_the_training_guide_tables_every_preset_fit_accepts():
    """A researcher picks a preset from the training guide: its table is generated from
    training/configs/, so it names each preset `mrisr-train fit` accepts, once."""
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        from mrisr_tables import presets_rows
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    from napari_mrisr.training.config import list_presets

    assert "```{presets-table}" in (ROOT / "docs" / "training.md").read_text()
    listed = [row[0].strip("`") for row in presets_rows()[1:]]
    assert sorted(listed) == sorted(list_presets())
