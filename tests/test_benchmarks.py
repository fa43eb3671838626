"""Every benchmark script still starts: its imports follow the package's layout (a move of a
module broke one before anyone ran it) and ``--help`` answers. The figures themselves are
measured by running the scripts (docs/benchmarks.md), never in tests."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))
LIBRARIES = {"machine.py"}  # imported by the others; no command line of its own


@pytest.mark.parametrize("script", [p for p in BENCHMARKS if p.name not in LIBRARIES], ids=lambda p: p.name)
def test_the_benchmark_answers_help(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    monkeypatch.setattr(sys, "path", [str(script.parent), *sys.path])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(script), run_name="__main__")
    assert stop.value.code == 0
    assert "usage:" in capsys.readouterr().out
