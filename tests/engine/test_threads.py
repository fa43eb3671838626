"""Threads follow the cores the process may use: its affinity and its cgroup CPU quota."""

from __future__ import annotations

import os

import pytest
import torch

from napari_mrisr.engine.threads import available_cores, use_threads


def write_cgroup(root, v2: str | None = None, v1: tuple[int, int] | None = None):
    if v2 is not None:
        (root / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (root / "cpu").mkdir()
        (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (root / "cpu" / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    return root


def test_cores_are_the_affinity_mask_without_a_quota(tmp_path):
    assert available_cores(tmp_path) == len(os.sched_getaffinity(0))
    assert available_cores(write_cgroup(tmp_path, v2="max 100000")) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("v2", "v1", "cap"), [("50000 100000", None, 1), (None, (150000, 100000), 2), (None, (-1, 100000), None)])
def test_a_cgroup_quota_caps_the_cores(tmp_path, v2, v1, cap):
    cores = available_cores(write_cgroup(tmp_path, v2=v2, v1=v1))
    mask = len(os.sched_getaffinity(0))
    assert cores == (mask if cap is None else min(mask, cap))


def test_the_affinity_mask_is_followed(tmp_path):
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert available_cores(tmp_path) == 1
    finally:
        os.sched_setaffinity(0, before)


def test_use_threads_sets_torch_and_refuses_zero():
    before = torch.get_num_threads()
    try:
        assert use_threads(1) == 1 and torch.get_num_threads() == 1
        assert use_threads() == available_cores()
        with pytest.raises(ValueError, match="1 or more"):
            use_threads(0)
    finally:
        torch.set_num_threads(before)


def test_mrisr_takes_threads_and_refuses_zero_in_one_sentence(tmp_path, capsys):
    from napari_mrisr.cli import main

    before = torch.get_num_threads()
    try:
        code = main(["predict", str(tmp_path / "in.nii.gz"), str(tmp_path / "out.nii.gz"), "--threads", "0"])
        assert code == 2
        assert "--threads must be 1 or more, not 0." in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)


class Machine:
    """A fake clock: a step takes ``cost[threads]`` seconds at torch's current thread count."""

    def __init__(self, monkeypatch, cost: dict[int, float]) -> None:
        self.cost, self.now, self.threads = cost, 0.0, 2
        monkeypatch.setattr(torch, "get_num_threads", lambda: self.threads)
        monkeypatch.setattr(torch, "set_num_threads", lambda n: setattr(self, "threads", n))
        monkeypatch.setattr("napari_mrisr.engine.threads.time.perf_counter", lambda: self.now)

    def run(self, tuner, steps: int) -> list[int]:
        """Threads used by each step."""
        used = []
        for _ in range(steps):
            used.append(self.threads)
            self.now += self.cost[self.threads]
            tuner.tick()
        return used


def test_the_tuner_drops_a_thread_while_a_core_is_busy_and_takes_it_back_after(monkeypatch):
    from napari_mrisr.engine.threads import ThreadTuner

    machine = Machine(monkeypatch, {2: 0.13, 1: 0.07})  # a busy loop shares one of two cores
    tuner = ThreadTuner(first=10, every=100, probe=4)
    assert tuner.candidates == [2, 1]
    used = machine.run(tuner, 110)
    assert tuner.chosen == 1 and used[-1] == 1 and used.count(2) < 20  # probes only
    machine.cost = {2: 0.045, 1: 0.07}  # the other job has ended
    used = machine.run(tuner, 120)
    assert tuner.chosen == 2 and used[-1] == 2
    tuner.restore()
    assert machine.threads == 2


def test_the_tuner_keeps_a_count_the_user_chose_and_idles_off_the_cpu(monkeypatch):
    from napari_mrisr.engine.threads import ThreadTuner

    machine = Machine(monkeypatch, {2: 0.13, 1: 0.07})
    assert set(machine.run(ThreadTuner(active=False), 200)) == {2}
    monkeypatch.setattr("napari_mrisr.engine.threads._pinned", False)  # put back after the test
    use_threads(2)  # mrisr --threads 2
    assert set(machine.run(ThreadTuner(), 200)) == {2}
