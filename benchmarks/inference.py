"""Inference engine against a raw whole-volume forward: time, halo overhead, memory, seams.

On the built-in sample's LR x2 (98 x 116 x 94 -> 196 x 232 x 188), for the bundled x2 model
(default) or untrained architectures at their default size (``--arch``), each measurement in its
own process (so peak memory is its own):

- engine: ``super_resolve`` cold (the process's first run: probes, kernel set-up) and warm
  (best of ``--repeats`` runs after it), with the tile plan it picked and its halo overhead
  (voxels computed / voxels output), and the achieved conv FLOP rate over a plain Conv3d's;
- raw: one forward pass of the whole volume, warm (best of ``--repeats`` after a warm-up): the
  floor the engine is held against (raw / engine time: 1 is the floor, the goal on a GPU >= 0.7);
- peak resident memory of each (CPU) or peak CUDA memory;
- against fp32 whole: the engine's output against the fp32 raw whole-volume output, max
  |difference| / data range: in fp32 the seams, in bf16 the precision.

Each runs in fp32 and, where the device computes bfloat16 natively (a GPU; a CPU with
AVX512-BF16 or AMX), again in bf16 autocast, the engine's default there.

``--memory`` adds the peak resident memory of a 320^3 output (160^3 input) with the x2 model,
which tiling keeps independent of the volume size (minutes on 2 CPU cores).

``--cube`` adds the warm engine time of a 256^3 output (128^3 input) with edsr3d 64 x 9.

    python benchmarks/inference.py [--device cpu|cuda] [--arch edsr3d ...] [--repeats 2] [--memory] [--cube]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import describe_machine

ARCHITECTURES = ["edsr3d", "srgan3d", "rrdb3d", "dcsrn", "srgan2d"]
BUNDLED = "mni-x2-iso"


def load(spec: str, device: torch.device) -> torch.nn.Module:
    """The bundled model ``spec``, or architecture ``spec`` at its default size (fixed weights),
    on ``device`` in the layout the engine runs (so it runs it as it is, without a copy)."""
    from napari_mrisr.models import build_model, to_channels_last
    from napari_mrisr.zoo.model_file import load_model

    if spec in ARCHITECTURES:
        torch.manual_seed(0)
        model = build_model(spec, (2, 2, 1) if spec == "srgan2d" else (2, 2, 2))
    else:
        model = load_model(spec)
    model = model.eval().to(device)
    return to_channels_last(model) if device.type == "cpu" else model


def conv_flops(model: torch.nn.Module) -> tuple[list, list]:
    """Hooks adding 2 * MACs of every convolution run to a counter."""
    counter = [0]
    handles = []

    def hook(module, inputs, output):
        kernel = int(np.prod(module.kernel_size))
        counter[0] += 2 * output.numel() * kernel * module.in_channels // module.groups

    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)):
            handles.append(module.register_forward_hook(hook))
    return counter, handles


def peak_conv_rate(device: torch.device, amp: bool) -> float:
    """FLOP/s of a plain 64->64 3x3x3 Conv3d in the layout and precision the engine uses."""
    from napari_mrisr.engine.precision import autocast

    conv = torch.nn.Conv3d(64, 64, 3, padding=1).to(device).eval()
    x = torch.randn(1, 64, 48, 48, 48, device=device)
    if device.type == "cpu":
        conv = conv.to(memory_format=torch.channels_last_3d)
        x = x.to(memory_format=torch.channels_last_3d)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        x = torch.randn(4, 64, 64, 64, 64, device=device)
    best = 0.0
    with torch.inference_mode(), autocast(device, amp):
        for _ in range(4):
            _sync(device)
            start = time.perf_counter()
            y = conv(x)
            _sync(device)
            best = max(best, 2 * y.numel() * 64 * 27 / (time.perf_counter() - start))
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_memory(device: torch.device) -> float:
    """GiB: peak CUDA memory on a GPU, else the process's peak resident memory."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def raw(spec: str, device_name: str, repeats: int, out: str, amp: bool) -> dict:
    """Warm time of one forward pass of the whole sample (bf16 autocast with ``amp`` where
    native); its output is saved to ``out``."""
    from napari_mrisr.engine.devices import pick_device
    from napari_mrisr.engine.inference import intensity_range
    from napari_mrisr.engine.precision import autocast
    from napari_mrisr.volume import sample

    device = pick_device(device_name)
    model = load(spec, device)
    lr = sample.mni152_lr_x2()
    low, high = intensity_range(lr.data, getattr(model, "meta", {}).get("normalization"))
    x = torch.from_numpy((lr.data - low) / (high - low))[None, None].to(device)
    if device.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last_3d)
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        _sync(device)
        start = time.perf_counter()
        with torch.inference_mode(), autocast(device, amp):
            y = model(x)
        _sync(device)
        times.append(time.perf_counter() - start)
    np.save(out, y[0, 0].float().cpu().numpy() * (high - low) + low)
    return {
        "raw_first_s": times[0],
        "raw_s": min(times[1:]),
        "raw_memory_GiB": _peak_memory(device),
    }


