"""Pretraining with the course's run_llama.py flags; the notebooks call `train(cfg, callbacks)`.

    python -m hwlib.train --option pretrain --model_config tiny --tokenizer tok.model \
        --data_path data/stories --val_path data/stories --block_size 128 --epochs 1
    python -m hwlib.train --option generate --pretrained-model-path runs/run/run-best.pt
    torchrun --nproc_per_node 2 -m hwlib.train --option pretrain ...   # DDP, same losses

A folder of `*.train`, `*.val` and `*.test` files (data/stories) can be data_path, val_path and
test_path at once: a split reads the files with its own suffix (.train; .val or .dev; .test) when
the folder has any, else every text file there. Checkpoints, metrics.jsonl and summary.json go to
<out_dir>/<run_name>/; `--auto_resume` continues <run_name>-resume.pt exactly where it stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from hwlib.checkpoint import load_checkpoint, save_checkpoint
from hwlib.cli import config_parser, flag, from_namespace
from hwlib.data import TokenBlocks
from hwlib.metrics import MetricSinks, metric_line, peak_flops
from hwlib.model import Llama, LlamaConfig
from hwlib.sample import sample
from hwlib.schedule import (
    WarmupCosineScheduler,
    WarmupLearningRateScheduler,
    warmup_steps_from_ratio,
)
from hwlib.tokenizer import (
    Tokenizer,
    check_vocab,
    checkpoint_tokenizer,
    load_tokenizer,
    tokenize_directory,
)
from hwlib.utils import (
    DATA_DIR,
    DTYPES,
    CheckpointError,
    atomic_torch_save,
    autocast_context,
    pick_device,
    require_file,
    safe_torch_load,
    set_seed,
)

DEFAULT_CHECKPOINT = DATA_DIR / "checkpoints" / "llama2-42M-babylm.pt"


@dataclass
class TrainConfig:
    """Every field is the command-line flag of the same name; the course's flags come first."""

    data_path: str = flag(str(DATA_DIR / "stories"), "folder of raw text files to train on")
    tokenized_dir: str | None = flag(None, "token cache folder (default: <data_path>/tokenized)")
    overwrite_tokenized: bool = flag(False, "re-tokenize even when the cache is up to date")
    block_size: int = flag(512, "tokens per training sequence")
    batch_size: int = flag(8, "sequences per optimizer update, summed over all processes")
    micro_batch_size: int | None = flag(None, "sequences per forward pass (default: batch_size)")
    epochs: int = flag(5, "passes over the training blocks")
    lr: float = flag(1e-3, "peak learning rate (AdamW)")
    warmup_steps: int = flag(0, "updates of linear warmup from 0")
    warmup_ratio: float = flag(0.0, "warmup as a fraction of all updates, when warmup_steps=0")
    val_path: str | None = flag(None, "folder of validation text")
    val_tokenized_dir: str | None = flag(None, "token cache folder for val_path")
    val_per_steps: int = flag(0, "validate every N updates (0: only at each epoch's end)")
    test_path: str | None = flag(None, "folder of test text, evaluated once at the end")
    test_tokenized_dir: str | None = flag(None, "token cache folder for test_path")
    auto_resume: bool = flag(False, "continue from <out_dir>/<run_name>/<run_name>-resume.pt")
    run_name: str = flag("run", "names the run folder and its checkpoints")
    use_gpu: bool = flag(False, "train on CUDA (or Apple MPS) when available")
    wandb_project: str | None = flag(None, "log to this wandb project (skipped if not installed)")
    wandb_entity: str | None = flag(None, "wandb team")
    seed: int = flag(1337, "seeds init, data order and sampling")
    option: str = flag("generate", "what to run", choices=("pretrain", "generate"))
    pretrained_model_path: str | None = flag(
        None, "pretrain: start from it if the file exists; generate: the model (default: this "
        "run's final)", name="pretrained-model-path")  # the course spells this one with hyphens
    generated_sentence_low_temp_out: str = flag("generated-sentence-temp-0.txt", "greedy text")
    generated_sentence_high_temp_out: str = flag("generated-sentence-temp-1.txt", "temp 0.5 text")
    # --- hwlib's additions ---
    model_config: str = flag("42M", "model preset: tiny, 260K, 15M, 42M, 110M")
    dropout: float = flag(0.0, "dropout of a fresh model (the course's hidden_dropout_prob: 0)")
    tokenizer: str | None = flag(None, "SentencePiece .model (default: data/llama2's, or for "
                                 "generate the checkpoint's own)")
    max_steps: int = flag(0, "stop after this many updates (0: run all epochs)")
    dtype: str = flag("bfloat16", "CUDA autocast dtype (CPU: float32)", choices=tuple(DTYPES))
    compile: bool = flag(False, "torch.compile the model")
    out_dir: str = flag("runs", "runs live in <out_dir>/<run_name>")
    tensorboard: bool = flag(False, "also write TensorBoard logs")
    top_k: int | None = flag(50, "generate: top-k of the temperature-0.5 sample (course: 50)")
    top_p: float | None = flag(None, "generate: nucleus p of the temperature-0.5 sample")
    prompt: str = flag("Once upon a time,", "generate: the text to continue")
    max_new_tokens: int = flag(75, "generate: tokens to add")
    weight_decay: float = flag(0.0, "AdamW weight decay of the matrices (course: 0)")
    grad_clip: float = flag(1.0, "clip the global gradient norm to this (0: never)")
    schedule: str = flag("constant", "lr after warmup", choices=("constant", "cosine"))
    min_lr_ratio: float = flag(0.1, "cosine floor, as a fraction of lr")
    log_interval: int = flag(10, "updates between metric lines and callback calls")
    save_every: int = flag(100, "updates between rolling resume checkpoints")
    progress: bool = flag(True, "tqdm bars for tokenizing and steps (metric lines stay)")
    eval_batches: int = flag(0, "cap on micro-batches per val/test evaluation (0: all)")
    num_workers: int | None = flag(None, "tokenizer processes (default: all cores)")
    prefetch: int = flag(2, "updates of batches a background thread reads ahead (0: inline)")


