"""The GPU check's correctness and generation parts, their timing helpers, and its report.

Run through `python -m hwlib.bench gpu` (hwlib/bench_gpu.py); see that module for the whole check.
Every comparison states its tolerance beside its measured difference in the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

# The kit's public API used here, in one place.
from hwlib.checkpoint import to_transformers
from hwlib.model import Llama, LlamaConfig
from hwlib.train import parse_config, train
from hwlib.utils import REPO_ROOT

# Tolerances, as max |a - b| / max |b| over the compared logits. fp32 paths differ only in the
# order of float adds (~1e-6 relative); bf16 keeps 8 bits of mantissa (~4e-3 per rounding).
FP32_TOL = 1e-4
BF16_TOL = 3e-2
# bf16 vs fp32 training: each of the first steps' losses within this many nats of fp32's.
LOSS_TOL_NATS = 0.05


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, dtype: str):
    """Mixed precision for `dtype` on CUDA *and* CPU: hwlib.utils.autocast_context is CUDA-only
    (train() runs fp32 on CPU), but `--device cpu` must run the bf16 code paths too."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, dtype))


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 matmuls on or off inside the block; the previous setting comes back afterwards.

    train() switches TF32 on for good, so every part that compares fp32 numbers sets it itself.
    """
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|: one number for how far a tensor is from a reference."""
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def dynamo_counts() -> dict:
    """Graphs compiled and graph breaks so far, from torch._dynamo's counters ({} if moved):
    a model that compiles to one graph per direction runs fastest."""
    try:
        from torch._dynamo.utils import counters

        return {"graphs": counters["stats"]["unique_graphs"],
                "graph_breaks": sum(counters["graph_break"].values())}
    except Exception:  # a private API: its absence costs a figure, not the check
        return {}


def dynamo_delta(before: dict) -> dict:
    """What dynamo_counts() grew by since `before`."""
    return {k: v - before[k] for k, v in dynamo_counts().items() if k in before}


def _check(name: str, diff: float, tol: float, **extra) -> dict:
    ok = diff <= tol
    print(f"  {name}: {'ok' if ok else 'FAILED'} (difference {diff:.2e}, tolerance {tol:.0e})")
    return {"name": name, "passed": ok, "difference": diff, "tolerance": tol, **extra}


# ------------------------------------------------------------------------------- correctness
def correctness(mc: LlamaConfig, batches: list, device: torch.device, bf16: str,
                compile_backend: str, new_tokens: int, record_skip) -> list[dict]:
    """bf16 vs fp32 training losses, compiled vs eager logits, KV cache vs recomputation,
    SDPA vs explicit attention. `batches` are (x, y) pairs of story tokens; `bf16` names the
    half-precision dtype ("bfloat16", or "float16" on GPUs without bf16)."""
    checks = []
    with tf32(False):
        torch.manual_seed(0)
        init = Llama(mc).state_dict()
        runs = {}
        for dtype in ("float32", bf16):  # same init, same batches, same optimizer
            model = Llama(mc).to(device)
            model.load_state_dict(init)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            losses = []
            for x, y in batches:
                with autocast(device, dtype):
                    loss = model(x.to(device), y.to(device))[1]
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses.append(loss.item())
            runs[dtype] = (model, losses)
        model, fp32_losses = runs["float32"]
        half_losses = runs[bf16][1]
        del runs
        diff = max(abs(a - b) for a, b in zip(fp32_losses, half_losses))
        checks.append(_check(f"{bf16} training losses vs float32, first {len(batches)} steps",
                             diff, LOSS_TOL_NATS, float32=fp32_losses, **{bf16: half_losses}))
        # The checks below use these trained weights: fewer near-ties than a random init, so
        # greedy tokens are a fair comparison.
        model.eval()
        x = batches[0][0][:2].to(device)
        with torch.no_grad():
            eager = model(x)[0]
            checks += _sdpa_vs_explicit(model, x, eager, device, bf16)
            try:
                checks.append(_compiled_vs_eager(model, x, eager, compile_backend))
            except Exception as e:  # a compiler failure is a finding, not the end of the part
                record_skip("compiled vs eager logits", f"torch.compile failed: {short_error(e)}")
                checks.append({"name": "compiled vs eager logits", "passed": False,
                               "error": short_error(e)})
        checks += _kv_cache(model, x[:, :16], new_tokens)
    return checks


def _sdpa_vs_explicit(model: Llama, x, eager, device, bf16: str) -> list[dict]:
    explicit = Llama(dataclasses.replace(model.config, attention="explicit")).to(device).eval()
    explicit.load_state_dict(model.state_dict())
    out = [_check("SDPA vs explicit attention, float32 logits", rel_diff(explicit(x)[0], eager),
                  FP32_TOL)]
    with autocast(device, bf16):
        a, b = model(x)[0], explicit(x)[0]
    out.append(_check(f"SDPA vs explicit attention, {bf16} autocast logits", rel_diff(a, b),
                      BF16_TOL))
    return out


