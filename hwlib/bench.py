"""Benchmarks that print figures (never timed unit tests).

    python -m hwlib.bench <name> [options]     # e.g. python -m hwlib.bench preprocess

Each stage adds one `bench_<name>(argv)` function and one entry in BENCHMARKS.
"""

from __future__ import annotations

import sys

BENCHMARKS: dict = {}


def _hf_twin(model):
    """transformers' LlamaForCausalLM with the same config and weights (through export_hf)."""
    import tempfile

    from transformers import LlamaForCausalLM

    from hwlib.model import export_hf

    with tempfile.TemporaryDirectory() as d:
        export_hf(model, d)
        return LlamaForCausalLM.from_pretrained(d).float()


def _model_args(argv: list[str], prog: str, **defaults):
    import argparse

    p = argparse.ArgumentParser(prog=f"python -m hwlib.bench {prog}")
    p.add_argument("--preset", default="42M", help="LlamaConfig preset (random weights)")
    for name, value in defaults.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=value)
    return p.parse_args(argv)


def _best_of(repeats: int, fns: dict) -> dict:
    """Best wall time of each fn over `repeats` rounds, the fns interleaved so that load from
    other processes on a shared machine hits both alike."""
    import time

    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _report(title: str, tokens: int, best: dict, target: float) -> None:
    """tokens/s of each entry of best (name -> seconds), and each ratio to transformers."""
    import os

    theirs = tokens / best["transformers"]
    print(title)
    for name, seconds in best.items():
        print(f"  {name:<14} {tokens / seconds:10.1f} tokens/s  ({seconds:.3f} s)")
    for name, seconds in best.items():
        if name != "transformers":
            print(f"  ratio {name} {tokens / seconds / theirs:.2f}x (target >= {target}x)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"  load average {load:.1f} on {os.cpu_count()} CPUs (other processes skew timings)")


def _bandwidth(mb: int = 256, repeats: int = 5) -> float:
    """Memory read bandwidth in bytes/s: the best sum over a float32 tensor far larger than any
    cache, so that every byte comes from RAM (as each decoded token reads the weights)."""
    import time

    import torch

    x = torch.ones(mb * 2**20 // 4)
    best = float("inf")
    for _ in range(repeats + 1):  # the first pass also faults the pages in
        t0 = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - t0)
    return x.numel() * 4 / best


def bench_generate(argv: list[str]) -> None:
    """Greedy KV-cache generation, hwlib (float32, bf16 weights) vs transformers' generate, same
    weights; and the memory-bandwidth limit: weight bytes read per token over the bandwidth."""
    import torch

    from hwlib.model import Llama, LlamaConfig

    a = _model_args(argv, "generate", batch=1, prompt_len=16, new_tokens=256, repeats=3)
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset(a.preset)).eval()
    hf = _hf_twin(model).eval()
    hf.generation_config.eos_token_id = None  # always produce exactly new_tokens
    hf.generation_config.pad_token_id = 0
    prompt = torch.randint(0, model.config.vocab_size, (a.batch, a.prompt_len))
    mask = torch.ones_like(prompt)
    out = {}

    def ours():
        out["hwlib"] = model.generate(prompt, a.new_tokens)

    def ours_bf16():
        out["bf16"] = model.generate(prompt, a.new_tokens, dtype=torch.bfloat16)

    def theirs():
        out["hf"] = hf.generate(prompt, attention_mask=mask, max_new_tokens=a.new_tokens,
                                do_sample=False)

    fns = {"hwlib": ours, "hwlib bf16": ours_bf16, "transformers": theirs}
    with torch.inference_mode():
        for fn in fns.values():  # warm-up
            fn()
        best = _best_of(a.repeats, fns)
    title = (f"generate {a.preset}: batch {a.batch}, prompt {a.prompt_len}, {a.new_tokens} new "
             f"tokens, greedy, float32, {torch.get_num_threads()} threads")
    _report(title, a.batch * a.new_tokens, best, 2.0)
    same = (out["bf16"] == out["hwlib"])[:, a.prompt_len :].float().mean()
    print(f"  same greedy continuation: {torch.equal(out['hwlib'], out['hf'])}; "
          f"bf16 weights: {same:.0%} of the new tokens the same as float32")
    # Each token reads every weight matrix once (the tied embedding as the output layer).
    per_token, bw = 4 * model.num_params(), _bandwidth()
    limit = bw / per_token
    print(f"  limit: {per_token / 1e6:.0f} MB of float32 weights per token / {bw / 1e9:.1f} GB/s "
          f"read bandwidth (measured now) = {limit:.0f} tokens/s (bf16 weights: {2 * limit:.0f});"
          f" hwlib float32 reaches {a.batch * a.new_tokens / best['hwlib'] / limit:.0%} of it")