class StopTraining(Exception):
    """Raise from a callback to end training after the current update, checkpoints saved."""


# A resumed run must share these with the run that wrote the resume file, else it could not
# reproduce the uninterrupted run.
_RESUME_KEYS = ("data_path", "block_size", "batch_size", "epochs", "lr", "warmup_steps",
                "warmup_ratio", "seed", "model_config", "dropout", "max_steps", "schedule",
                "min_lr_ratio", "weight_decay", "grad_clip")


def build_parser() -> argparse.ArgumentParser:
    """argparse flags generated from TrainConfig's fields (one source of truth)."""
    return config_parser(TrainConfig, prog="python -m hwlib.train",
                               description=__doc__.split(";")[0])


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """TrainConfig from command-line flags."""
    return from_namespace(TrainConfig, build_parser().parse_args(argv))


# ---------------------------------------------------------------------------------------- setup
class _Dist(NamedTuple):
    rank: int
    world: int
    device: torch.device


def _init_distributed(use_gpu: bool) -> _Dist:
    """One process, or one of WORLD_SIZE started by torchrun (NCCL on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return _Dist(0, 1, pick_device(use_gpu))
    cuda = use_gpu and torch.cuda.is_available()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return _Dist(dist.get_rank(), world, device)


def _check_config(cfg: TrainConfig, world: int) -> int:
    """Refuse flags that cannot work, in one line; returns the micro-batch size."""
    mb = cfg.micro_batch_size or cfg.batch_size
    if min(cfg.batch_size, mb, cfg.block_size, cfg.log_interval, cfg.save_every) <= 0:
        raise ValueError("--batch_size, --micro_batch_size, --block_size, --log_interval and "
                         "--save_every must be positive")
    if cfg.batch_size % (mb * world):
        procs = f" x {world} processes" if world > 1 else ""
        raise ValueError(f"--batch_size {cfg.batch_size} is not divisible by "
                         f"--micro_batch_size {mb}{procs}")
    if cfg.model_config not in LlamaConfig.PRESETS:
        raise ValueError(f"--model_config {cfg.model_config!r} is not a preset; choose one of "
                         f"{', '.join(LlamaConfig.PRESETS)}")
    if not Path(cfg.data_path).is_dir():
        raise FileNotFoundError(f"{cfg.data_path}: --data_path is not a folder")
    return mb


_SUFFIXES = {"train": (".train",), "val": (".val", ".dev"), "test": (".test",)}


def _blocks(cfg: TrainConfig, split: str, tok: Tokenizer, d: _Dist) -> TokenBlocks | None:
    """A split's blocks (None without its path); rank 0 tokenizes first, so no race on the cache."""
    path, cache = {"train": (cfg.data_path, cfg.tokenized_dir),
                   "val": (cfg.val_path, cfg.val_tokenized_dir),
                   "test": (cfg.test_path, cfg.test_tokenized_dir)}[split]
    if not path:
        return None
    kw = {"tokenizer": tok, "overwrite": cfg.overwrite_tokenized, "workers": cfg.num_workers,
          "progress": cfg.progress}
    if d.rank == 0:
        bins = tokenize_directory(path, cache, **kw)
    if d.world > 1:
        dist.barrier()
        if d.rank != 0:
            bins = tokenize_directory(path, cache, **{**kw, "overwrite": False, "progress": False})
    mine = [b for b in bins if Path(b.stem).suffix in _SUFFIXES[split]]  # stories.val.bin
    return TokenBlocks(mine or bins, cfg.block_size, seed=cfg.seed)


