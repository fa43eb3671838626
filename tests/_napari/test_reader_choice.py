"""File > Open through napari's real path: our files open with our reader, without a question.

napari's "Choose reader" dialog comes up when more than one plugin's patterns match a file and
the user's settings prefer none; these tests drive ``QtViewer._qt_open`` (what File > Open and
drag-and-drop call) with the dialog replaced by a recorder that answers as a user would.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_mrisr._napari.reader_choice import PLUGIN, our_extension_patterns, prefer_our_readers
from napari_mrisr.volume.io import save_volume

from ..dicom.helpers import write_series
from ..phantoms import head_phantom

NIBABEL = Path(nib.__file__).parent


@pytest.fixture
def settings(monkeypatch):
    """napari's settings, kept in memory only (never written to the user's settings file)."""
    from napari.settings import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "_save_on_change", False)
    monkeypatch.setattr(settings.plugins, "extension2reader", {})
    return settings


@pytest.fixture
def dialogs(monkeypatch):
    """Every "Choose reader" dialog napari makes; each answers with ``dialogs.answer``."""
    from napari._qt.dialogs import qt_reader_dialog

    class Made(list):
        answer = ("", False)  # Cancel

    made = Made()

    class Recorder(qt_reader_dialog.QtReaderDialog):
        def get_user_choices(self):
            made.append(self)
            return made.answer

    monkeypatch.setattr(qt_reader_dialog, "QtReaderDialog", Recorder)
    return made


@pytest.fixture
def fresh_session(settings, make_napari_viewer):
    """A viewer in a napari session that has not used this plugin yet (npe2 activates a plugin
    once per process; earlier tests may have)."""
    from npe2 import PluginManager

    viewer = make_napari_viewer()
    PluginManager.instance().deactivate(PLUGIN)
    return viewer


def file_open(viewer, *paths):
    """File > Open of ``paths`` (napari's file dialog answered with them)."""
    viewer.window._qt_viewer._qt_open([str(p) for p in paths], stack=False)


def use_a_dock(viewer):
    """The user opens one of our docks from the Plugins menu (napari activates the plugin)."""
    viewer.window.add_plugin_dock_widget(PLUGIN, "Load volume")


@pytest.mark.parametrize("name", ["scan.nii", "scan.nii.gz", "scan.mgh", "SCAN.NII.GZ"])
def test_file_open_of_our_files_asks_nothing(
    fresh_session, dialogs, settings, tmp_path, volume, name
):
    viewer = fresh_session
    use_a_dock(viewer)
    path = (
        save_volume(volume, tmp_path / name) if name.islower() else _upper(volume, tmp_path / name)
    )
    file_open(viewer, path)
    assert dialogs == []
    (layer,) = viewer.layers
    assert layer.metadata["affine"].shape == (4, 4)
    assert settings.plugins.extension2reader == dict.fromkeys(our_extension_patterns(), PLUGIN)


def _upper(volume, path):
    saved = save_volume(volume, path.with_name("scan.nii.gz"))
    os.replace(saved, path)
    return path


def test_a_fresh_napari_asks_once_with_our_reader_selected_then_never(
    fresh_session, dialogs, tmp_path, volume
):
    """Nothing of a plugin runs before napari first uses it, so the very first File > Open in a
    napari that never used this plugin asks once (ours first and selected; no remembering
    needed); from then on, every file of our patterns opens with our reader."""
    viewer = fresh_session
    first = save_volume(volume, tmp_path / "hr.nii.gz")
    second = save_volume(volume, tmp_path / "lr.nii")
    third = save_volume(volume, tmp_path / "sr.mgh")
    dialogs.answer = ("MRI Super-Resolution", False)  # OK, the preselected reader, box unticked
    file_open(viewer, first)
    (dialog,) = dialogs
    assert dialog._get_plugin_choice() == "MRI Super-Resolution"
    file_open(viewer, second, third)
    assert len(dialogs) == 1
    assert [layer.name for layer in viewer.layers] == ["hr", "lr", "sr"]
    assert all(layer.metadata["affine"].shape == (4, 4) for layer in viewer.layers)


def test_dicom_files_dicomdirs_and_extensionless_files_open_with_our_reader(
    fresh_session, dialogs, tmp_path
):
    """A DICOMDIR (as pydicom writes a CD: DICOMDIR and extensionless IM000000 files), and one
    multi-frame file named .DCM (as scanners export) or without extension: no question."""
    from pydicom.fileset import FileSet

    viewer = fresh_session
    use_a_dock(viewer)
    series = write_series(
        head_phantom((12, 14, 6)), np.diag([0.9, 0.9, 3.0, 1.0]), tmp_path / "series",
        StudyDate="20250101", StudyTime="120000", StudyID="1", AccessionNumber="1",
    )  # fmt: skip
    cd = FileSet()
    for path in sorted(series.iterdir()):
        cd.add(path)
    cd.write(tmp_path / "cd")
    mprage = gzip.decompress((NIBABEL / "nicom/tests/data/philips_mprage.dcm.gz").read_bytes())
    (tmp_path / "MPRAGE.DCM").write_bytes(mprage)
    (tmp_path / "IM000001").write_bytes(mprage)
    for path in (tmp_path / "cd" / "DICOMDIR", tmp_path / "MPRAGE.DCM", tmp_path / "IM000001"):
        file_open(viewer, path)
    assert dialogs == []
    assert [layer.data.size for layer in viewer.layers] == [12 * 14 * 6] + [256 * 256 * 176] * 2
    assert all(layer.metadata["affine"].shape == (4, 4) for layer in viewer.layers)


def test_the_dicom_reader_stays_out_of_other_files():
    """A reader declaring "*" joins napari's dialog for every file; ours declare exact patterns."""
    from npe2 import PluginManager

    pm = PluginManager.instance()

    def plugins(name):
        return {
            r.plugin_name for r in pm.iter_compatible_readers([os.path.join(os.sep, "d", name)])
        }

    for name in ("photo.png", "stack.tif", "cells.zarr", "table.csv", "notes.txt", "x.nii.gz.bak"):
        assert PLUGIN not in plugins(name), name
    for name in (
        "scan.nii",
        "scan.nii.gz",
        "scan.mgz",
        "scan.mgh",
        "s.dcm",
        "s.IMA",
        "DICOMDIR",
        "IM000001",
    ):
        assert PLUGIN in plugins(name), name


@pytest.mark.parametrize(
    "chosen",
    [{"*.nii.gz": "napari"}, {"*.gz": "napari"}, {"*": "other-plugin"}],
    ids=["same-pattern", "every-gz", "everything"],
)
def test_a_choice_the_user_made_is_kept(settings, chosen):
    settings.plugins.extension2reader = dict(chosen)
    added = prefer_our_readers()
    assert {k: v for k, v in settings.plugins.extension2reader.items() if k in chosen} == chosen
    assert "*.nii.gz" not in added
    if "*" not in chosen:
        assert added["*.mgh"] == PLUGIN
    else:
        assert added == {}
