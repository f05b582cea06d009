"""Smoke tests for the model benchmarks: they run on the tiny preset and print their figures."""

from __future__ import annotations

import pytest

from hwlib import bench


def test_bandwidth_is_a_plausible_rate():
    assert 1e8 < bench._bandwidth(mb=32, repeats=1) < 1e13  # bytes/s: 0.1 GB/s to 10 TB/s


def test_generate_and_train_step_print_ratios_and_the_limit(capsys):
    pytest.importorskip("transformers")
    bench.bench_generate(["--preset", "tiny", "--new-tokens", "4", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "ratio hwlib " in out and "ratio hwlib bf16 " in out and "target >= 2.0x" in out
    assert "same greedy continuation: True" in out and "MB of float32 weights per token" in out
    bench.bench_train_step(["--preset", "tiny", "--seq-len", "8", "--batch", "2", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "ratio hwlib " in out and "target >= 1.2x" in out
