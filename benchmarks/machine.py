"""One line that says where a figure was measured: date, CPU or GPU, its vector unit, torch."""

from __future__ import annotations

import datetime
import os
import platform


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine(device: str = "cpu") -> str:
    """E.g. '2026-12-07, 2 cores of AMD EPYC (AVX2, no native bf16), torch 2.13.0+cpu'."""
    import torch

    from napari_mrisr.engine.precision import native_bf16

    today = datetime.date.today().isoformat()
    if str(device).startswith("cuda"):
        where = torch.cuda.get_device_name(torch.device(device))
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        bf16 = "native bf16" if native_bf16(torch.device("cpu")) else "no native bf16"
        where = f"{cores} cores of {_cpu_name()} ({torch.backends.cpu.get_cpu_capability()}, {bf16})"
    return f"{today}, {where}, torch {torch.__version__}"


if __name__ == "__main__":
    print(describe_machine())