def _adamw(params):
    import torch

    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=1e-4, fused=True)
    except RuntimeError:  # PyTorch < 2.4 fuses only on GPUs
        return torch.optim.AdamW(params, lr=1e-4)


def bench_train_step(argv: list[str]) -> None:
    """One training step (forward, backward, fused AdamW), hwlib vs transformers, same weights."""
    import torch
    import torch.nn.functional as F

    from hwlib.model import Llama, LlamaConfig

    a = _model_args(argv, "train-step", batch=8, seq_len=256, repeats=3)
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset(a.preset)).train()
    hf = _hf_twin(model).train()
    x = torch.randint(0, model.config.vocab_size, (a.batch, a.seq_len + 1))
    x, y = x[:, :-1], x[:, 1:]
    # Fused AdamW for both: transformers' Trainer defaults to it (torch >= 2.8), and on CPU it
    # ran ~15x faster than the foreach one (0.07 s vs 1.1 s a step for 42M on 2 cores).
    opts = {m: _adamw(m.parameters()) for m in (model, hf)}

    def step(m, loss_fn):
        opts[m].zero_grad(set_to_none=True)
        loss_fn().backward()
        opts[m].step()

    def ours():
        step(model, lambda: model(x, y)[1])

    def theirs():
        step(hf, lambda: F.cross_entropy(hf(input_ids=x).logits.flatten(0, 1), y.flatten()))

    ours(), theirs()  # warm-up (allocates the optimizer state)
    best = _best_of(a.repeats, {"hwlib": ours, "transformers": theirs})
    title = (f"train-step {a.preset}: batch {a.batch} x {a.seq_len}, forward+backward+fused "
             f"AdamW, float32, {torch.get_num_threads()} threads")
    _report(title, a.batch * a.seq_len, best, 1.2)


BENCHMARKS["generate"] = bench_generate
BENCHMARKS["train-step"] = bench_train_step


