"""The Compare grid as a person sees it: 2D/3D, and a dock that fits napari's window."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Layer
from napari.utils.notifications import notification_manager

from napari_mrisr._napari.layers import layer_data
from napari_mrisr._napari.viewer import camera, grid
from napari_mrisr._widgets.compare_cells import plan_cells
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.volume.interpolate import upsample

from ..phantoms import head_phantom, oblique_affine

TIMEOUT_MS = 120_000
LONG = "sub-01 T1w LR kspace x2"  # names as long as a real scan's


def add_family(viewer, long_names=False):
    """GT, its LR (x2 in-plane) and an 'SR' (cubic) with the metadata Compare pre-fills from."""
    name = f"{LONG[:10]} ground truth" if long_names else "gt"
    gt = Volume(head_phantom((16, 24, 20)), oblique_affine(), name)
    lr = simulate_lr(gt, (1, 2, 2), method="gaussian")
    lr.name = LONG if long_names else "lr"
    sr = upsample(lr, (1, 2, 2), order="cubic")
    sr.name = f"{lr.name} SR mni-x2-iso-gan" if long_names else "sr"
    degradation = {"method": "gaussian", "factors": [1, 2, 2], "noise": 0.0}
    viewer.add_layer(Layer.create(*layer_data(gt)))
    viewer.add_layer(Layer.create(*layer_data(lr, metadata={"degradation": degradation})))
    meta = {"model": "mni-x2-iso-gan", "input": lr.name, "ground_truth": gt.name}
    meta["degradation"] = degradation
    viewer.add_layer(Layer.create(*layer_data(sr, metadata=meta)))


def compare(viewer, qtbot):
    from napari_mrisr._widgets.compare import CompareWidget

    widget = CompareWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Compare")
    widget.compare_button.native.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    return widget, dock


def test_signed_maps_are_hidden_in_3d_and_said_so(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    add_family(viewer)
    widget, _ = compare(viewer, qtbot)
    consistency = next(x for x in viewer.layers if x.name.startswith("data consistency"))
    signed = [viewer.layers["SR - cubic"], consistency]
    errors = [viewer.layers["|SR - GT|"], viewer.layers["|cubic - GT|"]]
    assert all(layer.visible for layer in signed + errors)

    limits_2d = [tuple(layer.contrast_limits) for layer in errors]
    images = [viewer.layers[name] for name in ("lr", "sr", "cubic baseline")]
    viewer.layers["gt"].rendering = "minip"  # a user's own choice
    start = len(notification_manager.records)
    viewer.dims.ndisplay = 3
    # The images show their surface: a plain MIP of a head is a white silhouette.
    assert [x.rendering for x in images] == ["attenuated_mip"] * 3
    assert viewer.layers["gt"].rendering == "minip"
    assert all(x.rendering == "mip" for x in errors)
    assert not any(layer.visible for layer in signed)  # a 3D rendering shows one sign only
    assert all(layer.visible for layer in errors)  # |error| has one sign: its MIP means something
    # ... on the scale of the largest errors along lines of sight (a slice's scale saturates
    # more of the projection; on a real brain, most of it), the same for both maps.
    mips = [np.asarray(layer.data).max(axis=viewer.dims.displayed[0]) for layer in errors]
    limits_3d = {tuple(layer.contrast_limits) for layer in errors}
    assert len(limits_3d) == 1
    (top,) = {high for _, high in limits_3d}
    saturated_2d = max(
        np.mean(mip[mip > 0] >= high) for mip, (_, high) in zip(mips, limits_2d, strict=True)
    )
    saturated_3d = max(np.mean(mip[mip > 0] >= top) for mip in mips)
    assert saturated_3d < 0.03 < saturated_2d, (saturated_3d, saturated_2d)
    assert f"scale 0 to {top:.3g}" in widget.status.value
    # The volume turns: at any angle its longest side fits its cell beside the colour bar.
    cells = [layer for layer in viewer.layers if layer.visible]
    longest = max(
        float(np.max(x.extent.world[1] - x.extent.world[0] + x.extent.step)) for x in cells
    )
    plan = plan_cells(
        len(cells), tuple(viewer.canvas.size), (longest, longest), max(len(x.name) for x in cells)
    )
    free_w = plan.cell_hw[1] - plan.bands["left"] - plan.bands["right"]
    assert camera(viewer).zoom * longest <= free_w + 1e-6
    assert "signed maps" in widget.status.value and "hidden" in widget.status.value
    said = [n.message for n in notification_manager.records[start:]]
    assert any("SR - cubic" in m and "hidden" in m for m in said)  # told even if the dock is hidden
    assert grid(viewer).shape[0] * grid(viewer).shape[1] >= len(viewer.layers) - len(signed)

    images[0].rendering = "iso"  # chosen in 3D: kept in 2D
    viewer.dims.ndisplay = 2
    assert all(layer.visible for layer in signed + errors)
    assert [tuple(layer.contrast_limits) for layer in errors] == limits_2d
    assert [x.rendering for x in images] == ["iso", "mip", "mip"]
    assert viewer.layers["gt"].rendering == "minip"
    assert "hidden" not in widget.status.value and "scale 0 to" not in widget.status.value

    viewer.dims.ndisplay = 3  # a comparison made in 3D hides its signed maps at once
    widget.compare_button.native.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert not viewer.layers["SR - cubic"].visible and viewer.layers["|SR - GT|"].visible


@pytest.mark.parametrize("window", [None, (1280, 800)], ids=["napari-default", "1280x800"])
def test_compare_dock_fits_the_window(make_napari_viewer, qtbot, window):
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtWidgets import QApplication, QScrollArea

    viewer = make_napari_viewer(show=True)
    if window:
        viewer.window.resize(*window)
    add_family(viewer, long_names=True)
    widget, dock = compare(viewer, qtbot)
    dock.parentWidget().resizeDocks([dock], [1], Qt.Orientation.Horizontal)  # as narrow as it goes
    QApplication.processEvents()

    # The dock: nothing cut at its right edge, the status never over the table (once the
    # wrapped status's new height is laid out: Qt lays out in posted events).
    area = widget.findChild(QScrollArea)
    assert area.widget().minimumSizeHint().width() <= area.viewport().width()
    status, table = widget.status.native, widget.table

    def status_clear_of_table() -> bool:
        below_status = status.mapTo(area.widget(), QPoint(0, status.height())).y()
        return below_status <= table.mapTo(area.widget(), QPoint(0, 0)).y()

    qtbot.waitUntil(status_clear_of_table, timeout=2000)
    assert status.height() >= status.heightForWidth(status.width())  # every wrapped line shown
    assert table.horizontalHeader().length() <= table.viewport().width()  # every column whole
    _, _, _, height = viewer.window.geometry()
    assert height <= (window or (0, 10_000))[1]  # the docks never make the window taller

    # The grid: each image inside its cell, clear of the title above, the scale bar below and
    # the colour bar at the right (the camera is what the plan says).
    canvas = tuple(viewer.canvas.size)
    shown = [layer for layer in viewer.layers if layer.visible]
    low = np.min([x.extent.world[0] - x.extent.step / 2 for x in shown], axis=0)[1:]  # voxel edges
    high = np.max([x.extent.world[1] + x.extent.step / 2 for x in shown], axis=0)[1:]
    extent = np.stack([low, high])
    longest = max(len(x.name) for x in shown)
    plan = plan_cells(len(shown), canvas, tuple(extent[1] - extent[0]), longest)
    assert tuple(grid(viewer).shape) == plan.shape
    assert camera(viewer).zoom == pytest.approx(plan.zoom)
    ch, cw = plan.cell_hw
    image_h, image_w = (extent[1] - extent[0]) * plan.zoom
    bands = plan.bands
    assert image_h <= ch - bands["top"] - bands["bottom"] + 1e-6
    assert image_w <= cw - bands["left"] - bands["right"] + 1e-6
    assert plan.colorbar_hw[0] <= ch - bands["top"] - 10  # below the title
    for layer in shown:  # a name too long for its cell shows its end ("... SR mni-x2-iso-gan")
        fits = len(layer.name) <= plan.title_chars
        assert str(layer.name_overlay.position) == ("top_left" if fits else "top_right")
    assert viewer.canvas.overlays.scale_bar.length * plan.zoom <= 0.4 * cw


def test_cells_keep_room_for_titles_colour_bars_and_scale_bars():
    # napari's default window (canvas about 558 x 344) and 1280 x 800 (about 728 x 497).
    for canvas in [(558, 344), (728, 497), (400, 1200)]:
        plan = plan_cells(8, canvas, (233.0, 197.0), longest_title=38)
        rows, cols = plan.shape
        assert rows * cols >= 8 and (rows - 1) * cols < 8
        ch, cw = plan.cell_hw
        assert rows * ch + (rows - 1) * 10 == pytest.approx(canvas[0])
        bands = plan.bands
        free = (ch - bands["top"] - bands["bottom"], cw - bands["left"] - bands["right"])
        assert 233 * plan.zoom <= free[0] + 1e-6 and 197 * plan.zoom <= free[1] + 1e-6
        assert plan.title_pt >= 6


@pytest.mark.parametrize("name", ["load", "super_resolve", "selfsr", "train"])
def test_every_dock_is_as_wide_as_its_styled_content(make_napari_viewer, name):
    """napari's style sheet (applied after a widget is built) widens fonts and padding: shown in
    a narrowed dock, no widget is cut at its right edge."""
    import importlib

    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication, QScrollArea, QWidget

    viewer = make_napari_viewer(show=True)
    module = importlib.import_module(f"napari_mrisr._widgets.{name}")
    cls = next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, QWidget)
               and v.__module__ == module.__name__)  # fmt: skip
    widget = cls(viewer)
    dock = viewer.window.add_dock_widget(widget, name=name)
    dock.parentWidget().resizeDocks([dock], [1], Qt.Orientation.Horizontal)  # as narrow as it goes
    QApplication.processEvents()
    area = widget.findChild(QScrollArea)
    assert area.widget().minimumSizeHint().width() <= area.viewport().width()


def test_demo_screenshot_closes_napari_toasts_that_would_cover_the_grid(make_napari_viewer):
    # Under Xvfb no window is ever active, so napari's toasts (its PyQt5 deprecation warning on
    # every start) never fade, and `napari-mrisr demo --screenshot` saved one over the grid.
    from napari._qt.dialogs.qt_notification import NapariQtNotification
    from napari.utils.notifications import show_warning
    from qtpy.QtWidgets import QApplication

    from napari_mrisr.cli.demo import close_notifications

    make_napari_viewer(show=True)
    show_warning("napari support for the PyQt5 backend is deprecated")
    QApplication.processEvents()
    toasts = [toast for toast in NapariQtNotification._instances if toast.isVisible()]
    assert toasts
    close_notifications()
    QApplication.processEvents()
    assert not any(toast.isVisible() for toast in toasts)


# -- which layers are cells: the comparison's, never another dock's ----------------------------
@pytest.fixture
def tiny_selfsr_budget(monkeypatch):
    from napari_mrisr.selfsr.train import BUDGETS, Budget, BudgetName

    tiny = Budget(features=4, num_blocks=1, patch=16, batch=4, steps=6, lr=1e-3)
    monkeypatch.setitem(BUDGETS, BudgetName.FAST, tiny)
    return tiny


def legend_cells(text: str) -> list[str]:
    """The cells the Compare dock's legend lists, row by row."""
    lines = text.split("\n")
    rows = lines[1 : 1 + next(i for i, line in enumerate(lines[1:] + [""]) if " · " not in line)]
    return [name for row in rows for name in row.split(" · ")]


