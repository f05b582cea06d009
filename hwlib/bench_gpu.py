"""The prepared GPU check: every GPU figure and check of the kit in one command, in <= 8 minutes.

    PYTHONPATH=. python3 -m hwlib.bench gpu --out $OUT            # from a checkout, no install
    python -m hwlib.bench gpu --device cpu --quick --out out/gpu  # the same code paths, seconds

Parts, each with its own time budget, in this order: the bundled stories tokenized; correctness
(bf16 vs fp32 losses, compiled vs eager, KV cache vs recomputation, SDPA vs explicit attention)
while a one-process torchrun run of hwlib.train (NCCL on GPU, gloo on CPU) runs beside it;
generation tokens/s against transformers; training throughput and MFU (PaLM appendix B FLOPs
over the detected GPU's peak) over fp32 / bf16 / + torch.compile / + fused AdamW / + TF32 for the
course's 42M at sequence 512 and each TinyStories recipe; a 2-3 minute run of the 42M recipe on
the bundled stories.
gpu-report.json and gpu-report.md are rewritten after every part, so a run cut short keeps what it
measured. A part that fails is recorded with its error and the next one runs; whatever is skipped
is printed with the reason. Imports only what a stock CUDA PyTorch image holds.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import os
import platform
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path

import torch

from hwlib import bench_gpu_parts as gp

# The kit's public API this check uses, in one place (names may move between modules).
from hwlib.data import TokenBlocks
from hwlib.metrics import peak_flops
from hwlib.model import Llama, LlamaConfig
from hwlib.recipe import load_recipes, probe_micro_batch
from hwlib.tokenizer import Tokenizer, tokenize_directory, train_tokenizer
from hwlib.train import StopTraining, train
from hwlib.utils import DATA_DIR, REPO_ROOT

RECIPES = REPO_ROOT / "configs" / "tinystories.json"
# Seconds per part on one H100 (the whole check <= 8 minutes), and with --quick on a busy CPU.
BUDGETS = {"data": 20, "correctness": 45, "torchrun": 30, "generation": 40, "throughput": 200,
           "train_run": 150}
QUICK_BUDGETS = {"data": 10, "correctness": 15, "torchrun": 30, "generation": 10,
                 "throughput": 8, "train_run": 10}
# Each variant adds one thing to the one before. TF32 comes second, not last: under bf16 autocast
# it changes almost no matmul, and switching it after torch.compile recompiles the whole model
# (dynamo guards on the flag), which the budget cannot afford for every model.
VARIANTS = ("fp32", "tf32", "tf32+bf16", "tf32+bf16+compile", "tf32+bf16+compile+fused")


class Check:
    """The report being built: parts run in turn, each guarded, the files rewritten after each."""

    def __init__(self, args: argparse.Namespace, device: torch.device):
        self.args, self.device, self.out = args, device, Path(args.out)
        self.start = time.perf_counter()
        self.deadline = self.start + args.budget
        self.report: dict = {"meta": _environment(device, args), "parts": {}, "skipped": []}
        self.out.mkdir(parents=True, exist_ok=True)

    def skip(self, what: str, why: str) -> None:
        print(f"skipped {what}: {why}", flush=True)
        self.report["skipped"].append({"what": what, "why": why})

    def run(self, name: str, fn, minimum: float = 0.0):
        """Run one part within min(its budget, what is left of --budget); record its outcome."""
        now = time.perf_counter()
        budget = (QUICK_BUDGETS if self.args.quick else BUDGETS)[name]
        left = self.deadline - now
        entry = {"budget_s": round(budget, 1)}
        if left < minimum:
            self.skip(name, f"{left:.0f} s left of the whole check's --budget, needs {minimum:.0f}")
            entry["status"], result = "skipped", None
        else:
            print(f"== {name} (budget {min(budget, left):.0f} s)", flush=True)
            try:
                result = fn(now + min(budget, left))
                entry["status"], entry["result"] = "ok", result
            except Exception as e:  # one part's failure never ends the check
                result = None
                entry["status"], entry["error"] = "failed", gp.short_error(e)
                entry["traceback"] = traceback.format_exc()[-3000:]
                print(f"FAILED {name}: {entry['error']}", flush=True)
            finally:
                self._free()
        entry["seconds"] = round(time.perf_counter() - now, 1)
        self.report["parts"][name] = entry
        self.report["meta"]["total_seconds"] = round(time.perf_counter() - self.start, 1)
        gp.write_report(self.report, self.out)
        return result

    def _free(self) -> None:
        with contextlib.suppress(Exception):
            torch._dynamo.reset()
        gc.collect()
        if self.device.type == "cuda":
            with contextlib.suppress(Exception):  # after a CUDA error this may fail too
                torch.cuda.empty_cache()


def _environment(device: torch.device, args) -> dict:
    meta = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "quick": args.quick, "budget_s": args.budget, "cpu_count": os.cpu_count(),
            "peak_flops": peak_flops(device), "compile_backend": args.compile_backend}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        meta.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1),
                    capability=f"{p.major}.{p.minor}", cuda=torch.version.cuda,
                    bf16=torch.cuda.is_bf16_supported())
    else:
        meta["threads"] = torch.get_num_threads()
    try:  # the version without the import (seconds); the generation part imports it
        meta["transformers"] = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        meta["transformers"] = None
    return meta


# ------------------------------------------------------------------------------------- data
def _stories(tmp: Path, quick: bool, vocab: int) -> dict:
    """The bundled stories (quick: a few hundred), a tokenizer trained on them, their tokens."""
    src, folder = DATA_DIR / "stories", tmp / "stories"
    folder.mkdir()
    for split, lines in (("train", 300), ("val", 40), ("test", 40)):
        text = (src / f"stories.{split}").read_text("utf-8")
        if quick:
            text = "".join(text.splitlines(keepends=True)[:lines])
        (folder / f"stories.{split}").write_text(text, "utf-8")
    tok = train_tokenizer(folder / "stories.train", vocab, tmp / f"stories{vocab}")
    bins = tokenize_directory(folder, tmp / "cache", Tokenizer(tok), workers=1, progress=False)
    tokens = {b.name: b.stat().st_size // 2 for b in bins}
    print(f"  {tok.name}: {tokens}")
    return {"folder": str(folder), "tokenizer": str(tok), "cache": str(tmp / "cache"),
            "bins": [str(b) for b in bins], "vocab": vocab, "tokens": tokens}


def _story_batches(data: dict, block: int, micro: int, n: int) -> list:
    train_bin = [b for b in data["bins"] if b.endswith("stories.train.bin")]
    ds = TokenBlocks(train_bin, block, seed=0)
    order = ds.order(0)
    return [ds.get_batch(order[i * micro : (i + 1) * micro]) for i in range(n)]


# ------------------------------------------------------------------------------- throughput
def _models(quick: bool) -> list[dict]:
    """The TinyStories 42M recipe (the training run's), the course's 42M at sequence 512, then
    the other recipes, smallest first: when the budget runs out, the least wanted go."""
    course = {"name": "course 42M (vocab 32000)", "mc": LlamaConfig.preset("42M", max_seq_len=512),
              "block": 512, "batch": 64}  # the course's --batch_size 64
    recipes = []
    for name, r in load_recipes(RECIPES).items():  # the file lists them smallest first
        cfg = r["config"]
        mc = LlamaConfig.preset(cfg.model_config, vocab_size=r["tokenizer_vocab_size"],
                                max_seq_len=cfg.block_size)
        recipes.append({"name": f"TinyStories {name}", "mc": mc, "block": cfg.block_size,
                        "batch": cfg.batch_size})
    ts42 = [r for r in recipes if r["name"] == "TinyStories 42M"]
    out = ts42 + [course] + [r for r in recipes if r not in ts42]
    if quick:  # the same list and code paths at the tiny shape
        for m in out:
            m.update(mc=LlamaConfig.preset("tiny", vocab_size=m["mc"].vocab_size), block=32,
                     batch=4)
    return out


def throughput(device: torch.device, args, deadline: float, skip) -> list[dict]:
    """Tokens/s and MFU of one training update per micro-batch, per model and variant."""
    half = "bfloat16" if device.type != "cuda" or torch.cuda.is_bf16_supported() else "float16"
    rows, peak = [], peak_flops(device)
    # Seconds a compile, and a variant without one, may take: a variant that would not fit in
    # what is left of the budget is skipped rather than started.
    compile_cost, variant_cost = (4, 0.5) if args.quick else (45, 3)
    for spec in _models(args.quick):
        name = spec["name"]
        if time.perf_counter() > deadline:
            skip(f"throughput {name}", "the part's time budget ran out")
            continue
        torch.manual_seed(0)
        model = Llama(spec["mc"]).to(device)
        try:
            micro = probe_micro_batch(model, spec["block"], spec["batch"], half)
        except Exception as e:
            skip(f"throughput {name}", f"the micro-batch probe failed: {gp.short_error(e)}")
            continue
        flops = model.flops_per_token(spec["block"])
        print(f"  {name}: {model.num_params() / 1e6:.1f}M params, micro-batch {micro} x "
              f"{spec['block']} (probe, up to {spec['batch']})", flush=True)
        compiled, compile_error = None, None  # compiled once per model; later variants reuse it
        for variant in VARIANTS:
            what, left = f"throughput {name} {variant}", deadline - time.perf_counter()
            if "compile" in variant and compile_error:
                skip(what, f"torch.compile failed: {compile_error}")
                continue
            if left < (compile_cost if "compile" in variant and compiled is None else variant_cost):
                skip(what, f"{left:.0f} s left of the part's budget")
                continue
            if "compile" in variant and compiled is None:
                torch._dynamo.reset()  # else each model's recompiles count against one limit
                compiled = torch.compile(model, backend=args.compile_backend)
            row = {"model": name, "variant": variant, "params": model.num_params(),
                   "block": spec["block"], "flops_per_token": flops}
            try:
                net = compiled if "compile" in variant else model
                row.update(_measure(net, model, variant, spec, micro, device, half, args))
            except Exception as e:  # compiler errors; OOM that halving cannot cure
                skip(what, gp.short_error(e))
                if "compile" in variant:
                    compile_error = gp.short_error(e)
                continue
            row["mfu"] = flops * row["tokens_per_s"] / peak if peak else None
            mfu = f", MFU {row['mfu']:.1%}" if peak else ""
            print(f"    {variant:<26} {row['tokens_per_s']:>12,.0f} tokens/s{mfu}", flush=True)
            rows.append(row)
        del model, compiled
        torch._dynamo.reset()
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def _measure(net, model, variant, spec, micro, device, half, args) -> dict:
    """Warm up, then time updates (forward, backward, clip, AdamW) for ~--seconds; an out of
    memory halves the micro-batch and tries again."""
    dtype = half if "bf16" in variant else "float32"
    fused = "fused" in variant and device.type == "cuda"  # fused AdamW is CUDA-only here
    counts = gp.dynamo_counts()
    while True:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused or None)
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, spec["mc"].vocab_size, (micro, spec["block"] + 1), generator=g)
        x, y = x[:, :-1].to(device), x[:, 1:].to(device)

        def step():
            with gp.autocast(device, dtype):
                loss = net(x, y)[1]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        try:
            with gp.tf32(variant != "fp32"):
                for _ in range(args.warmup):  # the first calls compile and allocate
                    step()
                gp.sync(device)
                t0, n = time.perf_counter(), 0
                while n < args.min_steps or (time.perf_counter() - t0 < args.seconds
                                             and n < args.max_steps):
                    step()
                    n += 1
                    if n >= args.min_steps:
                        gp.sync(device)
                gp.sync(device)
                seconds = time.perf_counter() - t0
            return {"micro_batch": micro, "steps": n, "seconds": round(seconds, 3),
                    "tokens_per_s": n * micro * spec["block"] / seconds, "dtype": dtype,
                    "fused_adamw": fused, **(gp.dynamo_delta(counts) if net is not model else {})}
        except torch.OutOfMemoryError:
            if micro == 1:
                raise
            print(f"    {variant}: out of memory at micro-batch {micro}; halving", flush=True)
            micro = max(1, micro // 2)
        finally:
            model.zero_grad(set_to_none=True)
            opt = x = y = None
            if device.type == "cuda":
                torch.cuda.empty_cache()


# ------------------------------------------------------------------------------ training run
def train_run(data: dict, tmp: Path, device: torch.device, args, deadline: float,
              micro: int | None, skip) -> dict:
    """The 42M recipe's real settings on the bundled stories, stopped at the part's budget."""
    cfg = load_recipes(RECIPES)["42M"]["config"]
    over = dict(data_path=data["folder"], val_path=data["folder"], test_path=None,
                tokenized_dir=data["cache"], val_tokenized_dir=data["cache"],
                tokenizer=data["tokenizer"], out_dir=str(tmp), run_name="ts42M-bundled",
                use_gpu=device.type == "cuda", progress=False, num_workers=1,
                epochs=10**6)  # the bundled stories are a few batches: let max_steps decide
    if args.quick:  # the tiny shape, and a warmup that lets the loss move in a few steps
        over.update(model_config="tiny", block_size=32, batch_size=8, warmup_steps=2,
                    log_interval=2, val_per_steps=10, eval_batches=2, compile=False)
        skip("train_run torch.compile", "--quick: inductor takes minutes on a CPU")
    cfg = dataclasses.replace(cfg, **over)
    if micro is None and device.type == "cuda":
        mc = LlamaConfig.preset(cfg.model_config, vocab_size=data["vocab"],
                                max_seq_len=cfg.block_size)
        micro = probe_micro_batch(Llama(mc).to(device), cfg.block_size, cfg.batch_size)
    cfg = dataclasses.replace(cfg, micro_batch_size=micro or cfg.batch_size)
    t0, points = time.perf_counter(), []
    stop_at = deadline - (2 if args.quick else 15)  # leaves time for the final checkpoints

    def watch(m: dict) -> None:
        points.append({**m, "seconds": round(time.perf_counter() - t0, 2)})
        if time.perf_counter() > stop_at or (args.quick and m["step"] >= 20):
            raise StopTraining

    callbacks = [watch]
    try:
        from hwlib.plot import LiveLossPlot

        callbacks.append(plot := LiveLossPlot("42M recipe on the bundled stories", live=False))
    except ImportError as e:
        skip("train_run loss curve PNG", f"matplotlib missing: {e}")
        plot = None
    log = Path(args.out) / "train-run.log"
    print(f"  {cfg.model_config}, batch {cfg.batch_size} (micro {cfg.micro_batch_size}) x "
          f"{cfg.block_size}, lr {cfg.lr}, compile {cfg.compile}; metric lines in {log}",
          flush=True)
    try:
        with open(log, "w") as f, contextlib.redirect_stdout(f):
            summary = train(cfg, callbacks=callbacks)
    except Exception as e:
        if not cfg.compile or deadline - time.perf_counter() < 60:
            raise
        skip("train_run with torch.compile", f"failed, rerun without it: {gp.short_error(e)}")
        points.clear()
        plot = None  # its curve holds the failed attempt's points
        cfg = dataclasses.replace(cfg, compile=False, run_name="ts42M-bundled-eager")
        with open(log, "a") as f, contextlib.redirect_stdout(f):
            summary = train(cfg, callbacks=[watch])
    if plot is not None:
        plot.save(Path(args.out) / "train-run-loss.png")
    losses = [p["loss"] for p in points]
    first, last = losses[0], min(losses[-3:])
    summary = {k: v for k, v in summary.items() if k != "history"}
    print(f"  {summary['steps']} updates in {points[-1]['seconds']:.0f} s: loss {first:.3f} -> "
          f"{losses[-1]:.3f}, {summary['tokens_per_s']:,.0f} tokens/s", flush=True)
    return {"settings": {k: v for k, v in dataclasses.asdict(cfg).items()
                         if k not in ("wandb_project", "wandb_entity")},
            "loss_went_down": last < first, "summary": summary, "points": points}


# ------------------------------------------------------------------------------------- main
def _run_parts(check: Check, parts: set, tmp: Path) -> None:
    """The parts in order, each guarded by check.run; a part that needs data that did not come
    is skipped with the reason."""
    a, device = check.args, check.device
    half = "bfloat16" if device.type != "cuda" or torch.cuda.is_bf16_supported() else "float16"
    data = check.run("data", lambda dl: _stories(tmp, a.quick, 512 if a.quick else 4096))
    for name in sorted(parts & {"correctness", "torchrun", "train_run"}) if not data else ():
        check.skip(name, "no tokenized stories (the data part failed)")
    launch: gp.Torchrun | Exception | None = None
    if "torchrun" in parts and data:
        try:
            launch = gp.Torchrun(data, tmp, device)
        except Exception as e:  # reported as the torchrun part's failure below
            launch = e
    try:
        block, micro, steps, new = (32, 4, 4, 8) if a.quick else (256, 8, 8, 64)
        if "correctness" in parts and data:
            mc = LlamaConfig.preset("tiny" if a.quick else "42M", vocab_size=data["vocab"],
                                    max_seq_len=block)
            check.run("correctness", lambda dl: gp.correctness(
                mc, _story_batches(data, block, micro, steps), device, half, a.compile_backend,
                new, check.skip))
        if launch is not None:  # collected before anything is timed
            check.run("torchrun", lambda dl: _raise(launch) if isinstance(launch, Exception)
                      else launch.result(dl))
    finally:
        if isinstance(launch, gp.Torchrun):
            launch.kill()  # only if it still runs: the check is ending another way
    if "generation" in parts:
        check.run("generation", lambda dl: gp.generation(
            "tiny" if a.quick else "42M", device, ("float32", "bfloat16"),
            (1, 4) if a.quick else (1, 32), 16, 8 if a.quick else 128, dl, check.skip))
    rows = []
    if "throughput" in parts:
        rows = check.run("throughput", lambda dl: throughput(device, a, dl, check.skip),
                         minimum=10) or []
    ts42 = [r["micro_batch"] for r in rows if r["model"] == "TinyStories 42M"]
    if "train_run" in parts and data:
        check.run("train_run", lambda dl: train_run(
            data, tmp, device, a, dl, max(ts42, default=None), check.skip),
            minimum=5 if a.quick else 60)


def _raise(e: Exception):
    raise e


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and run every part; the report is in --out whatever happens."""
    p = argparse.ArgumentParser(prog="python -m hwlib.bench gpu", description=__doc__.split(
        "\n")[0])
    p.add_argument("--out", default="out/gpu", help="folder for gpu-report.json/.md")
    p.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    p.add_argument("--quick", action="store_true", help="tiny shapes: the code paths in seconds")
    p.add_argument("--budget", type=float, default=480, help="seconds for the whole check")
    p.add_argument("--parts", default=",".join(BUDGETS), help="comma-separated subset to run")
    p.add_argument("--compile_backend", default=None,
                   help="torch.compile backend (default inductor; --quick on CPU: eager)")
    p.add_argument("--torchrun_child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.torchrun_child:
        return gp.torchrun_child(a.torchrun_child)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda, but torch sees no CUDA GPU (try --device cpu --quick)")
    device = torch.device("cuda" if a.device != "cpu" and torch.cuda.is_available() else "cpu")
    if a.compile_backend is None:  # inductor compiles for minutes on a CPU; tracing is the path
        a.compile_backend = "eager" if a.quick and device.type == "cpu" else "inductor"
    a.warmup, a.min_steps, a.max_steps, a.seconds = (1, 1, 2, 0.0) if a.quick else (2, 3, 50, 1.5)
    parts = set(a.parts.split(","))
    if unknown := sorted(parts - set(BUDGETS)):
        sys.exit(f"error: --parts: unknown {', '.join(unknown)}; choose from {', '.join(BUDGETS)}")
    try:
        check = Check(a, device)
    except OSError as e:
        sys.exit(f"error: --out {a.out}: {e.strerror or e}")
    print(f"GPU check on {check.report['meta'].get('gpu', device)}; report in {a.out}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hwlib-gpu-") as tmp:
        _run_parts(check, parts, Path(tmp))
    failed = [n for n, e in check.report["parts"].items() if e["status"] == "failed"]
    print(f"done in {check.report['meta']['total_seconds']:.0f} s; report: {a.out}/gpu-report.md"
          + (f"; FAILED parts: {', '.join(failed)}" if failed else ""), flush=True)


if __name__ == "__main__":  # torchrun starts the child through `-m hwlib.bench_gpu`
    main()