def bench_tokenize(argv: list[str]) -> None:
    """tokenize_directory throughput with 1 and N pool workers on the bundled stories, repeated."""
    import argparse
    import os
    import tempfile
    import time
    from pathlib import Path

    from hwlib.tokenizer import Tokenizer, tokenize_directory, train_tokenizer
    from hwlib.utils import DATA_DIR

    p = argparse.ArgumentParser(prog="python -m hwlib.bench tokenize")
    p.add_argument("--mb", type=float, default=8.0, help="corpus size (the stories repeated)")
    p.add_argument("--files", type=int, default=4, help="the corpus is split over this many files")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--tokenizer", default=None, help=".model (default: 4096-piece BPE on stories)")
    a = p.parse_args(argv)
    stories_dir = DATA_DIR / "stories"
    text = "".join((stories_dir / f"stories.{s}").read_text("utf-8") for s in ("train", "val"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok_path = a.tokenizer or train_tokenizer(stories_dir / "stories.train", 4096, tmp / "t")
        tok = Tokenizer(tok_path)
        corpus = tmp / "corpus"
        corpus.mkdir()
        copies = max(1, round(a.mb * 1e6 / a.files / len(text)))
        for i in range(a.files):
            (corpus / f"part{i}.txt").write_text(text * copies, encoding="utf-8")
        size = sum(f.stat().st_size for f in corpus.iterdir())
        print(f"tokenize: {a.files} files, {size / 1e6:.1f} MB, {tok}, {os.cpu_count()} cores")
        for w in sorted({1, a.workers}):
            t0 = time.perf_counter()
            bins = tokenize_directory(corpus, tmp / f"out{w}", tok, True, w, progress=False)
            dt = time.perf_counter() - t0
            n = sum(b.stat().st_size for b in bins) // 2
            print(f"  workers {w:2d}: {n / dt:12,.0f} tokens/s  {size / dt / 1e6:6.1f} MB/s  "
                  f"({n:,} tokens in {dt:.2f} s)")
        t0 = time.perf_counter()
        tokenize_directory(corpus, tmp / f"out{w}", tok, workers=w, progress=False)
        print(f"  cache hit (unchanged sources): {1e3 * (time.perf_counter() - t0):.1f} ms")


BENCHMARKS["tokenize"] = bench_tokenize


def bench_preprocess(argv: list[str]) -> None:
    """Records/s per worker for the whole pipeline and per stage; dedup on 10k and 100k texts."""
    import argparse
    import os
    import random
    import tempfile
    import time
    from pathlib import Path

    from hwlib import preprocess as pp
    from hwlib.utils import DATA_DIR

    p = argparse.ArgumentParser(prog="python -m hwlib.bench preprocess")
    p.add_argument("warc", nargs="?", default=str(DATA_DIR / "sample.warc.gz"))
    p.add_argument("--min_records", type=int, default=1000, help="repeat the file up to this")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--extractor", default="bs4")
    p.add_argument("--dedup_sizes", default="10000,100000")
    a = p.parse_args(argv)

    raw = Path(a.warc).read_bytes()
    per_copy = sum(1 for _ in pp.iter_records(a.warc))
    copies = max(1, -(-a.min_records // max(per_copy, 1)))
    with tempfile.TemporaryDirectory() as d:
        # Concatenated .warc.gz files are one valid multi-member .warc.gz.
        big = Path(d) / ("big.warc.gz" if a.warc.endswith(".gz") else "big.warc")
        big.write_bytes(raw * copies)
        n = per_copy * copies
        print(f"{a.warc}: {per_copy} response records x {copies} copies = {n} records")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              "per CPU-second rates are less affected by other processes")
        for workers in sorted({1, a.workers}):
            t0, c0 = time.perf_counter(), _cpu_seconds()
            stats = pp.run_pipeline(fname=str(big), output=None, dfname=None, workers=workers,
                                    extractor=a.extractor, progress=False)
            dt, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
            print(f"  full pipeline, {workers} worker(s): {n / dt:8.1f} records/s wall "
                  f"({n / dt / workers:.1f} per worker), {n / cpu:.1f} records per CPU-second; "
                  f"{stats['html']} pages, {stats['deduplicated']} kept, {dt:.2f} s")

    # Per stage, one process; each rate counts the records that reach that stage.
    records = [r for r in pp.iter_records(a.warc) if r[0] == "html"] * copies
    rules = pp.QualityRules(bad_word_list=pp.load_bad_words())
    pp.english_probability("warm up the model")
    stages = ["decode+extract", "clean", "pii", "quality", "english", "minhash"]
    took, seen = dict.fromkeys(stages, 0.0), dict.fromkeys(stages, 0)

    def timed(name, fn, *args):
        t0 = time.process_time()
        out = fn(*args)
        took[name] += time.process_time() - t0
        seen[name] += 1
        return out

    for _, _, html, charset in records:
        text = timed("decode+extract", lambda: pp.html_to_text(html, charset, a.extractor))
        text = timed("clean", pp.clean_text, text)
        if not text:
            continue
        text = timed("pii", pp.replace_pii, text)
        if timed("quality", pp.failed_rules, text, rules):
            continue
        if timed("english", pp.english_probability, text) < pp.ENGLISH_THRESHOLD:
            continue
        timed("minhash", pp.minhash_signature, text)
    print("  per stage (1 process, CPU time):")
    for name in stages:
        rate = seen[name] / took[name] if took[name] else float("inf")
        print(f"    {name:<15} {rate:10.1f} records/s  ({seen[name]} records, "
              f"{1000 * took[name] / max(seen[name], 1):.3f} ms each)")

    # Dedup: short synthetic texts, 10% of them near copies of an earlier one.
    vocab = sorted({w.lower().strip(".,;:") for _, paras in _articles() for para in paras
                    for w in para.split()})
    for size in (int(s) for s in a.dedup_sizes.split(",") if s):
        rng = random.Random(0)
        texts = []
        for i in range(size):
            if i > 10 and rng.random() < 0.1:
                words = texts[rng.randrange(i)].split()
                words[rng.randrange(len(words))] = rng.choice(vocab)
                texts.append(" ".join(words))
            else:
                texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(15, 40))))
        t0 = time.perf_counter()
        kept = pp.deduplicate_texts(texts)
        dt = time.perf_counter() - t0
        print(f"  deduplicate_texts {size:>7} texts: {dt:6.2f} s "
              f"({1e6 * dt / size:.0f} us/text, {size - len(kept)} removed)")