def test_other_docks_layers_never_enter_the_grid_and_come_back_after_it(
    make_napari_viewer, qtbot, tiny_selfsr_budget, monkeypatch
):
    from napari_mrisr._widgets.selfsr import SelfSRWidget

    viewer = make_napari_viewer()
    add_family(viewer)
    widget, _ = compare(viewer, qtbot)
    cells = list(reversed([layer for layer in viewer.layers if layer.visible]))
    names = ["LR", "SR", "cubic", "ground truth", "|SR - GT|", "|cubic - GT|", "SR - cubic"]
    assert legend_cells(widget.status.value)[:7] == names and len(cells) == 8
    shape = tuple(grid(viewer).shape)

    # A scan opened while the grid is on, then super-resolved by the Self-supervised SR dock:
    # its live preview, result and disagreement map are no cells.
    scan = viewer.add_layer(
        Layer.create(
            *layer_data(
                Volume(head_phantom((20, 22, 8)), oblique_affine(spacing=(1, 1, 3)), "t2 axial")
            )
        )
    )
    assert not scan.visible  # hidden: it would have taken the first cell
    selfsr = SelfSRWidget(viewer)
    viewer.window.add_dock_widget(selfsr, name="Self-supervised SR")
    selfsr.input.value = scan
    qtbot.waitUntil(lambda: selfsr.state.ready, timeout=TIMEOUT_MS)
    monkeypatch.setattr("napari_mrisr.selfsr.train.PREVIEWS", 100)  # a preview every step
    seen = []  # the grid's cells whenever a layer arrives
    viewer.layers.events.inserted.connect(
        lambda e: seen.append([x for x in reversed(viewer.layers) if x.visible])
    )
    selfsr.run_button.native.click()
    qtbot.waitUntil(lambda: selfsr.worker is None, timeout=TIMEOUT_MS)
    sr, disagreement = viewer.layers[-2:]
    assert (
        sr.name == "t2 axial SR self-supervised" and disagreement.name == "t2 axial SR disagreement"
    )
    assert len(seen) >= 3  # the preview, the result, its disagreement map
    assert all(shown == cells for shown in seen)
    assert [x for x in reversed(viewer.layers) if x.visible] == cells
    assert tuple(grid(viewer).shape) == shape
    # the legend still says which cell is which (and napari drew the same cells)
    widget.grid_view.refresh()
    assert legend_cells(widget.status.value)[:7] == names
    assert all(grid(viewer).position(viewer.layers.index(x), viewer.layers) == (-1, -1)
               for x in (scan, sr, disagreement))  # fmt: skip

    # The grid off: what it hid comes back (the disagreement map was added hidden, and stays so).
    grid(viewer).enabled = False
    assert scan.visible and sr.visible and not disagreement.visible
    assert all(layer.visible for layer in cells)
    grid(viewer).enabled = True  # on again: the comparison's cells only
    assert not scan.visible and not sr.visible
    assert [x for x in reversed(viewer.layers) if x.visible] == cells