def _build_model(cfg: TrainConfig, tok: Tokenizer, resume: dict | None) -> Llama:
    """From the resume file, else --pretrained-model-path if it exists (course), else a preset."""
    path = cfg.pretrained_model_path
    if resume is not None:
        path = run_paths(cfg)["resume_checkpoint"]
        model = Llama(LlamaConfig.from_dict(resume["model_args"]))
        try:
            model.load_state_dict(resume["model"])
        except RuntimeError as e:  # foreign weights: one line, not a page of key names
            raise CheckpointError(f"{path}: {' '.join(str(e).split())[:300]}") from None
    elif path and Path(path).exists():
        model = load_checkpoint(path).train()
        print(f"starting from the pretrained model {path}")
    else:  # a fresh model takes the tokenizer's vocabulary and fits the block size
        mc = LlamaConfig.preset(cfg.model_config, vocab_size=tok.vocab_size, dropout=cfg.dropout)
        model = Llama(dataclasses.replace(mc, max_seq_len=max(mc.max_seq_len, cfg.block_size)))
    check_vocab(model, tok, path)
    if cfg.block_size > model.config.max_seq_len:
        raise ValueError(f"{path}: --block_size {cfg.block_size} exceeds the model's max_seq_len "
                         f"{model.config.max_seq_len}")
    return model


def _optimizer(model: Llama, cfg: TrainConfig, total: int, device: torch.device):
    """AdamW (decay on matrices only, fused on CUDA) and its warmup schedule."""
    ps = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in ps if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, fused=device.type == "cuda")
    warmup = cfg.warmup_steps or warmup_steps_from_ratio(total, cfg.warmup_ratio)
    if cfg.schedule == "cosine":
        return opt, WarmupCosineScheduler(opt, warmup, total, min_lr_ratio=cfg.min_lr_ratio)
    return opt, WarmupLearningRateScheduler(opt, warmup)