def _cpu_seconds() -> float:
    """CPU time of this process plus its reaped children (the pool's workers)."""
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _articles():
    from hwlib.sample_pages import ARTICLES

    return ARTICLES.values()


BENCHMARKS["preprocess"] = bench_preprocess


def bench_train(argv: list[str]) -> None:
    """hwlib.train's update loop (memmap blocks, prefetch, micro-batches, clip, AdamW): tokens/s,
    and MFU on a GPU (PaLM appendix B FLOPs over the detected GPU's peak)."""
    import argparse
    import dataclasses
    import tempfile
    import time
    from pathlib import Path

    import numpy as np
    import torch

    from hwlib import train as T
    from hwlib.metrics import peak_flops
    from hwlib.data import TokenBlocks
    from hwlib.model import Llama, LlamaConfig

    p = argparse.ArgumentParser(prog="python -m hwlib.bench train")
    p.add_argument("--model_config", default="42M", help="LlamaConfig preset (random weights)")
    p.add_argument("--vocab_size", type=int, default=None,
                   help="override the preset's vocabulary (the TinyStories recipes use 4096)")
    p.add_argument("--block_size", type=int, default=256)
    p.add_argument("--micro_batch_size", type=int, default=8)
    p.add_argument("--batch_size", type=int, default=None, help="default: micro_batch_size")
    p.add_argument("--steps", type=int, default=5, help="timed updates, after --warmup ones")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--dtype", default="bfloat16", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--compile", action="store_true")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    dtype = a.dtype if device.type == "cuda" else "float32"  # as train() does
    cfg = T.TrainConfig(block_size=a.block_size, batch_size=a.batch_size or a.micro_batch_size,
                        micro_batch_size=a.micro_batch_size, dtype=dtype, grad_clip=1.0)
    torch.manual_seed(0)
    vocab = {"vocab_size": a.vocab_size} if a.vocab_size else {}
    mc = LlamaConfig.preset(a.model_config, **vocab)
    model = Llama(dataclasses.replace(mc, max_seq_len=max(mc.max_seq_len, a.block_size)))
    model = model.to(device)
    net = torch.compile(model) if a.compile else model
    d = T._Dist(0, 1, device)
    updates = a.warmup + a.steps
    opt, sched = T._optimizer(model, cfg, updates, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == "float16")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    with tempfile.TemporaryDirectory() as tmp:  # random tokens: the speed does not depend on them
        path = Path(tmp) / "random.bin"
        n = updates * cfg.batch_size * (a.block_size + 1)
        np.random.default_rng(0).integers(0, mc.vocab_size, n, dtype=np.uint16).tofile(path)
        ds = TokenBlocks([path], a.block_size)
        batches = T._prefetch(T._micro_batches(ds, 0, 0, cfg, cfg.micro_batch_size, d), 2)
        for i, micro in enumerate(batches):
            if i == a.warmup:
                sync()
                t0 = time.perf_counter()
            T._update(net, micro, opt, sched, scaler, cfg, d, i + 1)
        sync()
        seconds = time.perf_counter() - t0
    tokens_per_s = a.steps * cfg.batch_size * a.block_size / seconds
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {torch.get_num_threads()} threads")
    compiled = ", compiled" if a.compile else ""
    print(f"train {a.model_config} ({model.num_params() / 1e6:.1f}M params) on {where}, {dtype}"
          f"{compiled}: batch {cfg.batch_size} (micro {a.micro_batch_size}) x {a.block_size}")
    print(f"  {tokens_per_s:,.0f} tokens/s, {1000 * seconds / a.steps:.1f} ms per update "
          f"(mean of {a.steps} updates after {a.warmup} warm-up ones)")
    peak = peak_flops(device)
    flops = model.flops_per_token(a.block_size)
    if peak:
        print(f"  MFU {flops * tokens_per_s / peak:.1%} ({flops / 1e6:.0f} MFLOPs/token, "
              f"peak {peak / 1e12:.0f} TFLOP/s)")
    elif device.type == "cuda":
        print("  MFU unknown: this GPU is not in hwlib.train's peak-FLOPs table")


