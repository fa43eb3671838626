"""Event-loop responsiveness of napari while the Super-resolve widget runs inference.

Opens a viewer on the MNI152 LR x2 sample, saves a randomly initialised generator to a temporary
model folder, clicks Run in the Super-resolve widget and measures the longest stall of the Qt
event loop: a 10 ms ``QTimer`` records when it fires; a stall is the longest interval between
two firings minus 10 ms. Goal: under 100 ms while inference runs (the work is in the worker
thread, the GUI thread only receives one progress event per tile). Adding the finished SR layer
happens in the GUI thread and is reported separately.

    xvfb-run -a python benchmarks/gui_responsiveness.py [--arch edsr3d] [--full] [--device auto] [--gaps]

By default the reference-size edsr3d (64 features, 9 blocks) runs on a GPU; on a CPU a
smaller edsr3d (32 features, 4 blocks) keeps the run near a minute on 2 cores (``--full``
forces the reference size).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TICK_MS = 10
GOAL_MS = 100.0


def longest_stall_ms(ticks: list[float], start: float, end: float) -> tuple[float, int]:
    """Longest gap between timer firings inside [start, end], minus the tick, and the tick count."""
    inside = np.array([t for t in ticks if start <= t <= end])
    # The gaps around the window's edges count too: the loop was blocked across them.
    edges = np.concatenate([[start], inside, [end]])
    return float(np.diff(edges).max() * 1000 - TICK_MS), int(inside.size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="edsr3d")
    parser.add_argument("--full", action="store_true", help="reference size even on a CPU")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tile", type=int, default=0, help="tile edge in LR voxels (0 = auto)")
    parser.add_argument("--gaps", action="store_true", help="list every gap over 40 ms and the tiles")
    args = parser.parse_args()

    import torch

    from napari_mrisr.engine.devices import pick_device

    device = pick_device(args.device)
    full = args.full or device.type != "cpu"
    # Only edsr3d has a smaller configuration here; other architectures run at their defaults.
    options = {"features": 32, "num_blocks": 4} if args.arch == "edsr3d" and not full else {}

    models = Path(tempfile.mkdtemp(prefix="mrisr-bench-models-"))
    os.environ["NAPARI_MRISR_MODELS"] = str(models)

    import napari
    from napari.layers import Layer
    from qtpy.QtCore import QEventLoop, Qt, QTimer

    from napari_mrisr._napari.layers import layer_data
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget
    from napari_mrisr.models import build_model
    from napari_mrisr.volume.sample import mni152_lr_x2
    from napari_mrisr.zoo.model_file import save_model

    torch.manual_seed(0)
    model = build_model(args.arch, 2, **options)
    params = sum(p.numel() for p in model.parameters())
    save_model(model, models / "bench.safetensors")

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1400, 900)
    lr = mni152_lr_x2()
    degradation = {"method": "kspace", "factors": [2, 2, 2], "noise": 0.0}
    layer = viewer.add_layer(Layer.create(*layer_data(lr, metadata={"degradation": degradation})))
    widget = SuperResolveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Super-resolve")
    widget.refresh_models()
    widget.input.value = layer
    widget.model.value = next(c for c in widget.model.choices if getattr(c, "name", None) == "bench")
    widget.device.value = args.device
    widget.tile.value = args.tile

    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    loop = QEventLoop()

    def spin(seconds: float) -> None:
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    spin(2.0)  # let the window show and draw the LR layer
    timer.start()
    spin(1.0)
    idle_start = ticks[0]

    marks: dict[str, float] = {}
    add_result = widget._add_result

    def timed_add(*a, **k):  # the GUI-thread part at the end: adding the SR layer
        marks["add_start"] = time.perf_counter()
        add_result(*a, **k)
        marks["add_end"] = time.perf_counter()

    widget._add_result = timed_add
    tiles = [0]
    marks["click"] = time.perf_counter()
    widget.run_button.native.click()
    worker = widget.worker
    worker.yielded.connect(lambda event: tiles.__setitem__(0, max(tiles[0], event.total)))
    yields: list[float] = []
    worker.yielded.connect(lambda _e: yields.append(time.perf_counter()))
    worker.finished.connect(loop.quit)
    worker.errored.connect(lambda exc: print(f"error: {exc}", file=sys.stderr))
    loop.exec()
    spin(2.0)  # the first draws of the new layer
    marks["after"] = time.perf_counter()
    timer.stop()

    if "add_start" not in marks:
        print("the run did not finish", file=sys.stderr)
        return 1
    idle_stall, _ = longest_stall_ms(ticks, idle_start, marks["click"])
    run_stall, count = longest_stall_ms(ticks, marks["click"], marks["add_start"])
    after_stall, _ = longest_stall_ms(ticks, marks["add_end"], marks["after"])
    run_s = marks["add_start"] - marks["click"]
    size = "reference size" if not options else ", ".join(f"{k}={v}" for k, v in options.items())
    print(f"model: {args.arch} x2 ({size}, {params / 1e6:.2f} M parameters, random weights)")
    print(f"device: {device}, torch threads: {torch.get_num_threads()}, CPU cores: {os.cpu_count()}")
    print(f"input: MNI152 LR x2 {lr.shape} -> {tuple(2 * n for n in lr.shape)}, {tiles[0]} tiles")
    rate = count / run_s
    print(f"inference: {run_s:.1f} s, {count} timer ticks ({rate:.0f}/s, ideal {1000 / TICK_MS:.0f}/s)")
    print(f"idle event-loop stall before the run: {idle_stall:.0f} ms")
    print(
        f"longest event-loop stall: {run_stall:.0f} ms (goal < {GOAL_MS:.0f} ms), "
        f"ratio {run_stall / GOAL_MS:.2f}"
    )
    print(f"adding the SR layer (GUI thread): {1000 * (marks['add_end'] - marks['add_start']):.0f} ms")
    print(f"longest stall while the new layer is first drawn: {after_stall:.0f} ms")
    if args.gaps:
        t = np.array(ticks)
        gaps = np.diff(t)
        for i in np.flatnonzero(gaps > 0.04):
            print(f"  gap {gaps[i] * 1000:.0f} ms at {t[i] - marks['click']:.2f} s")
        print("  yields at", [f"{y - marks['click']:.2f}" for y in yields])
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
