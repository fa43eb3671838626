"""Inference speed, efficiency and memory of every architecture at its default size.

On the built-in sample's LR x2 (98 x 116 x 94 -> 196 x 232 x 188), for each architecture:
output voxels per second; the achieved convolution FLOP rate (FLOPs of every conv actually
run, halos included, counted by hooks, divided by wall time) divided by a plain Conv3d
micro-benchmark's rate measured in the same process (the machine's practical peak); peak
resident memory (each architecture in its own process) or peak CUDA memory; and the largest
tiled-vs-whole difference on a central 64^3 crop (16-voxel tiles), relative to the data range. Then the peak
resident memory of a 320^3-voxel output (edsr3d, CPU), which tiling keeps independent of
volume size.

    python benchmarks/inference.py [--device cpu|cuda] [--arch edsr3d ...] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

ARCHITECTURES = ["edsr3d", "srgan3d", "rrdb3d", "dcsrn", "srgan2d"]


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


def peak_conv_rate(device: torch.device) -> float:
    """FLOP/s of a plain 64->64 3x3x3 Conv3d in the layout and precision the engine uses."""
    conv = torch.nn.Conv3d(64, 64, 3, padding=1).to(device).eval()
    x = torch.randn(1, 64, 48, 48, 48, device=device)
    from napari_mrisr.inference import _autocast  # the engine's precision, so the ratio is fair

    if device.type == "cpu":
        conv = conv.to(memory_format=torch.channels_last_3d)
        x = x.to(memory_format=torch.channels_last_3d)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        x = torch.randn(4, 64, 64, 64, 64, device=device)
    best = 0.0
    with torch.inference_mode(), _autocast(device, amp=True):
        for _ in range(4):
            _sync(device)
            start = time.perf_counter()
            y = conv(x)
            _sync(device)
            seconds = time.perf_counter() - start
            best = max(best, 2 * y.numel() * 64 * 27 / seconds)
    return best


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(arch: str, device_name: str) -> dict:
    from napari_mrisr import sample
    from napari_mrisr.inference import pick_device, super_resolve
    from napari_mrisr.io import Volume
    from napari_mrisr.models import build_model

    device = pick_device(device_name)
    torch.manual_seed(0)
    model = build_model(arch, (2, 2, 1) if arch == "srgan2d" else (2, 2, 2)).eval()
    lr = sample.mni152_lr_x2()
    peak = peak_conv_rate(device)
    super_resolve(Volume(lr.data[:24, :24, :24], lr.affine), model, device=device)  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    counter, handles = conv_flops(model)
    start = time.perf_counter()
    sr = super_resolve(lr, model, device=device)
    _sync(device)
    seconds = time.perf_counter() - start
    for handle in handles:
        handle.remove()
    # 64^3 so that 16-voxel tiles with a 16-voxel halo (48^3 read) really meet at seams.
    crop = Volume(lr.data[17:81, 26:90, 15:79], lr.affine)
    whole = super_resolve(crop, model, device=device, tile=64)
    tiled = super_resolve(crop, model, device=device, tile=16)
    memory = (
        torch.cuda.max_memory_allocated() / 2**30
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    return {
        "arch": arch,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "seconds": seconds,
        "voxels_per_s": sr.data.size / seconds,
        "gflops_per_s": counter[0] / seconds / 1e9,
        "peak_gflops_per_s": peak / 1e9,
        "ratio": counter[0] / seconds / peak,
        "memory_GiB": memory,
        "tiled_vs_whole": float(np.abs(tiled.data - whole.data).max() / np.ptp(whole.data)),
    }


def memory_320(device_name: str) -> dict:
    """Peak RSS while producing a 320^3 output from a 160^3 input with edsr3d on the CPU."""
    from napari_mrisr.inference import iter_super_resolve
    from napari_mrisr.io import Volume
    from napari_mrisr.models import build_model
    from napari_mrisr.progress import run_to_end

    model = build_model("edsr3d", 2).eval()
    volume = Volume(np.random.default_rng(0).random((160, 160, 160), dtype=np.float32), np.eye(4))
    start = time.perf_counter()
    tiles = []
    sr = run_to_end(iter_super_resolve(volume, model, device=device_name), tiles.append)
    return {
        "output": "x".join(map(str, sr.shape)),
        "tiles": len(tiles),
        "seconds": time.perf_counter() - start,
        "peak_rss_GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def in_subprocess(function: str, *args: str) -> dict:
    code = f"import json, sys; sys.path.insert(0, 'benchmarks'); import inference as b; print(json.dumps(b.{function}(*{args!r})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", nargs="*", default=ARCHITECTURES)
    parser.add_argument("--skip-memory", action="store_true", help="skip the 320^3 memory run")
    args = parser.parse_args()
    print(f"device: {args.device}; torch {torch.__version__}; threads {torch.get_num_threads()}")
    print("| arch | params (M) | time (s) | voxels/s | conv GFLOP/s | Conv3d peak GFLOP/s | ratio | peak mem (GiB) | tiled vs whole |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for arch in args.arch:
        r = in_subprocess("measure", arch, args.device)
        print(
            f"| {r['arch']} | {r['params_M']:.2f} | {r['seconds']:.1f} | {r['voxels_per_s']:.3g} | "
            f"{r['gflops_per_s']:.0f} | {r['peak_gflops_per_s']:.0f} | {r['ratio']:.2f} | "
            f"{r['memory_GiB']:.2f} | {r['tiled_vs_whole']:.1e} |",
            flush=True,
        )
    if not args.skip_memory:
        r = in_subprocess("memory_320", args.device)
        print(
            f"\n320^3 output ({r['output']}, edsr3d, {r['tiles']} tiles, {r['seconds']:.0f} s): "
            f"peak resident memory {r['peak_rss_GiB']:.2f} GiB (target <= 3 GB)"
        )


if __name__ == "__main__":
    main()