BENCHMARKS["train"] = bench_train


def bench_scale(argv: list[str]) -> None:
    """Records per CPU-second through hwlib.scale (datatrove, local executor) vs run_pipeline."""
    import argparse
    import os
    import tempfile
    import time
    from pathlib import Path

    from hwlib import preprocess as pp
    from hwlib import scale
    from hwlib.utils import DATA_DIR

    p = argparse.ArgumentParser(prog="python -m hwlib.bench scale")
    p.add_argument("warc", nargs="?", default=str(DATA_DIR / "sample.warc.gz"))
    p.add_argument("--copies", type=int, default=16, help="input files, each a copy of WARC")
    p.add_argument("--tasks", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--extractor", default="bs4")
    p.add_argument("--dedup", action="store_true", help="add the four MinHash stages")
    a = p.parse_args(argv)

    def cpu() -> float:  # this process and its reaped children (datatrove's pool workers)
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    raw = Path(a.warc).read_bytes()
    n = sum(1 for _ in pp.iter_records(a.warc)) * a.copies
    pp.english_probability("load langid before timing")
    print(f"{a.copies} copies of {a.warc}: {n} records; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as d:
        for i in range(a.copies):
            (Path(d) / "in" / f"{i:04d}.warc.gz").parent.mkdir(exist_ok=True)
            (Path(d) / "in" / f"{i:04d}.warc.gz").write_bytes(raw)
        (Path(d) / "all.warc.gz").write_bytes(raw * a.copies)  # one multi-member file
        t0, c0 = time.perf_counter(), cpu()
        pp.run_pipeline(fname=str(Path(d) / "all.warc.gz"), output=None, dfname=None,
                        extractor=a.extractor, progress=False)
        dt, c = time.perf_counter() - t0, cpu() - c0
        print(f"  hwlib.preprocess, 1 process:  {n / c:7.1f} records per CPU-second "
              f"({dt:.1f} s wall)")
        t0, c0 = time.perf_counter(), cpu()
        funnel = scale.run_scale(input=str(Path(d) / "in"), output=str(Path(d) / "out"),
                                 tasks=a.tasks, workers=a.workers, dedup=a.dedup,
                                 extractor=a.extractor)
        dt, c = time.perf_counter() - t0, cpu() - c0
        print(f"  hwlib.scale, {a.tasks} tasks, {a.workers} workers, dedup {a.dedup}: "
              f"{n / c:7.1f} records per CPU-second, {n / dt:.1f} records/s wall "
              f"({dt:.1f} s, {funnel['deduplicated']} kept)")


BENCHMARKS["scale"] = bench_scale


def bench_reliability(argv: list[str]) -> None:
    """Faults at speed: a SIGKILLed trainer resumed, hostile text fuzzed, a damaged WARC read.

    Prints kill points survived (and what a restart costs), inputs fuzzed (and each stage's
    slowest call), WARC records skipped vs kept, and whether anything finished was lost. The
    proofs, including a kill in the middle of a checkpoint write, are tests/test_reliability.py.
    """
    import argparse
    import os
    import random
    import tempfile
    from pathlib import Path

    p = argparse.ArgumentParser(prog="python -m hwlib.bench reliability")
    p.add_argument("--seed", type=int, default=8, help="picks kill points, inputs and damage")
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--fuzz", type=int, default=200, help="random inputs per text stage")
    p.add_argument("--damage", type=int, default=8, help="damaged members added to the WARC")
    a = p.parse_args(argv)
    rng = random.Random(a.seed)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        lost = _kill_and_resume(Path(tmp), a.kills, a.seed, rng)
        lost += _damaged_warc(Path(tmp), a.damage, rng)
    _fuzz_text_stages(a.fuzz, rng)
    print("nothing lost" if not lost else f"LOST: {lost} finished items (see above)")


def _kill_and_resume(tmp, kills: int, seed: int, rng) -> int:
    import contextlib
    import io
    import json
    import os
    import subprocess
    import time

    import torch

    from hwlib import train as T
    from hwlib.model import load_checkpoint
    from hwlib.stories import generate_stories
    from hwlib.tokenizer import Tokenizer, tokenize_directory, train_tokenizer
    from hwlib.utils import REPO_ROOT, safe_torch_load

    data = tmp / "stories"
    data.mkdir()
    (data / "stories.train").write_text("\n".join(generate_stories(300, seed=seed)) + "\n")
    tok = train_tokenizer([data / "stories.train"], vocab_size=512, model_prefix=tmp / "tok")
    tokenize_directory(data, tokenizer=Tokenizer(tok), workers=1, progress=False)
    steps, every = 40, 5
    kw = dict(option="pretrain", data_path=str(data), tokenizer=str(tok), model_config="tiny",
              block_size=32, batch_size=8, epochs=1, lr=3e-3, warmup_steps=4, schedule="cosine",
              dropout=0.1, max_steps=steps, save_every=every, log_interval=1, seed=seed,
              num_workers=1, progress=False)
    torch.set_num_threads(1)  # the subprocesses' OMP_NUM_THREADS=1: the same numbers
    with contextlib.redirect_stdout(io.StringIO()):  # its metric lines are not the figures
        straight = T.train(T.TrainConfig(**kw, out_dir=str(tmp / "straight")))
    cfg = T.TrainConfig(**kw, out_dir=str(tmp / "killed"))
    flags = [f"--{k}" if v is True else f"--no-{k}" if v is False else f"--{k}={v}"
             for k, v in vars(cfg).items() if v is not None]
    cmd = [sys.executable, "-m", "hwlib.train", *flags, "--auto_resume"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    resume, points, redone, startup = T.run_paths(cfg)["resume_checkpoint"], [], 0, []
    for target in sorted(rng.sample(range(2, steps - 1), kills)):
        t0, step = time.perf_counter(), 0
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for line in proc.stdout:
            if line.startswith("step "):
                if not step:
                    startup.append(time.perf_counter() - t0)
                step = int(line.split()[1].rstrip(":"))
                if step >= target:
                    break
        proc.kill()
        proc.wait()
        proc.stdout.close()
        saved = safe_torch_load(resume)["step"] if resume.exists() else 0  # always loadable
        points.append(step)
        redone += step - saved
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    lines = [json.loads(x) for x in T.run_paths(cfg)["metrics"].open()]
    same_losses = [m["loss"] for m in lines] == [m["loss"] for m in straight["history"]]
    same_weights = done.returncode == 0
    if same_weights:
        a, b = (load_checkpoint(s).state_dict()
                for s in (T.run_paths(cfg)["checkpoint"], straight["checkpoint"]))
        same_weights = all(torch.equal(a[k], b[k]) for k in a)
    print(f"kill points survived: {len(points)} SIGKILLs (after the metric lines of steps "
          f"{points}) then --auto_resume, checkpoints every {every} of {steps} steps")
    print(f"  {redone} steps redone from the last checkpoints; a restart takes "
          f"{sum(startup) / len(startup):.1f} s to its first step; final losses identical: "
          f"{same_losses}, final weights identical: {same_weights}")
    return 0 if same_losses and same_weights else 1


def _damaged_warc(tmp, damage: int, rng) -> int:
    """The bundled WARC with garbage, truncated and giant members slipped between its records."""
    import contextlib
    import gzip
    import io
    import re

    from warcio.warcwriter import WARCWriter

    from hwlib import preprocess as pp
    from hwlib.utils import DATA_DIR

    raw = (DATA_DIR / "sample.warc.gz").read_bytes()
    starts = [m.start() for m in re.finditer(rb"\x1f\x8b\x08", raw)] + [len(raw)]
    members = [raw[s:e] for s, e in zip(starts, starts[1:])]
    giant = io.BytesIO()
    w = WARCWriter(giant, gzip=True)
    page = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + b"<p>Big words.</p>" * 9000
    w.write_record(w.create_warc_record("http://giant/", "response",
                                        payload=io.BytesIO(page), length=len(page)))
    make = {"garbage": lambda: gzip.compress(rng.randbytes(rng.randrange(1, 4000)), mtime=0),
            "truncated": lambda: (m := rng.choice(members))[: rng.randrange(10, len(m))],
            "giant": giant.getvalue}
    mixed, kinds = list(members), [rng.choice(sorted(make)) for _ in range(damage)]
    for kind in kinds:
        mixed.insert(rng.randrange(1, len(mixed) + 1), make[kind]())
    runs = {}
    for name, parts in (("clean", members), ("damaged", mixed)):
        (tmp / f"{name}.warc.gz").write_bytes(b"".join(parts))
        with contextlib.redirect_stderr(io.StringIO()):  # one warning per skipped record
            stats = pp.run_pipeline(fname=str(tmp / f"{name}.warc.gz"), output=str(tmp / name),
                                    dfname=None, progress=False, max_page_bytes=64 * 1024)
        runs[name] = (stats, (tmp / name).read_text().splitlines())
    stats, docs = runs["damaged"]
    lost = len(set(runs["clean"][1]) - set(docs))
    skips = ", ".join(f"{k} {stats[k]} ({runs['clean'][0][k]} in the clean file)"
                      for k in pp.SKIP_KINDS if stats[k])
    print(f"WARC: the bundled {len(members)} gzip members + {damage} damaged ones "
          f"({', '.join(f'{kinds.count(k)} {k}' for k in sorted(make))}): records skipped "
          f"{skips}; kept {len(docs)} documents, {lost} of the clean run's {len(runs['clean'][1])}"
          " lost")
    return lost


def _fuzz_text_stages(n: int, rng) -> None:
    import time

    from hwlib import extract, quality

    stages = {"html_to_text": extract.html_to_text, "clean_text": quality.clean_text,
              "replace_pii": quality.replace_pii, "is_english_text": quality.is_english_text,
              "heuristic_quality_filter": quality.heuristic_quality_filter}
    quality.is_english_text("warm up")  # langid's model loads once (~1 s), not per input
    chars = "0123456789.-@()+ \n\t#…•*<>/!?'\"&;:=abcXYZ"
    chars += "".join(map(chr, range(161, 9000, 7)))  # Latin-1 to CJK punctuation, a sample
    texts = ["".join(rng.choices(chars, k=rng.randrange(3000))) for _ in range(n)]
    units = ["1", ".", "-", "@", "1.", "a@", "555 ", "1.1.1.", "<!--", "<script ", "<div>", "#"]
    texts += [u * 50_000 for u in units]
    errors = 0
    print(f"fuzz: {len(texts)} inputs x {len(stages)} stages ({n} random, up to 3k characters; "
          f"{len(units)} adversarial 50k-repeat strings)")
    for name, fn in stages.items():
        slowest = 0.0
        for text in texts:
            t0 = time.perf_counter()
            try:
                fn(text)
            except Exception:
                errors += 1
            slowest = max(slowest, time.perf_counter() - t0)
        print(f"  {name:<26} slowest call {1000 * slowest:8.1f} ms")
    print(f"  exceptions: {errors}")


BENCHMARKS["reliability"] = bench_reliability


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        names = ", ".join(sorted(BENCHMARKS)) or "(none yet)"
        sys.exit(f"usage: python -m hwlib.bench NAME [options]; NAME is one of: {names}")
    BENCHMARKS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
