"""hwlib.utils.choose_threads / set_threads: one rule for CPU threads, overridable, applied."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from hwlib import utils
from hwlib.utils import THREADS_ENV, choose_threads, set_threads


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a machine with `cores` cores and a last-minute load average of `load`."""
    monkeypatch.delenv(THREADS_ENV, raising=False)

    def set_machine(cores: int, load: float, now: float | None = None) -> None:
        monkeypatch.setattr(utils.os, "cpu_count", lambda: cores)
        monkeypatch.setattr(utils.os, "getloadavg", lambda: (load, load, load))
        monkeypatch.setattr(utils, "_busy_cores_now", lambda window: load if now is None else now)

    return set_machine


@pytest.mark.parametrize("cores, load, expected", [
    (2, 0.0, 2), (2, 0.4, 2),            # idle 2-core laptop: both cores
    (2, 0.6, 1), (2, 2.0, 1), (2, 9.0, 1),  # anything else wants a core: one thread
    (8, 1.2, 7), (8, 7.9, 1), (1, 0.0, 1),
])
def test_one_thread_unless_cores_are_idle(machine, cores, load, expected):
    machine(cores, load)
    assert choose_threads() == expected


def test_a_job_that_just_started_counts_before_the_average_shows_it(machine):
    machine(2, load=0.1, now=2.0)  # two busy processes for a few seconds: the average lags
    assert choose_threads() == 1
    machine(2, load=1.5, now=0.1)  # a job that just ended still weighs on the average
    assert choose_threads() == 1
    machine(2, load=0.1, now=0.1)
    assert choose_threads() == 2


def test_busy_cores_now_reads_the_cpu_counters():
    busy = utils._busy_cores_now(0.05)
    if busy is not None:  # Linux
        assert 0.0 <= busy <= (os.cpu_count() or 1)


def test_nothing_to_go_by_means_one_thread(machine, monkeypatch):
    machine(4, 0.0)

    def missing():
        raise OSError("no load average")

    monkeypatch.setattr(utils.os, "getloadavg", missing)
    monkeypatch.setattr(utils, "_busy_cores_now", lambda window: None)
    assert choose_threads() == 1


def test_explicit_count_then_environment_override_the_rule(machine, monkeypatch):
    machine(2, 5.0)
    monkeypatch.setenv(THREADS_ENV, "2")
    assert choose_threads() == 2
    assert choose_threads(3) == 3, "an explicit count (--threads) wins over the environment"
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match=f"{THREADS_ENV}='two'"):
        choose_threads()
    with pytest.raises(ValueError, match="at least 1"):
        choose_threads(0)


def test_set_threads_is_what_torch_uses(machine):
    machine(2, 5.0)
    before = torch.get_num_threads()
    try:
        assert set_threads() == 1 and torch.get_num_threads() == 1
        assert set_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_fresh_process_gets_the_count_and_one_interop_thread():
    code = ("import torch; from hwlib.utils import set_threads; n = set_threads(); "
            "print(n, torch.get_num_threads(), torch.get_num_interop_threads())")
    env = {**os.environ, THREADS_ENV: "2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == ["2", "2", "1"]