def engine(spec: str, device_name: str, repeats: int, whole: str, amp: bool) -> dict:
    """Cold and warm engine times, the tile plan, memory and the output against ``whole``
    (the fp32 raw forward's), in fp32 or (``amp``) bf16 where native."""
    from napari_mrisr.engine.devices import pick_device
    from napari_mrisr.engine.inference import plan_tiles, super_resolve
    from napari_mrisr.engine.precision import autocast
    from napari_mrisr.volume import sample

    device = pick_device(device_name)
    model = load(spec, device)
    lr = sample.mni152_lr_x2()
    start = time.perf_counter()
    sr = super_resolve(lr, model, device=device, amp=amp)
    cold = time.perf_counter() - start
    counter, handles = conv_flops(model)
    times = []
    for _ in range(repeats):
        counter[0] = 0
        start = time.perf_counter()
        sr = super_resolve(lr, model, device=device, amp=amp)
        times.append(time.perf_counter() - start)
    for handle in handles:
        handle.remove()
    memory = _peak_memory(device)
    with autocast(device, amp):
        plan = plan_tiles(lr.shape, model, device)  # the plan the engine made (probes are cached)
    reference = np.load(whole)
    result = {
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "cold_s": cold,
        "warm_s": min(times),
        "tiles": len(plan.boxes()),
        "core": "x".join(map(str, plan.core)),
        "overlap": plan.overlap,
        "halo_overhead": plan.overhead,
        "memory_GiB": memory,
        "gflops_per_s": counter[0] / min(times) / 1e9,
        "peak_gflops_per_s": peak_conv_rate(device, amp) / 1e9,
        "vs_fp32": float(np.abs(sr.data - reference).max() / np.ptp(reference)),
    }
    return result


def memory_320(device_name: str) -> dict:
    """Peak memory while producing a 320^3 output from a 160^3 input with the x2 model."""
    from napari_mrisr.engine.inference import iter_super_resolve
    from napari_mrisr.progress import run_to_end
    from napari_mrisr.volume.base import Volume

    device = torch.device(device_name)
    volume = Volume(np.random.default_rng(0).random((160, 160, 160), dtype=np.float32), np.eye(4))
    start = time.perf_counter()
    tiles = []
    sr = run_to_end(iter_super_resolve(volume, load(BUNDLED, device), device=device), tiles.append)
    return {
        "output": "x".join(map(str, sr.shape)),
        "tiles": len(tiles) - 1,  # the first event announces the count
        "seconds": time.perf_counter() - start,
        "peak_GiB": _peak_memory(device),
    }