# -- the view: error maps one click away, a zoom on detail -----------------------------------
def test_error_maps_box_turns_the_grid_from_four_images_to_eight_cells(make_napari_viewer, qtbot):
    from napari_mrisr._widgets.compare import CompareWidget

    viewer = make_napari_viewer()
    add_family(viewer)
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Compare")
    widget.error_maps.value = False
    widget.compare_button.native.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    visible = [x.name for x in reversed(viewer.layers) if x.visible]
    assert visible == ["lr", "sr", "cubic baseline", "gt"]
    assert legend_cells(widget.status.value) == ["LR", "SR", "cubic", "ground truth"]
    rows, cols = grid(viewer).shape
    assert rows * cols >= 4 and (rows - 1) * cols < 4

    widget.error_maps.native.click()  # one click: the 8 cells, no need to compare again
    assert widget.error_maps.value and widget.worker is None
    assert len([x for x in viewer.layers if x.visible]) == 8
    assert legend_cells(widget.status.value)[4:7] == ["|SR - GT|", "|cubic - GT|", "SR - cubic"]
    widget.error_maps.native.click()
    viewer.dims.ndisplay = 3
    assert [x.name for x in reversed(viewer.layers) if x.visible] == visible
    assert "hidden" not in widget.status.value  # no signed map was hidden: none was shown
    widget.error_maps.value = True  # in 3D: the error maps, not the signed ones
    assert viewer.layers["|SR - GT|"].visible and not viewer.layers["SR - cubic"].visible
    viewer.dims.ndisplay = 2
    assert viewer.layers["SR - cubic"].visible and len([x for x in viewer.layers if x.visible]) == 8