# ------------------------------------------------------------------------------ batches, eval
def _micro_batches(ds, epoch: int, start: int, cfg: TrainConfig, mb: int, d: _Dist) -> Iterator:
    """Per update from `start` on: this process's micro-batches (strided over processes)."""
    order = ds.order(epoch)
    for u in range(start, len(order) // cfg.batch_size):
        batch = order[u * cfg.batch_size : (u + 1) * cfg.batch_size]
        chunks = [batch[i : i + mb] for i in range(0, cfg.batch_size, mb)][d.rank :: d.world]
        pairs = [ds.get_batch(idx) for idx in chunks]
        if d.device.type == "cuda":  # pinned pages let the copy to the GPU run asynchronously
            pairs = [(x.pin_memory(), y.pin_memory()) for x, y in pairs]
        yield pairs


def _prefetch(it: Iterator, depth: int) -> Iterator:
    """Yield from `it`, produced `depth` items ahead by one background thread."""
    if depth <= 0:
        yield from it
        return
    end = object()
    pool = ThreadPoolExecutor(1)  # one worker, so `it` is advanced in order
    try:
        ahead = deque(pool.submit(next, it, end) for _ in range(depth))
        while (item := ahead.popleft().result()) is not end:
            ahead.append(pool.submit(next, it, end))
            yield item
    finally:
        pool.shutdown(cancel_futures=True)


@torch.no_grad()
def _evaluate(net, ds: TokenBlocks, mb: int, cfg: TrainConfig, d: _Dist) -> float:
    """Mean next-token cross-entropy (nats) over ds's blocks in order, split over processes."""
    was_training = net.training
    net.eval()
    starts = list(range(0, len(ds), mb))[: cfg.eval_batches or None]
    total = torch.zeros(2, dtype=torch.float64, device=d.device)  # (sum of losses, tokens)
    for s in starts[d.rank :: d.world]:
        x, y = (t.to(d.device) for t in ds.get_batch(np.arange(s, min(s + mb, len(ds)))))
        with autocast_context(d.device, cfg.dtype):
            loss = net(x, y)[1].double()
        total += torch.stack([loss * y.numel(), torch.ones_like(loss) * y.numel()])
    if d.world > 1:
        dist.all_reduce(total)
    net.train(was_training)
    return (total[0] / total[1]).item()


# ------------------------------------------------------------------------------------- resume
def _rng_state() -> dict:
    """The RNGs training draws from (dropout): torch's CPU and CUDA generators."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}


def _set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def _load_resume(path: Path, cfg: TrainConfig, tok: Tokenizer) -> dict:
    """The resume file, refused in one line if corrupt, foreign, or written with other flags."""
    ck = safe_torch_load(path)
    needed = {"model", "model_args", "optimizer", "scheduler", "scaler", "rng", "train_config",
              "step", "epoch", "pos", "best_val_loss", "history"}
    if not isinstance(ck, dict) or not needed <= ck.keys():
        raise CheckpointError(f"{path}: not a hwlib resume checkpoint (needs {sorted(needed)})")
    old, new = ck["train_config"], asdict(cfg)
    for k in _RESUME_KEYS:
        if old.get(k) != new[k]:
            raise ValueError(f"{path}: written with --{k} {old.get(k)!r}, now {new[k]!r}; rerun "
                             "with the same flags, or pick another --run_name")
    # Another tokenizer's ids mean other text, even with the same vocabulary size.
    if ck.get("tokenizer_fingerprint", tok.fingerprint) != tok.fingerprint:
        raise ValueError(f"{path}: written with the tokenizer {ck.get('tokenizer')}, now "
                         f"{tok.model_path}; rerun with the same "
                         "--tokenizer, or pick another --run_name")
    return ck


# -------------------------------------------------------------------------------------- train
@dataclass
class _Progress:
    step: int = 0  # optimizer updates done
    epoch: int = 0  # the epoch of the next update
    pos: int = 0  # updates done in that epoch: the position in ds.order(epoch), in batches
    best_val_loss: float = math.inf
    history: list = field(default_factory=list)  # every logged metrics dict


def _update(net, micro: list, opt, sched, scaler, cfg: TrainConfig, d: _Dist, step: int):
    """One optimizer update from this process's micro-batches; returns (loss, grad norm, lr)."""
    losses = []
    for i, (x, y) in enumerate(micro):
        x, y = x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True)
        # DDP averages the gradients over processes once, after the last micro-batch.
        last = d.world == 1 or i == len(micro) - 1
        with contextlib.nullcontext() if last else net.no_sync():
            with autocast_context(d.device, cfg.dtype):
                loss = net(x, y)[1]
            # Micro-batches hold equal token counts, so the mean of their mean losses is the big
            # batch's mean loss, and the summed gradients are exactly the big batch's gradient.
            scaler.scale(loss / len(micro)).backward()
        losses.append(loss.detach().float())
    loss = torch.stack(losses).mean()
    if d.world > 1:
        dist.all_reduce(loss)
        loss /= d.world
    scaler.unscale_(opt)
    norm = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip or math.inf)
    loss, norm = loss.item(), norm.item()
    # GradScaler skips steps with inf/NaN gradients by itself; anything else non-finite is fatal.
    if not math.isfinite(loss) or not (math.isfinite(norm) or scaler.is_enabled()):
        what = f"loss is {loss}" if not math.isfinite(loss) else f"gradient norm is {norm}"
        raise FloatingPointError(f"training {what} at step {step}; stopped before that update "
                                 "(checkpoints saved before it are kept)")
    lr = opt.param_groups[0]["lr"]
    scaler.step(opt)
    scaler.update()
    opt.zero_grad(set_to_none=True)
    sched.step()  # after the update, torch's convention: update k ran with the lr of step k-1
    return loss, norm, lr


