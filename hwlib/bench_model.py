"""Benchmarks of the model and the trainer: generation and train steps vs transformers, tokens/s.

    python -m hwlib.bench generate | train-step | train [options]
"""

from __future__ import annotations


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

    from hwlib.checkpoint import to_transformers
    from hwlib.model import Llama, LlamaConfig

    a = _model_args(argv, "generate", batch=1, prompt_len=16, new_tokens=256, repeats=3)
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset(a.preset)).eval()
    hf = to_transformers(model)
    hf.generation_config.eos_token_id = None  # always produce exactly new_tokens
    hf.generation_config.pad_token_id = 0
    prompt = torch.randint(0, model.config.vocab_size, (a.batch, a.prompt_len))
    mask = torch.ones_like(prompt)
    out = {}

    def ours():
        out["hwlib"] = model.generate(prompt, a.new_tokens, temperature=0.0)

    def ours_bf16():
        out["bf16"] = model.generate(prompt, a.new_tokens, 0.0, dtype=torch.bfloat16)

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

    from hwlib.checkpoint import to_transformers
    from hwlib.model import Llama, LlamaConfig
    from hwlib.utils import keep_freed_memory

    a = _model_args(argv, "train-step", batch=8, seq_len=256, repeats=3)
    kept = keep_freed_memory()  # as hwlib.train does on CPU; process-wide, so for both
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset(a.preset)).train()
    hf = to_transformers(model).train()
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
    print(f"  freed memory kept by the process (hwlib.utils.keep_freed_memory, both): {kept}")


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
    from hwlib.data import TokenBlocks, micro_batches, prefetch
    from hwlib.distributed import Dist
    from hwlib.metrics import peak_flops
    from hwlib.model import Llama, LlamaConfig
    from hwlib.utils import keep_freed_memory

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
    if device.type == "cpu":
        keep_freed_memory()  # as train() does
    cfg = T.TrainConfig(block_size=a.block_size, batch_size=a.batch_size or a.micro_batch_size,
                        micro_batch_size=a.micro_batch_size, dtype=dtype, grad_clip=1.0)
    torch.manual_seed(0)
    vocab = {"vocab_size": a.vocab_size} if a.vocab_size else {}
    mc = LlamaConfig.preset(a.model_config, **vocab)
    model = Llama(dataclasses.replace(mc, max_seq_len=max(mc.max_seq_len, a.block_size)))
    model = model.to(device)
    net = torch.compile(model) if a.compile else model
    d = Dist(0, 1, device)
    updates = a.warmup + a.steps
    opt, sched = T.make_optimizer(model, cfg, updates, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == "float16")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    with tempfile.TemporaryDirectory() as tmp:  # random tokens: the speed does not depend on them
        path = Path(tmp) / "random.bin"
        n = updates * cfg.batch_size * (a.block_size + 1)
        np.random.default_rng(0).integers(0, mc.vocab_size, n, dtype=np.uint16).tofile(path)
        ds = TokenBlocks([path], a.block_size)
        pin = device.type == "cuda"
        batches = prefetch(micro_batches(ds, 0, 0, cfg.batch_size, cfg.micro_batch_size,
                                         pin=pin), 2)
        for i, micro in enumerate(batches):
            if i == a.warmup:
                sync()
                t0 = time.perf_counter()
            T.update(net, micro, opt, sched, scaler, cfg, d, i + 1)
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