def _compiled_vs_eager(model: Llama, x, eager, backend: str) -> dict:
    torch._dynamo.reset()  # a fresh cache: earlier models' compiled code never counts here
    t0, counts = time.perf_counter(), dynamo_counts()
    compiled = torch.compile(model, backend=backend)(x)[0]
    seconds = time.perf_counter() - t0
    counts = dynamo_delta(counts)
    torch._dynamo.reset()
    return _check(f"compiled ({backend}) vs eager logits, float32", rel_diff(compiled, eager),
                  FP32_TOL, compile_seconds=round(seconds, 1), **counts)


def _kv_cache(model: Llama, prompt: torch.Tensor, new_tokens: int) -> list[dict]:
    """Greedy text with the cache equals text recomputed from scratch each step, and the
    cache's logits, one token at a time, equal one full forward pass over the same tokens."""
    cached = model.generate(prompt, new_tokens, 0.0, use_cache=True)
    recomputed = model.generate(prompt, new_tokens, 0.0, use_cache=False)
    same, first, tie = torch.equal(cached, recomputed), None, False
    if not same:  # fine only where the two best tokens were tied to float precision
        first = int((cached != recomputed).any(0).nonzero()[0])
        rows = cached[:, first] != recomputed[:, first]
        with torch.inference_mode():
            logits = model(recomputed[rows, :first])[0][:, -1].float()
        top2 = logits.topk(2, dim=-1).values
        tie = bool((top2[:, 0] - top2[:, 1] <= FP32_TOL * logits.abs().max()).all())
    ok = same or tie
    print(f"  KV-cache greedy text equals recomputation: {'ok' if ok else 'FAILED'} "
          f"({new_tokens} new tokens, batch {prompt.size(0)}"
          f"{'' if same else f'; differs from token {first}, a near-tie: {tie}'})")
    out = [{"name": "KV-cache greedy tokens equal recomputation", "passed": ok,
            "new_tokens": new_tokens, "first_difference_at": first, "near_tie": tie}]
    B, T = cached.shape
    caches = model.decode_caches(B)  # the layout hidden() writes into
    with torch.inference_mode():
        P = prompt.size(1)
        steps = [model.output(model.hidden(cached[:, :P], caches, 0))]
        steps += [model.output(model.hidden(cached[:, t : t + 1], caches, t)) for t in range(P, T)]
        full = model(cached)[0]
    out.append(_check("KV-cache logits (token by token) vs one full forward, float32",
                      rel_diff(torch.cat(steps, 1), full), FP32_TOL))
    return out


