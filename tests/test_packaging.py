"""napari finds the plugin from the editable install and from a built wheel; CI runs the README's tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_npe2_validates_the_installed_plugin():
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-mrisr"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_manifest_lives_at_the_root_and_in_the_package():
    assert (ROOT / "napari.yaml").is_file()
    packaged = ROOT / "napari_mrisr" / "napari.yaml"
    assert packaged.read_text() == (ROOT / "napari.yaml").read_text()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the source tree (symlinks kept, as in a git clone)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".*cache"),
    )
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp / "dist")],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (path,) = (tmp / "dist").glob("napari_mrisr-*.whl")
    return path


def test_wheel_contains_the_manifest_and_its_entry_point(wheel):
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("napari_mrisr/napari.yaml").decode() == (ROOT / "napari.yaml").read_text()
        (entry_points,) = [n for n in zf.namelist() if n.endswith("entry_points.txt")]
        text = zf.read(entry_points).decode()
        metadata = zf.read(next(n for n in zf.namelist() if n.endswith("METADATA"))).decode()
    assert re.search(r"\[napari\.manifest\]\s*napari-mrisr = napari_mrisr:napari\.yaml", text)
    assert "Classifier: Framework :: napari" in metadata
    assert not re.search(r"Requires-Dist: (PyQt5|PySide6)(?!.*extra ==)", metadata)


def test_napari_finds_the_plugin_from_the_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import napari_mrisr, npe2\n"
        "pm = npe2.PluginManager()\n"
        "pm.discover()\n"
        "m = pm.get_manifest('napari-mrisr')\n"
        "print(napari_mrisr.__file__)\n"
        "print(m.name, len(m.contributions.sample_data), len(m.contributions.readers))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout.splitlines()
    assert Path(out[0]).is_relative_to(site)  # the wheel's copy, not the editable checkout
    assert out[1] == "napari-mrisr 3 1"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert block, "README must mark its test command with <!-- test-command -->"
    command = block.group(1).strip()
    assert command in (ROOT / ".ci" / "run").read_text()
    assert command.startswith("pip install torch==2.13.0")
