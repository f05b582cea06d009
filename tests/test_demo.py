"""hwlib.demo end to end on the bundled data (a few updates), and hwlib.bench_demo's hog."""

from __future__ import annotations

import json
import os
import time

import pytest
import torch

from hwlib import bench_demo, demo


def test_demo_writes_the_course_sample_files_and_stage_timings(tmp_path, capsys):
    out, timings = tmp_path / "demo", tmp_path / "timings.json"
    before = torch.get_num_threads()
    try:
        demo.main(["--out", str(out), "--steps", "4", "--threads", "1", "--timings", str(timings)])
    finally:
        torch.set_num_threads(before)
    printed = capsys.readouterr().out
    assert "torch CPU threads: 1" in printed
    samples = json.loads((out / "samples.json").read_text())
    for temperature, name in ((0.0, "generated-sentence-temp-0.txt"),
                              (0.5, "generated-sentence-temp-1.txt")):
        text = (out / name).read_text()
        assert text == "\n\n".join(s["text"] for s in samples
                                   if s["temperature"] == temperature) + "\n"
        assert name in printed.split("== artifacts")[1], "listed among the artifacts"
    recorded = json.loads(timings.read_text())
    assert recorded["threads"] == 1
    assert list(recorded["stages"]) == ["1. web data", "2. tokenizer", "3. pretraining",
                                        "4. generation"]
    assert all(s > 0 for s in recorded["stages"].values())


def test_cpu_hog_runs_busy_processes_and_stops_them():
    with bench_demo.cpu_hog(2, max_seconds=60) as children:
        assert len(children) == 2 and all(c.poll() is None for c in children)
    assert all(c.poll() is not None for c in children), "stopped when the block ends"


def test_cpu_hog_is_bounded_by_its_deadline():
    with bench_demo.cpu_hog(1, max_seconds=1) as (child,):
        t0 = time.time()
        child.wait(timeout=30)  # it ends by itself, without the kill at the block's end
        assert time.time() - t0 < 30 and child.returncode == 0


def test_updates_per_s_measures_training(monkeypatch):
    before = torch.get_num_threads()
    try:
        rate = bench_demo.updates_per_s(1, seconds=0.2, preset="tiny", batch=2, block=16)
    finally:
        torch.set_num_threads(before)
    assert rate > 0


def test_quick_threads_table_prints_idle_and_busy_rows_with_load(capsys):
    before = torch.get_num_threads()
    try:
        bench_demo.main(["--quick", "--skip-demo", "--hog", "1"])
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "updates/s" in line and "load average" in line]
    assert any("idle" in r for r in rows) and any("beside a 1-process hog" in r for r in rows)
    assert len(rows) == 2 * len({1, min(2, os.cpu_count() or 1), os.cpu_count() or 1})


def test_a_bad_thread_count_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HWLIB_THREADS", "many")
    with pytest.raises(SystemExit, match="error: HWLIB_THREADS='many'"):
        demo.main(["--out", str(tmp_path)])
    assert not any(tmp_path.iterdir()), "nothing written"
