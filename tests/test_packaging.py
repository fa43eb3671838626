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


@pytest.mark.subprocess
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


@pytest.mark.subprocess
def test_wheel_contains_the_manifest_and_its_entry_point(wheel):
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("napari_mrisr/napari.yaml").decode() == (ROOT / "napari.yaml").read_text()
        (entry_points,) = [n for n in zf.namelist() if n.endswith("entry_points.txt")]
        text = zf.read(entry_points).decode()
        metadata = zf.read(next(n for n in zf.namelist() if n.endswith("METADATA"))).decode()
    assert re.search(r"\[napari\.manifest\]\s*napari-mrisr = napari_mrisr:napari\.yaml", text)
    assert "Classifier: Framework :: napari" in metadata
    assert not re.search(r"Requires-Dist: (PyQt5|PySide6)(?!.*extra ==)", metadata)


@pytest.mark.subprocess
def test_wheel_holds_training_as_napari_mrisr_training_with_its_presets(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    modules = {Path(n).name for n in names if n.startswith("napari_mrisr/training/") and n.endswith(".py")}
    assert {p.name for p in (ROOT / "training").glob("*.py")} <= modules
    assert {"__init__.py", "__main__.py", "cli.py", "runner.py"} <= modules
    presets = {n.removeprefix("napari_mrisr/training/configs/") for n in names if n.startswith("napari_mrisr/training/configs/")}
    assert presets == {p.name for p in (ROOT / "training" / "configs").glob("*.yaml")}
    # No generic top-level `training` package (or module) that a user's folder could shadow or clash with.
    assert not [n for n in names if n.split("/")[0] in ("training", "training.py")]
    top_level = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    if top_level:
        with zipfile.ZipFile(wheel) as zf:
            assert zf.read(top_level[0]).decode().split() == ["napari_mrisr"]


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    """The wheel installed (without dependencies) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def run_from(site: Path, probe: str, cwd: Path, *flags: str) -> list[str]:
    """The lines a Python snippet prints when the installed wheel comes first on its path."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, *flags, "-c", probe], env=env, capture_output=True, text=True, check=True, cwd=cwd)
    return done.stdout.splitlines()


@pytest.mark.subprocess
def test_the_installed_wheel_runs_training_from_its_own_copy(site, tmp_path):
    probe = (
        "import napari_mrisr.training.config as c, napari_mrisr.training.cli as cli\n"
        "print(c.__file__)\n"
        "print(' '.join(c.list_presets()))\n"
        "print(c.load_config('tiny').name)\n"
    )
    out = run_from(site, probe, tmp_path, "-P")
    assert Path(out[0]).is_relative_to(site / "napari_mrisr" / "training")
    assert out[1].split() == sorted(p.stem for p in (ROOT / "training" / "configs").glob("*.yaml"))
    assert out[2] == "tiny"
    assert not (site / "training").exists()


@pytest.mark.subprocess
def test_import_training_finds_no_generic_top_level_package(tmp_path):
    """The repository folder training/ is installed as napari_mrisr.training only: from a neutral
    folder, `import training` fails in this environment (editable or wheel install)."""
    neutral = tmp_path / "neutral"
    neutral.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", "import training"], cwd=neutral, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'training'" in result.stderr, result.stderr


@pytest.mark.subprocess
def test_napari_finds_the_plugin_from_the_installed_wheel(site, tmp_path):
    probe = (
        "import napari_mrisr, npe2\n"
        "pm = npe2.PluginManager()\n"
        "pm.discover()\n"
        "m = pm.get_manifest('napari-mrisr')\n"
        "print(napari_mrisr.__file__)\n"
        "print(m.name, len(m.contributions.sample_data), len(m.contributions.readers))\n"
    )
    out = run_from(site, probe, tmp_path)
    assert Path(out[0]).is_relative_to(site)  # the wheel's copy, not the editable checkout
    assert out[1] == "napari-mrisr 3 2"  # three samples; readers of volumes and of DICOM series


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert block, "README must mark its test command with <!-- test-command -->"
    command = block.group(1).strip()
    assert command in (ROOT / ".ci" / "run").read_text()
    assert command.startswith("pip install torch==2.13.0")


def test_napari_and_pytest_qt_drive_one_qt_binding_the_one_qt_api_names(make_napari_viewer, qtbot):
    """CI runs the suite on PyQt5 and on PyQt6 by setting QT_API (and PYTEST_QT_API: pytest-qt
    picks its own binding, and qtpy, hence napari, then follows the one already imported)."""
    import qtpy
    from pytestqt.qt_compat import qt_api
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer()
    loaded = [name for name in ("PyQt5", "PyQt6", "PySide2", "PySide6") if name in sys.modules]
    assert loaded == [qtpy.API_NAME]
    assert qt_api.pytest_qt_api == qtpy.API_NAME.lower()
    assert type(QApplication.instance()).__module__ == f"{qtpy.API_NAME}.QtWidgets"
    assert any(c.__module__.startswith(f"{qtpy.API_NAME}.") for c in type(viewer.window._qt_window).__mro__)
    if qtpy.binding_specified:  # QT_API as it was set (qtpy rewrites os.environ["QT_API"] when it falls back)
        assert qtpy.API_NAME.lower() == qtpy.initial_api, (
            f"QT_API={qtpy.initial_api} but the tests run on {qtpy.API_NAME}: set PYTEST_QT_API={qtpy.initial_api} too"
        )


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_installed_wheels_commands_run_help_models_and_a_predict(site, tmp_path):
    """The wheel's own console scripts, with its bundled models: what a user runs first."""
    import nibabel as nib
    import numpy as np

    env = {**os.environ, "PYTHONPATH": str(site), "NAPARI_MRISR_MODELS": str(tmp_path / "models")}

    def mrisr(*args: str) -> str:
        done = subprocess.run(
            [str(site / "bin" / "mrisr"), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    assert "predict" in mrisr("--help")
    assert "mni-x4-thick" in mrisr("models")
    scan = np.random.default_rng(0).random((16, 16, 6), dtype=np.float32) * 100
    nib.save(nib.Nifti1Image(scan, np.diag([1.0, 1.0, 4.0, 1.0])), tmp_path / "thick.nii.gz")
    out = mrisr("predict", "thick.nii.gz", "thick_sr.nii.gz")
    assert "mni-x4-thick" in out  # the bundled model that fits 1 x 1 x 4 mm, named
    sr = nib.load(tmp_path / "thick_sr.nii.gz")
    assert sr.shape == (16, 16, 24)
    np.testing.assert_allclose(nib.affines.voxel_sizes(sr.affine), [1.0, 1.0, 1.0])