def cube_256(device_name: str, repeats: int) -> dict:
    """Warm engine time of a 256^3 output (128^3 input) with edsr3d at its reference size
    (64 features, 9 blocks; fixed random weights), in the engine's default precision."""
    from napari_mrisr.engine.inference import super_resolve
    from napari_mrisr.volume.base import Volume

    device = torch.device(device_name)
    model = load("edsr3d", device)
    volume = Volume(np.random.default_rng(0).random((128, 128, 128), dtype=np.float32), np.eye(4))
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        start = time.perf_counter()
        super_resolve(volume, model, device=device)  # bf16 where native, as the GUI runs it
        times.append(time.perf_counter() - start)
    return {"cold_s": times[0], "warm_s": min(times[1:])}


def seconds(s: float) -> str:
    """Times from tens of milliseconds (GPU) to minutes (CPU), with 3 significant digits."""
    return f"{s:.3g}"


def in_subprocess(function: str, *args) -> dict:
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks'); import inference as b; "
        f"print(json.dumps(b.{function}(*{args!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{function}{args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--arch", nargs="*", default=[], help=f"untrained architectures too: {ARCHITECTURES}"
    )
    parser.add_argument(
        "--models", nargs="*", default=[BUNDLED], help=f"bundled models to time (default {BUNDLED})"
    )
    parser.add_argument("--repeats", type=int, default=2, help="warm runs; the best is reported")
    parser.add_argument("--memory", action="store_true", help="also the 320^3-output memory run")
    parser.add_argument("--cube", action="store_true", help="also a 256^3 output with edsr3d 64x9")
    args = parser.parse_args()
    print(f"{describe_machine(args.device)}; torch threads {torch.get_num_threads()}")
    print(
        "| model | precision | params (M) | engine cold (s) | engine warm (s) | raw whole (s) "
        "| raw / engine time | tiles (core, halo) | halo overhead | conv GFLOP/s (of Conv3d peak) "
        "| peak mem engine / raw (GiB) | against fp32 whole |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    from napari_mrisr.engine.precision import native_bf16

    precisions = {"fp32": False} | ({"bf16": True} if native_bf16(torch.device(args.device)) else {})
    with tempfile.TemporaryDirectory() as folder:
        for spec in [*args.models, *args.arch]:
            whole = {p: str(Path(folder) / f"{spec}-{p}.npy") for p in precisions}
            for precision, amp in precisions.items():
                w = in_subprocess("raw", spec, args.device, args.repeats, whole[precision], amp)
                r = in_subprocess("engine", spec, args.device, args.repeats, whole["fp32"], amp)
                efficiency = r["gflops_per_s"] / r["peak_gflops_per_s"]
                print(
                    f"| {spec} | {precision} | {r['params_M']:.2f} | {seconds(r['cold_s'])} "
                    f"| {seconds(r['warm_s'])} | {seconds(w['raw_s'])} | {w['raw_s'] / r['warm_s']:.2f} "
                    f"| {r['tiles']} ({r['core']}, {r['overlap']}) | {r['halo_overhead']:.2f} "
                    f"| {r['gflops_per_s']:.0f} ({efficiency:.2f}) "
                    f"| {r['memory_GiB']:.2f} / {w['raw_memory_GiB']:.2f} | {r['vs_fp32']:.1e} |",
                    flush=True,
                )
    if len(precisions) == 1:
        print("bf16: n/a, this device has no native bfloat16, so the engine runs fp32.")
    if args.memory:
        r = in_subprocess("memory_320", args.device)
        print(
            f"\n320^3 output ({r['output']}, {BUNDLED}, {r['tiles']} tiles, {r['seconds']:.0f} s): "
            f"peak memory {r['peak_GiB']:.2f} GiB (target <= 3 GB = 2.79 GiB)"
        )
    if args.cube:
        r = in_subprocess("cube_256", args.device, args.repeats)
        print(
            f"\n256^3 output (128^3 input), edsr3d 64x9, engine: cold {seconds(r['cold_s'])} s, "
            f"warm {seconds(r['warm_s'])} s (GPU goal < 0.3 s)"
        )


if __name__ == "__main__":
    main()
