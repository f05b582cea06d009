"""The prepared GPU check (`python -m hwlib.bench gpu`): its CPU quick mode end to end, with the
modules a stock CUDA image lacks blocked, and its guards (a failing part, out of memory, a
compiler that fails, the time budget) one at a time."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest
import torch

from hwlib import bench_gpu
from hwlib.model import Llama, LlamaConfig
from hwlib.utils import REPO_ROOT

# Not in the stock CUDA PyTorch image the GPU machine runs (torch, numpy, sentencepiece,
# matplotlib, tqdm, transformers, lxml are).
NOT_IN_IMAGE = ("warcio", "bs4", "langid", "ipywidgets", "datatrove", "resiliparse", "hypothesis")


def _blocked_env(tmp_path) -> dict:
    """An environment whose Python fails to import NOT_IN_IMAGE (a sitecustomize shim that the
    torchrun worker inherits through PYTHONPATH too)."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        f"import sys\nfor name in {NOT_IN_IMAGE!r}:\n    sys.modules[name] = None\n")
    path = os.pathsep.join([str(shim), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def test_quick_cpu_run_without_the_modules_a_cuda_image_lacks(tmp_path):
    env = _blocked_env(tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import bs4"], env=env, capture_output=True)
    assert probe.returncode != 0  # the shim works: those imports fail
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "hwlib.bench", "gpu", "--device", "cpu",
                          "--quick", "--out", str(out)], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=170)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    report = json.loads((out / "gpu-report.json").read_text())
    parts = report["parts"]
    assert {n: p["status"] for n, p in parts.items()} == dict.fromkeys(bench_gpu.BUDGETS, "ok")
    results = {n: p["result"] for n, p in parts.items()}

    checks = results["correctness"]
    assert len(checks) == 6 and all(c["passed"] for c in checks), checks
    assert all(c["difference"] <= c["tolerance"] for c in checks if "difference" in c)

    for row in results["generation"]:
        assert row["hwlib_tokens_per_s"] > 0 and row["transformers_tokens_per_s"] > 0
        if row["dtype"] == "float32":
            assert row["same_greedy_tokens"]
    assert {(r["dtype"], r["batch"]) for r in results["generation"]} == {
        ("float32", 1), ("float32", 4), ("bfloat16", 1), ("bfloat16", 4)}

    run = results["torchrun"]
    assert run["backend"] == "gloo" and run["all_reduce_ok"] and run["steps"] == 6

    rows = results["throughput"]
    assert rows and all(r["tokens_per_s"] > 0 and r["micro_batch"] >= 1 for r in rows)
    first = [r["variant"] for r in rows if r["model"] == "TinyStories 42M"]
    assert first[:4] == list(bench_gpu.VARIANTS[:4])  # the most wanted model comes first
    skipped = " ".join(s["what"] for s in report["skipped"])
    for spec in bench_gpu._models(quick=True):  # every other one is measured or says why not
        for v in bench_gpu.VARIANTS:
            done = any(r["model"] == spec["name"] and r["variant"] == v for r in rows)
            assert done or f"throughput {spec['name']}" in skipped, (spec["name"], v)

    train = results["train_run"]
    assert train["loss_went_down"] and train["summary"]["steps"] >= 10
    assert all(p["tokens_per_s"] > 0 for p in train["points"])
    assert (out / "train-run-loss.png").stat().st_size > 0

    md = (out / "gpu-report.md").read_text()
    for heading in ("## Correctness", "## Training throughput", "## Training run",
                    "## Generation", "## torchrun", "## Skipped"):
        assert heading in md
    assert "skipped train_run torch.compile: --quick" in res.stdout


def _args(tmp_path, **kw) -> argparse.Namespace:
    base = dict(out=str(tmp_path), quick=True, budget=60.0, compile_backend="aot_eager",
                warmup=1, min_steps=1, max_steps=1, seconds=0.0)
    return argparse.Namespace(**{**base, **kw})


def test_a_failing_part_is_recorded_and_the_next_one_runs(tmp_path):
    check = bench_gpu.Check(_args(tmp_path), torch.device("cpu"))

    def broken(deadline):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    assert check.run("correctness", broken) is None
    assert check.run("data", lambda deadline: {"vocab": 512}) == {"vocab": 512}
    report = json.loads((tmp_path / "gpu-report.json").read_text())
    assert report["parts"]["correctness"]["status"] == "failed"
    assert "illegal memory access" in report["parts"]["correctness"]["error"]
    assert report["parts"]["data"]["status"] == "ok"
    assert "| correctness | failed: RuntimeError" in (tmp_path / "gpu-report.md").read_text()


def test_a_part_that_would_overrun_the_whole_budget_is_skipped_with_the_reason(tmp_path):
    check = bench_gpu.Check(_args(tmp_path, budget=1.0), torch.device("cpu"))
    assert check.run("train_run", lambda deadline: 1 / 0, minimum=60) is None
    assert check.report["parts"]["train_run"]["status"] == "skipped"
    assert "needs 60" in check.report["skipped"][0]["why"]


def test_out_of_memory_halves_the_micro_batch(tmp_path):
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny"))

    def net(x, y):  # a GPU with room for two sequences
        if x.size(0) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return model(x, y)

    spec = {"mc": model.config, "block": 16}
    row = bench_gpu._measure(net, model, "tf32+bf16", spec, 8, torch.device("cpu"), "bfloat16",
                             _args(tmp_path))
    assert row["micro_batch"] == 2 and row["tokens_per_s"] > 0


def test_a_failing_compiler_skips_the_compiled_variants_and_measures_the_rest(tmp_path,
                                                                             monkeypatch):
    def failing_backend(gm, example_inputs):
        raise RuntimeError("inductor: no C++ compiler")

    models = bench_gpu._models(quick=True)[:1]
    monkeypatch.setattr(bench_gpu, "_models", lambda quick: models)
    skipped = []
    args = _args(tmp_path, compile_backend=failing_backend)
    rows = bench_gpu.throughput(torch.device("cpu"), args, float("inf"),
                                lambda what, why: skipped.append((what, why)))
    assert [r["variant"] for r in rows] == ["fp32", "tf32", "tf32+bf16"]
    compiled = [v for v in bench_gpu.VARIANTS if "compile" in v]
    assert [w for w, _ in skipped] == [f"throughput {models[0]['name']} {v}" for v in compiled]
    assert all("no C++ compiler" in why for _, why in skipped)


def test_the_kv_cache_check_catches_a_cache_that_forgets_the_first_token():
    from hwlib import bench_gpu_parts as gp

    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny")).eval()
    prompt = torch.randint(0, model.config.vocab_size, (2, 8))
    assert all(c["passed"] for c in gp._kv_cache(model, prompt, 8))
    hidden = model.hidden

    def forgetful(tokens, caches=None, start_pos=0):  # a bug: position 0 wiped once cached
        if caches is not None and start_pos > 0:
            for cache in caches:
                cache.k[:, :, 0], cache.v[:, :, 0] = 0, 0
        return hidden(tokens, caches, start_pos)

    model.hidden = forgetful
    logits = gp._kv_cache(model, prompt, 8)[1]
    assert not logits["passed"] and logits["difference"] > 100 * logits["tolerance"]


def test_bad_flags_end_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"^error: --parts: unknown warmup; choose from data,"):
        bench_gpu.main(["--device", "cpu", "--parts", "data,warmup", "--out", str(tmp_path)])
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SystemExit, match=r"^error: --out .*file/out: Not a directory"):
        bench_gpu.main(["--device", "cpu", "--out", str(tmp_path / "file" / "out")])