def test_zoom_on_detail_shows_the_slices_most_detailed_part_windowed(make_napari_viewer, qtbot):
    from napari_mrisr._widgets.compare import CompareWidget
    from napari_mrisr._widgets.compare_detail import PX_PER_VOXEL

    viewer = make_napari_viewer()
    gt = Volume(head_phantom((96, 112, 16)), np.diag([1.0, 1.0, 2.0, 1.0]), "gt")
    lr = simulate_lr(gt, (2, 2, 1), method="gaussian")
    lr.name = "lr"
    sr = upsample(lr, (2, 2, 1), order="cubic")
    sr.name = "sr"
    degradation = {"method": "gaussian", "factors": [2, 2, 1], "noise": 0.0}
    for volume, meta in [(gt, {}), (lr, {"degradation": degradation})]:
        viewer.add_layer(Layer.create(*layer_data(volume, metadata=meta)))
    meta = {"model": "m", "input": "lr", "ground_truth": "gt", "degradation": degradation}
    viewer.add_layer(Layer.create(*layer_data(sr, metadata=meta)))
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Compare")
    widget.error_maps.value = False
    widget.compare_button.native.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    images = [viewer.layers[name] for name in ("lr", "sr", "cubic baseline", "gt")]
    whole_zoom, whole_limits = camera(viewer).zoom, [tuple(x.contrast_limits) for x in images]
    assert whole_zoom < 0.9 * PX_PER_VOXEL  # the whole slice: fewer pixels a voxel

    widget.zoom_detail.native.click()
    view = widget.grid_view.detail.view
    assert view is not None and camera(viewer).zoom == pytest.approx(view.zoom)
    assert camera(viewer).zoom == pytest.approx(PX_PER_VOXEL)  # 1 mm voxels
    low, high = viewer.layers["gt"].extent.world[:, list(viewer.dims.displayed)]  # mm
    assert np.all(low <= view.centre) and np.all(np.asarray(view.centre) <= high)
    # the same window for the four images: the detail's intensities (and back when unticked)
    assert {tuple(x.contrast_limits) for x in images} == {view.limits}
    assert "most detailed" in widget.status.value
    widget.zoom_detail.native.click()
    assert camera(viewer).zoom == pytest.approx(whole_zoom)
    assert [tuple(x.contrast_limits) for x in images] == whole_limits
    assert "most detailed" not in widget.status.value