def short_error(e: BaseException) -> str:
    """One line for a report: the exception type and the start of its message."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}"


# -------------------------------------------------------------------------------- generation
def generation(preset: str, device: torch.device, dtypes: tuple, batches: tuple,
               prompt_len: int, new_tokens: int, deadline: float, record_skip) -> list[dict]:
    """Greedy KV-cache generation tokens/s, hwlib vs transformers' generate, same weights,
    interleaved best of 2 after a warm-up; stops adding rows at `deadline`."""
    torch.manual_seed(0)
    cpu_model = Llama(LlamaConfig.preset(preset)).eval()
    try:
        hf_cpu = to_transformers(cpu_model)
        hf_cpu.generation_config.eos_token_id = None  # always exactly new_tokens
        hf_cpu.generation_config.pad_token_id = 0
    except Exception as e:  # ImportError when transformers is missing; an API change otherwise
        record_skip("transformers generate", f"no transformers twin: {short_error(e)}")
        hf_cpu = None
    rows = []
    for dtype in dtypes:
        model = cpu_model.to(device, getattr(torch, dtype))
        hf = hf_cpu.to(device, getattr(torch, dtype)) if hf_cpu is not None else None
        for batch in batches:
            if time.perf_counter() > deadline:
                record_skip(f"generation {dtype} batch {batch}", "the part's time budget ran out")
                continue
            g = torch.Generator().manual_seed(batch)
            prompt = torch.randint(0, model.config.vocab_size, (batch, prompt_len), generator=g)
            prompt = prompt.to(device)
            out = {}
            fns = {"hwlib": lambda: out.__setitem__(
                "hwlib", model.generate(prompt, new_tokens, 0.0))}
            if hf is not None:
                mask = torch.ones_like(prompt)
                fns["transformers"] = lambda: out.__setitem__("transformers", hf.generate(
                    prompt, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False))
            best = _best_of(2, fns, device)
            row = {"dtype": dtype, "batch": batch, "prompt_len": prompt_len,
                   "new_tokens": new_tokens}
            for name, seconds in best.items():
                row[f"{name}_tokens_per_s"] = batch * new_tokens / seconds
            if hf is not None:
                row["ratio"] = row["hwlib_tokens_per_s"] / row["transformers_tokens_per_s"]
                row["same_greedy_tokens"] = torch.equal(out["hwlib"], out["transformers"])
            print(f"  generate {dtype} batch {batch}: hwlib {row['hwlib_tokens_per_s']:,.0f} "
                  f"tokens/s" + (f", transformers {row['transformers_tokens_per_s']:,.0f} "
                                 f"({row['ratio']:.2f}x), same tokens: "
                                 f"{row['same_greedy_tokens']}" if hf is not None else ""))
            rows.append(row)
    return rows


def _best_of(repeats: int, fns: dict, device: torch.device) -> dict:
    """Best wall time of each fn after one warm-up call, the fns interleaved round by round."""
    best = dict.fromkeys(fns, float("inf"))
    with torch.inference_mode():
        for fn in fns.values():
            fn()
        for _ in range(repeats):
            for name, fn in fns.items():
                sync(device)
                t0 = time.perf_counter()
                fn()
                sync(device)
                best[name] = min(best[name], time.perf_counter() - t0)
    return best


# -------------------------------------------------------------------------------- torchrun
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Torchrun:
    """One process under torchrun: process group (NCCL/gloo), all_reduce, a DDP step, then
    hwlib.train from its command-line flags under torchrun's environment. Started early in the
    background and read later, so its two interpreters start while the correctness part runs
    (which times nothing)."""

    def __init__(self, data: dict, tmp: Path, device: torch.device):
        flags = ["--option", "pretrain", "--model_config", "tiny", "--data_path", data["folder"],
                 "--tokenized_dir", data["cache"], "--tokenizer", data["tokenizer"],
                 "--block_size", "64", "--batch_size", "8", "--max_steps", "6",
                 "--log_interval", "2", "--out_dir", str(tmp), "--run_name", "torchrun",
                 "--no_progress", "--num_workers", "1",
                 "--use_gpu" if device.type == "cuda" else "--no_use_gpu"]
        self.tmp, spec = tmp, tmp / "spec.json"
        spec.write_text(json.dumps({"flags": flags, "result": str(tmp / "result.json"),
                                    "pid": str(tmp / "worker.pid")}))
        self.port = _free_port()
        self.cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                    "--nproc_per_node", "1", "--master_addr", "127.0.0.1", "--master_port",
                    str(self.port), "-m", "hwlib.bench_gpu", "--torchrun_child", str(spec)]
        path = [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                   if p]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(self.cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def result(self, deadline: float) -> dict:
        """Wait until `deadline` at most; the worker's result, or an error with its output."""
        timeout = max(1.0, deadline - time.perf_counter())
        try:
            output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            output = self.kill()
            raise TimeoutError(f"torchrun did not finish in time; last output: "
                               f"{output[-800:]}") from None
        result_file = self.tmp / "result.json"
        if self.proc.returncode != 0 or not result_file.exists():
            # the worker's own error (an argparse line, a traceback's last line) comes first,
            # torchrun's long summary after it
            worker = [x for x in output.splitlines() if "error" in x.lower() and "elastic" not in x]
            raise RuntimeError(f"torchrun exited with {self.proc.returncode}: "
                               f"{' | '.join(worker[:5])} ... {output[-800:]}")
        result = json.loads(result_file.read_text())
        print(f"  {result['backend']} process group: all_reduce {result['all_reduce_ok']}, DDP "
              f"step loss {result['ddp_loss']:.3f}; hwlib.train {result['steps']} updates, "
              f"final loss {result['final_loss']:.3f} (port {self.port})", flush=True)
        return {**result, "command": " ".join(self.cmd[1:]), "master_port": self.port}

    def kill(self) -> str:
        """Stop the launcher and its worker (torchrun starts the worker in a session of its own,
        so each is killed by its id); returns what they printed."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((self.tmp / "worker.pid").read_text()), signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.communicate()[0] or ""


def torchrun_child(spec_path: str) -> None:
    """Runs inside torchrun: checks the process group, then trains through hwlib.train's flags."""
    import datetime

    import torch.distributed as dist

    spec = json.loads(Path(spec_path).read_text())
    Path(spec["pid"]).write_text(str(os.getpid()))  # so that a timed-out parent can kill it
    cuda = "--use_gpu" in spec["flags"]
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=60))
    t = torch.ones(1, device=device) * (rank + 1)
    dist.all_reduce(t)
    reduced_ok = t.item() == world * (world + 1) / 2
    model = Llama(LlamaConfig.preset("tiny")).to(device)
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda
                                                    else None)
    x = torch.randint(0, model.config.vocab_size, (2, 17), device=device)
    loss = ddp(x[:, :-1], x[:, 1:])[1]
    loss.backward()
    dist.destroy_process_group()
    # hwlib.train reads torchrun's WORLD_SIZE; with one process it trains without DDP.
    summary = train(parse_config(spec["flags"]))
    if rank == 0:
        Path(spec["result"]).write_text(json.dumps({
            "backend": backend, "world_size": world, "all_reduce_ok": reduced_ok,
            "ddp_loss": loss.item(), "steps": summary["steps"],
            "final_loss": summary["final_loss"], "tokens_per_s": summary["tokens_per_s"]}))