def train(cfg: TrainConfig, callbacks: Iterable[Callable[[dict], None]] = ()) -> dict:
    """Pretrain as `cfg` says; return a summary. Each callback gets every logged metrics dict.

    A callback may raise StopTraining to end after that update (checkpoints written first).
    """
    d = _init_distributed(cfg.use_gpu)
    try:
        return _train(cfg, list(callbacks), d)
    finally:
        if d.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def run_paths(cfg: TrainConfig) -> dict[str, Path]:
    """Where a run writes: its folder, checkpoints (final, best on val, resume) and metrics."""
    run_dir = Path(cfg.out_dir) / cfg.run_name
    return {"run_dir": run_dir,
            "checkpoint": run_dir / f"{cfg.run_name}-pretrain-{cfg.epochs}-{cfg.lr}.pt",
            "best_checkpoint": run_dir / f"{cfg.run_name}-best.pt",
            "resume_checkpoint": run_dir / f"{cfg.run_name}-resume.pt",
            "metrics": run_dir / "metrics.jsonl"}


def _train(cfg: TrainConfig, callbacks: list, d: _Dist) -> dict:
    mb = _check_config(cfg, d.world)
    if d.device.type != "cuda":
        cfg = dataclasses.replace(cfg, dtype="float32")  # autocast_context is CUDA-only
    elif cfg.dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        print("this GPU has no bfloat16; using float16 with a GradScaler")
        cfg = dataclasses.replace(cfg, dtype="float16")
    if d.device.type == "cuda":  # TF32 for the matmuls autocast leaves in float32 (Ampere+)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    tok = load_tokenizer(cfg.tokenizer)
    tok_info = {"tokenizer": str(tok.model_path.resolve()),
                "tokenizer_fingerprint": tok.fingerprint}
    paths, resume = run_paths(cfg), None
    if cfg.auto_resume and paths["resume_checkpoint"].exists():
        resume = _load_resume(paths["resume_checkpoint"], cfg, tok)
    train_ds, val_ds, test_ds = (_blocks(cfg, split, tok, d) for split in _SUFFIXES)
    per_epoch = len(train_ds) // cfg.batch_size  # a last partial batch is dropped
    if per_epoch == 0:
        raise ValueError(f"{cfg.data_path}: {len(train_ds)} blocks of {cfg.block_size + 1} tokens "
                         f"are fewer than --batch_size {cfg.batch_size}")
    total = min(cfg.max_steps or math.inf, cfg.epochs * per_epoch)

    set_seed(cfg.seed)
    model = _build_model(cfg, tok, resume).to(d.device)
    opt, sched = _optimizer(model, cfg, total, d.device)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.dtype == "float16")
    p = _Progress()
    if resume is not None:
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        scaler.load_state_dict(resume["scaler"])
        _set_rng_state(resume["rng"])
        p = _Progress(**{f.name: resume[f.name] for f in dataclasses.fields(_Progress)})
        print(f"resuming {paths['resume_checkpoint']} at step {p.step}")
    net = model
    if d.world > 1:
        ids = [d.device.index] if d.device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    net = torch.compile(net) if cfg.compile else net
    rank0 = d.rank == 0
    if rank0:
        paths["run_dir"].mkdir(parents=True, exist_ok=True)
        for stale in paths["run_dir"].glob(".*.tmp"):  # half-written saves of a killed run
            stale.unlink()
    sinks = MetricSinks(cfg, paths["run_dir"], p.history) if rank0 else None

    def save(kind: str, **extra) -> None:  # rank 0 writes; every write is atomic
        if rank0 and kind == "resume_checkpoint":
            state = {"model": model.state_dict(), "model_args": model.config.to_dict(),
                     "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "scaler": scaler.state_dict(), "rng": _rng_state(), **asdict(p)}
            atomic_torch_save({**state, "train_config": asdict(cfg), **tok_info}, paths[kind])
        elif rank0:
            save_checkpoint(paths[kind], model, step=p.step, train_config=asdict(cfg),
                            **tok_info, **extra)

    flops, peak = model.flops_per_token(cfg.block_size), peak_flops(d.device)
    tokens_per_step = cfg.batch_size * cfg.block_size
    bar = tqdm(total=total, initial=p.step, disable=not (rank0 and cfg.progress),
               desc=cfg.run_name, unit="step")
    t_start = t_log = time.perf_counter()
    start_step = log_step = p.step
    stopped = False
    try:
        while p.step < total and not stopped:
            batches = _prefetch(_micro_batches(train_ds, p.epoch, p.pos, cfg, mb, d), cfg.prefetch)
            with contextlib.closing(batches):
                for micro in batches:
                    loss, norm, lr = _update(net, micro, opt, sched, scaler, cfg, d, p.step + 1)
                    epoch, p.step, p.pos = p.epoch, p.step + 1, p.pos + 1
                    if p.pos == per_epoch:
                        p.epoch, p.pos = p.epoch + 1, 0
                    bar.update()
                    end = p.pos == 0 or p.step == total  # of an epoch, or of the run
                    every = cfg.val_per_steps and p.step % cfg.val_per_steps == 0
                    validate = val_ds is not None and (end or every)
                    if validate or end or p.step % cfg.log_interval == 0:
                        now = time.perf_counter()
                        tps = (p.step - log_step) * tokens_per_step / (now - t_log)
                        t_log, log_step = now, p.step
                        m = {"step": p.step, "epoch": epoch, "loss": loss, "lr": lr,
                             "tokens_per_s": tps, "grad_norm": norm}
                        if peak:
                            m["mfu"] = flops * tps / (peak * d.world)
                        if validate:
                            v = m["val_loss"] = _evaluate(net, val_ds, mb, cfg, d)
                            m["val_perplexity"] = math.exp(min(v, 50))
                            if v < p.best_val_loss:
                                p.best_val_loss = v
                                save("best_checkpoint", val_loss=v)
                        p.history.append(m)
                        if rank0:
                            sinks.log(m)
                            bar.write(metric_line(m))
                        try:
                            for cb in callbacks:
                                cb(m)
                        except StopTraining:
                            stopped = True
                    if end or stopped:
                        save("checkpoint", epoch=epoch)
                    if end or stopped or p.step % cfg.save_every == 0:
                        save("resume_checkpoint")
                    if p.step == total or stopped:
                        break
    finally:
        bar.close()
        if sinks:
            sinks.close()
    seconds = time.perf_counter() - t_start
    summary = {
        "steps": p.step, "epochs_completed": p.epoch, "stopped_early": stopped,
        "final_loss": p.history[-1]["loss"] if p.history else None,
        "best_val_loss": p.best_val_loss if math.isfinite(p.best_val_loss) else None,
        "test_loss": None, "test_perplexity": None, "tokens": p.step * tokens_per_step,
        "tokens_per_s": (p.step - start_step) * tokens_per_step / max(seconds, 1e-9),
        **{k: str(v) for k, v in paths.items()},
    }
    if test_ds is not None and not stopped:
        t = summary["test_loss"] = _evaluate(net, test_ds, mb, cfg, d)
        summary["test_perplexity"] = math.exp(min(t, 50))
        if rank0:
            print(f"test loss {t:.4f}, perplexity {summary['test_perplexity']:.2f}")
    if rank0:
        (paths["run_dir"] / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return {**summary, "history": p.history}


# ------------------------------------------------------------------------------------ generate
def generate(cfg: TrainConfig) -> list[Path]:
    """--option generate: write the greedy and the temperature-0.5 continuation of cfg.prompt."""
    path = cfg.pretrained_model_path
    if path is None:  # this run's final checkpoint, else the course's released model
        path = run_paths(cfg)["checkpoint"]
        path = path if path.exists() else require_file(DEFAULT_CHECKPOINT, "checkpoint")
    tok = checkpoint_tokenizer(path, cfg.tokenizer)
    model = load_checkpoint(path, device=pick_device(cfg.use_gpu))
    check_vocab(model, tok, path)
    print(f"loaded {path}")
    outs = []
    for temperature, out, top_k, top_p in (
        (0.0, cfg.generated_sentence_low_temp_out, None, None),
        (0.5, cfg.generated_sentence_high_temp_out, cfg.top_k, cfg.top_p),
    ):
        text = sample(model, tok, cfg.prompt, temperature, top_k, top_p, cfg.max_new_tokens,
                      seed=cfg.seed)
        Path(out).write_text(text + "\n")
        print(f"temperature {temperature}: {text}\nwrote {out}")
        outs.append(Path(out))
    return outs


# ----------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> None:
    """Parse the flags, then pretrain or generate; bad input exits with a one-line error."""
    cfg = parse_config(argv)
    try:
        if cfg.option == "pretrain":
            train(cfg)
        else:  # the course's one script also samples
            generate(cfg)
    except (ValueError, OSError, CheckpointError, FloatingPointError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