def test_most_detailed_box_finds_the_folds_not_the_edge_of_the_head():
    from napari_mrisr._widgets.compare_detail import most_detailed_box

    yy, xx = np.mgrid[:160, :160]
    image = np.where((yy - 80) ** 2 + (xx - 80) ** 2 < 70**2, 100.0, 0.0)  # a sharp-edged head
    folds = (yy // 3 + xx // 3) % 2 == 0  # fine detail, 3-pixel stripes
    patch = (slice(90, 120), slice(40, 70))
    image[patch] += 30 * folds[patch]
    row, col = most_detailed_box(image, (32, 32))
    assert 90 <= row <= 120 and 40 <= col <= 70
    assert most_detailed_box(image, (400, 20))[0] == pytest.approx(79.5)  # the box's axis: centred
    assert most_detailed_box(np.zeros((10, 12)), (4, 4)) == (4.5, 5.5)  # nothing to see


def test_demo_window_gives_the_canvas_the_most_width(make_napari_viewer, qtbot):
    """napari's default window, our four docks and napari's two as tabs of one column: the
    canvas is the widest thing on screen, the Compare dock one tab."""
    from qtpy.QtCore import QPoint
    from qtpy.QtWidgets import QApplication

    from napari_mrisr._widgets.compare import CompareWidget
    from napari_mrisr._widgets.load import LoadWidget
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget
    from napari_mrisr._widgets.train import TrainWidget
    from napari_mrisr.cli.demo import arrange_window

    viewer = make_napari_viewer(show=True)
    hint = viewer.window._qt_window.layout().sizeHint()
    add_family(viewer, long_names=True)
    classes = [LoadWidget, SuperResolveWidget, TrainWidget, CompareWidget]
    docks = [
        viewer.window.add_dock_widget(cls(viewer), name=cls.__name__, area="right", tabify=True)
        for cls in classes
    ]  # as the demo opens them
    qtbot.wait(300)  # word-wrapped labels settle: the docks narrow
    arrange_window(viewer, docks, (hint.width(), hint.height()))
    docks[-1].raise_()
    QApplication.processEvents()
    window = viewer.window._qt_window
    assert (window.width(), window.height()) == (hint.width(), hint.height())
    qt_viewer = viewer.window._qt_viewer
    tabs = set(window.tabifiedDockWidgets(docks[-1]))  # one column: one dock at a time
    assert tabs == {*docks[:-1], qt_viewer.dockLayerList, qt_viewer.dockLayerControls}
    column_left = docks[-1].mapTo(window, QPoint(0, 0)).x()
    _, canvas_w = viewer.canvas.size
    assert canvas_w >= column_left - 20  # no dock left of the canvas
    assert canvas_w > window.width() / 2 and canvas_w > docks[-1].width()