# ------------------------------------------------------------------------------------ report
def write_report(report: dict, out: Path) -> None:
    """gpu-report.json (everything) and gpu-report.md (the figures a reader wants) in `out`."""
    (out / "gpu-report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    try:
        text = _markdown(report)
    except Exception as e:  # a rendering slip must not cost the run: the JSON has it all
        text = f"# GPU check\n\nno summary ({short_error(e)}); see gpu-report.json\n"
    (out / "gpu-report.md").write_text(text)


def _markdown(report: dict) -> str:
    m, parts = report["meta"], report["parts"]
    where = m.get("gpu") or f"CPU ({m.get('threads')} threads)"
    lines = [f"# GPU check: {where}", "",
             f"torch {m['torch']}, CUDA {m.get('cuda')}, transformers {m['transformers']}, "
             f"peak {_num(m['peak_flops'], 1e12, 'TFLOP/s')} (bf16 dense, hwlib.metrics); "
             f"{'quick mode, ' if m['quick'] else ''}{m.get('total_seconds', 0):.0f} s in all.",
             "", "| part | status | seconds | budget |", "|---|---|---|---|"]
    lines += [f"| {n} | {e['status']}{': ' + e['error'] if 'error' in e else ''} | "
              f"{e['seconds']} | {e['budget_s']} |" for n, e in parts.items()]
    res = {n: e.get("result") for n, e in parts.items()}
    if res.get("correctness"):
        lines += ["", "## Correctness", "", "| check | passed | difference | tolerance |",
                  "|---|---|---|---|"]
        lines += [f"| {c['name']} | {c['passed']} | {_g(c.get('difference'))} | "
                  f"{_g(c.get('tolerance'))} |" for c in res["correctness"]]
    if res.get("throughput"):
        lines += ["", "## Training throughput (one AdamW update per micro-batch)", "",
                  "| model | variant | micro-batch x seq | tokens/s | MFU |", "|---|" * 5]
        lines += [f"| {r['model']} | {r['variant']} | {r['micro_batch']} x {r['block']} | "
                  f"{r['tokens_per_s']:,.0f} | {_pct(r['mfu'])} |" for r in res["throughput"]]
    if res.get("train_run"):
        t, pts = res["train_run"], res["train_run"]["points"]
        lines += ["", "## Training run: the 42M recipe on the bundled stories", "",
                  f"{t['summary']['steps']} updates, loss went down: {t['loss_went_down']}; "
                  f"{t['summary']['tokens_per_s']:,.0f} tokens/s overall.", "",
                  "| seconds | step | loss | val loss | tokens/s | MFU |", "|---|" * 6]
        for p in pts[:: max(1, len(pts) // 12)] + pts[-1:]:
            lines.append(f"| {p['seconds']} | {p['step']} | {p['loss']:.3f} | "
                         f"{_g(p.get('val_loss'))} | {p['tokens_per_s']:,.0f} | "
                         f"{_pct(p.get('mfu'))} |")
    if res.get("generation"):
        lines += ["", "## Generation (greedy, KV cache, same weights)", "",
                  "| dtype | batch | new tokens | hwlib tokens/s | transformers tokens/s | ratio "
                  "| same tokens |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['dtype']} | {r['batch']} | {r['new_tokens']} | "
                  f"{r['hwlib_tokens_per_s']:,.0f} | {_g(r.get('transformers_tokens_per_s'))} | "
                  f"{_g(r.get('ratio'))} | {r.get('same_greedy_tokens', '-')} |"
                  for r in res["generation"]]
    if res.get("torchrun"):
        r = res["torchrun"]
        lines += ["", "## torchrun", "", f"{r['backend']} process group (world {r['world_size']})"
                  f": all_reduce correct {r['all_reduce_ok']}; one DDP step; hwlib.train "
                  f"{r['steps']} updates, final loss {r['final_loss']:.3f}.", "",
                  f"`{r['command']}`"]
    lines += ["", "## Skipped", ""] + [f"- {s['what']}: {s['why']}" for s in report["skipped"]]
    return "\n".join(lines) + "\n"


def _g(x) -> str:
    return "-" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def _num(x, unit: float, name: str) -> str:
    return "unknown" if x is None else f"{x / unit:,.0f} {name}"
