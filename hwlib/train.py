"""Pretraining with the course's run_llama.py flags; the notebooks call `train(cfg, callbacks)`.

    python -m hwlib.train --option pretrain --model_config tiny --tokenizer tok.model \
        --data_path data/stories --val_path data/stories --block_size 128 --epochs 1
    python -m hwlib.train --option generate --pretrained-model-path runs/run/run-best.pt
    torchrun --nproc_per_node 2 -m hwlib.train --option pretrain ...   # DDP, same losses

One folder of `*.train`, `*.val`, `*.test` files can be all three paths (data.load_split).
Checkpoints, metrics.jsonl and summary.json go to <out_dir>/<run_name>/; `--auto_resume`
continues <run_name>-resume.pt exactly where it stopped.
Read top to bottom: setup, one update, evaluation, the two checkpoint kinds, logging, the loop.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from hwlib.checkpoint import load_checkpoint, load_resume, save_checkpoint, save_resume
from hwlib.checkpoint import Progress, set_rng_state
from hwlib.cli import config_parser, flag, from_namespace, load_impl
from hwlib.data import load_split, micro_batches, prefetch
from hwlib.metrics import MetricSinks, metric_line, peak_flops
from hwlib.model import Llama, LlamaConfig
from hwlib.distributed import Dist, init_distributed, train_dtype
from hwlib.sample import GenerateConfig, write_samples
from hwlib.step import evaluate_loss, make_optimizer, resume_length, update  # noqa: F401
from hwlib.step import train_step as kit_train_step, warmup_of, watch_divergence
from hwlib.tokenizer import Tokenizer, check_vocab, checkpoint_tokenizer, load_tokenizer
from hwlib.utils import DATA_DIR, DTYPES, CheckpointError, pick_device
from hwlib.utils import keep_freed_memory, require_file, set_seed, set_threads

DEFAULT_CHECKPOINT = DATA_DIR / "checkpoints" / "llama2-42M-babylm.pt"


@dataclass
class TrainConfig:
    """Every field is the command-line flag of the same name; the course's flags come first.

    The generate-only flags are GenerateConfig's; `python -m hwlib.train` takes both.
    """

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
    # The course reads it in generation only (its pretraining tokenizes with no limit).
    max_sentence_len: int | None = flag(None, "the tokenizer's max length in tokens: a longer "
                                        "prompt is cut to it (None: no limit)")
    # The course's pretraining wrapper never applies it (its model's own dropout is 0.0): kept
    # so the course's command lines run; the model's dropout is --dropout.
    hidden_dropout_prob: float = flag(0.3, "the course's classifier-head dropout; pretraining "
                                      "ignores it, as the course's does (see --dropout)")
    # --- hwlib's additions ---
    model_config: str = flag("42M", "model preset: tiny, demo, 260K, 15M, 42M, 110M")
    dropout: float = flag(0.0, "dropout of a fresh model (the course's fresh model: 0.0)")
    tokenizer: str | None = flag(None, "SentencePiece .model (default: data/llama2's, or for "
                                 "generate the checkpoint's own)")
    max_steps: int = flag(0, "stop after this many updates (0: run all epochs)")
    dtype: str = flag("bfloat16", "CUDA autocast dtype (CPU: float32)", choices=tuple(DTYPES))
    compile: bool = flag(False, "torch.compile the model")
    out_dir: str = flag("runs", "runs live in <out_dir>/<run_name>")
    tensorboard: bool = flag(False, "also write TensorBoard logs")
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
    diverge_window: int = flag(100, "stop when the loss stays at or above ln(vocab size), a "
                               "uniform guess, for this many updates after warmup (0: never)")
    impl: str | None = flag(None, "a learner's .py file: its WarmupLearningRateScheduler, "
                            "train_step, compute_query_key_value_scores and sample_next are used")
    threads: int | None = flag(None, "torch CPU threads (default: $HWLIB_THREADS, else 1 "
                               "unless the machine is idle)")


class StopTraining(Exception):
    """Raise from a callback to end training after the current update, checkpoints saved."""


# A resumed run shares these with its resume file's run (--epochs, --max_steps: resume_length).
_RESUME_KEYS = ("data_path", "block_size", "batch_size", "lr", "warmup_steps", "warmup_ratio",
                "seed", "model_config", "dropout", "schedule", "min_lr_ratio", "weight_decay",
                "grad_clip")


def build_parser() -> argparse.ArgumentParser:
    """The flags of TrainConfig and GenerateConfig (one source of truth: the dataclasses)."""
    return config_parser(TrainConfig, GenerateConfig, prog="python -m hwlib.train",
                         description=__doc__.split(";")[0])


def parse_configs(argv: list[str] | None = None) -> tuple[TrainConfig, GenerateConfig]:
    """TrainConfig and GenerateConfig from command-line flags."""
    ns = build_parser().parse_args(argv)
    return from_namespace(TrainConfig, ns), from_namespace(GenerateConfig, ns)


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """TrainConfig from command-line flags (generate-only ones are accepted and left out)."""
    return parse_configs(argv)[0]


# ---------------------------------------------------------------------------------------- setup
def _check_config(cfg: TrainConfig, world: int) -> int:
    """Refuse flags that cannot work, in one line; returns the micro-batch size."""
    mb = cfg.micro_batch_size or cfg.batch_size
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"--lr {cfg.lr}: the learning rate must be a positive number")
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


def _build_model(cfg: TrainConfig, tok: Tokenizer, resume: dict | None,
                 attention_fn=None) -> Llama:
    """From the resume file, else --pretrained-model-path if it exists (course), else a preset;
    `attention_fn` (a learner's scores method) runs in every layer."""
    path = cfg.pretrained_model_path
    if resume is not None:
        path = run_paths(cfg)["resume_checkpoint"]
        model = Llama(LlamaConfig.from_dict(resume["model_args"]), attention_fn=attention_fn)
        try:
            model.load_state_dict(resume["model"])
        except RuntimeError as e:  # foreign weights: one line, not a page of key names
            raise CheckpointError(f"{path}: {' '.join(str(e).split())[:300]}") from None
    elif path and Path(path).exists():
        model = load_checkpoint(path).train()
        if attention_fn is not None:  # the same weights in a model that calls the learner's code
            weights, model = model.state_dict(), Llama(model.config, attention_fn=attention_fn)
            model.load_state_dict(weights)
        print(f"starting from the pretrained model {path}")
    else:  # a fresh model takes the tokenizer's vocabulary and fits the block size
        mc = LlamaConfig.preset(cfg.model_config, vocab_size=tok.vocab_size, dropout=cfg.dropout)
        mc = dataclasses.replace(mc, max_seq_len=max(mc.max_seq_len, cfg.block_size))
        model = Llama(mc, attention_fn=attention_fn)
    check_vocab(model, tok, path)
    if cfg.block_size > model.config.max_seq_len:
        raise ValueError(f"{path}: --block_size {cfg.block_size} exceeds the model's max_seq_len "
                         f"{model.config.max_seq_len}")
    return model


def model_file(cfg: TrainConfig, epochs_done: int, step: int | None = None) -> Path:
    """The model file named after what it holds: the course's `<run>-pretrain-<epochs>-<lr>.pt`
    with the epochs completed, plus `-step<N>` when the run ended inside an epoch."""
    tail = f"-step{step}" if step is not None else ""
    return Path(cfg.out_dir) / cfg.run_name / f"{cfg.run_name}-pretrain-{epochs_done}-{cfg.lr}" \
        f"{tail}.pt"


def latest_model_file(cfg: TrainConfig) -> Path | None:
    """This run's model file (`model_file`'s name), None before its first epoch ends."""
    run_dir, stem = Path(cfg.out_dir) / cfg.run_name, f"{cfg.run_name}-pretrain-*-{cfg.lr}"
    found = [*run_dir.glob(f"{stem}.pt"), *run_dir.glob(f"{stem}-step*.pt")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run_paths(cfg: TrainConfig) -> dict[str, Path]:
    """Where a run writes: its folder, checkpoints (final, best on val, resume) and metrics;
    "checkpoint" as a run completing --epochs names it (one that stops sooner: `model_file`)."""
    run_dir = Path(cfg.out_dir) / cfg.run_name
    return {"run_dir": run_dir, "checkpoint": model_file(cfg, cfg.epochs),
            "best_checkpoint": run_dir / f"{cfg.run_name}-best.pt",
            "resume_checkpoint": run_dir / f"{cfg.run_name}-resume.pt",
            "metrics": run_dir / "metrics.jsonl"}


# ------------------------------------------------------------------------------------ the run
@dataclass
class _Run:
    """What the loop's functions share: one run's config, model, optimizer, data and outputs."""

    cfg: TrainConfig
    d: Dist
    mb: int  # micro-batch size
    model: Llama
    net: torch.nn.Module  # the model as trained: DDP-wrapped and/or compiled
    opt: torch.optim.Optimizer
    sched: object
    scaler: torch.amp.GradScaler
    data: tuple  # (train, val or None, test or None) TokenBlocks
    total: int  # updates in the run
    paths: dict
    tok_info: dict  # the tokenizer's path and fingerprint, stored in every checkpoint
    callbacks: list
    p: Progress = field(default_factory=Progress)
    flops: float = 0.0  # model FLOPs per token (PaLM appendix B), for MFU
    peak: float | None = None  # the device's peak FLOP/s, None when unknown
    sinks: MetricSinks | None = None
    bar: tqdm | None = None
    clock: list = field(default_factory=list)  # [time, step] of the last metric line
    rank0: bool = True  # this process writes the files and prints
    train_step: Callable = kit_train_step  # the kit's update step, or a learner's
    warmup: int = 0  # updates of warmup: the divergence watch starts after them
    stuck: int = 0  # updates in a row, after warmup, at or above the uniform-guess loss


def _start(cfg: TrainConfig, callbacks: list, d: Dist, scheduler=None, train_step=None,
           attention_fn=None) -> _Run:
    """Everything before the first update: data, model, optimizer, and the resume file if any."""
    mb = _check_config(cfg, d.world)
    cfg = dataclasses.replace(cfg, dtype=train_dtype(cfg.dtype, d.device))
    if d.device.type == "cpu":
        keep_freed_memory()  # no page faults on every step's big tensors
    tok = load_tokenizer(cfg.tokenizer)
    tok_info = {"tokenizer": str(tok.model_path.resolve()),
                "tokenizer_fingerprint": tok.fingerprint}
    paths, resume = run_paths(cfg), None
    if cfg.auto_resume and paths["resume_checkpoint"].exists():
        resume = load_resume(paths["resume_checkpoint"], asdict(cfg), _RESUME_KEYS, tok)
    tokenize = {"tokenizer": tok, "overwrite": cfg.overwrite_tokenized,
                "workers": cfg.num_workers, "progress": cfg.progress}
    data = tuple(load_split(path, cache, split, cfg.block_size, cfg.seed, d.rank, d.world,
                            **tokenize)
                 for split, path, cache in (("train", cfg.data_path, cfg.tokenized_dir),
                                            ("val", cfg.val_path, cfg.val_tokenized_dir),
                                            ("test", cfg.test_path, cfg.test_tokenized_dir)))
    per_epoch = len(data[0]) // cfg.batch_size  # a last partial batch is dropped
    if per_epoch == 0:
        raise ValueError(f"{cfg.data_path}: {len(data[0])} blocks of {cfg.block_size + 1} tokens "
                         f"are fewer than --batch_size {cfg.batch_size}")
    total = min(cfg.max_steps or math.inf, cfg.epochs * per_epoch)
    if train_step is not None and cfg.dtype == "float16":
        raise ValueError("a train_step plugged in has no GradScaler for float16: use --dtype "
                         "bfloat16 or float32")
    set_seed(cfg.seed)
    model = _build_model(cfg, tok, resume, attention_fn).to(d.device)
    opt, sched = make_optimizer(model, cfg, total, d.device, scheduler)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.dtype == "float16")
    p = Progress()
    if resume is not None:
        p = Progress(**{f.name: resume[f.name] for f in dataclasses.fields(Progress)})
        changed = resume_length(cfg, resume["train_config"], total, per_epoch, p.step)
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        scaler.load_state_dict(resume["scaler"])
        set_rng_state(resume["rng"])
        print(f"resuming {paths['resume_checkpoint']} at step {p.step}{changed}")
        paths["checkpoint"] = latest_model_file(cfg) or paths["checkpoint"]  # replaced later
    net = model
    if d.world > 1:
        ids = [d.device.index] if d.device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    net = torch.compile(net) if cfg.compile else net
    return _Run(cfg, d, mb, model, net, opt, sched, scaler, data, total, paths, tok_info,
                callbacks, p, flops=model.flops_per_token(cfg.block_size),
                peak=peak_flops(d.device), rank0=d.rank == 0,
                train_step=train_step or kit_train_step, warmup=warmup_of(cfg, total))


# -------------------------------------------------------------------------------- checkpoints
def save_resume_file(run: _Run) -> None:
    """The rolling resume file: what an exact continuation needs (rank 0 writes, atomically)."""
    if run.rank0:
        save_resume(run.paths["resume_checkpoint"], run.model, run.opt, run.sched, run.scaler,
                    asdict(run.p), asdict(run.cfg), **run.tok_info)


def save_model_file(run: _Run, kind: str, **extra) -> None:
    """A model file, "checkpoint" (final) or "best_checkpoint", in the course's format.

    The run keeps one "checkpoint", named after what it holds (`model_file`); a newer one
    replaces the older file once it is written, as the course's loop overwrites its one file.
    """
    if kind == "checkpoint":
        p, old = run.p, run.paths["checkpoint"]
        run.paths["checkpoint"] = model_file(run.cfg, p.epoch, p.step if p.pos else None)
    if run.rank0:
        save_checkpoint(run.paths[kind], run.model, step=run.p.step,
                        train_config=asdict(run.cfg), **run.tok_info, **extra)
        if kind == "checkpoint" and old != run.paths[kind] and old.exists():
            old.unlink()


# ------------------------------------------------------------------------------------ logging
def _metrics(run: _Run, epoch: int, loss: float, norm: float, lr: float) -> dict:
    """The metrics dict of this update: loss, lr, throughput since the last line, MFU."""
    now, (t_last, step_last) = time.perf_counter(), run.clock
    tps = (run.p.step - step_last) * run.cfg.batch_size * run.cfg.block_size / (now - t_last)
    run.clock[:] = [now, run.p.step]
    m = {"step": run.p.step, "epoch": epoch, "loss": loss, "lr": lr, "tokens_per_s": tps,
         "grad_norm": norm}
    if run.peak:
        m["mfu"] = run.flops * tps / (run.peak * run.d.world)
    return m


def _validate(run: _Run, m: dict) -> None:
    """Add the validation loss to m; a new best is saved as the best checkpoint."""
    v = m["val_loss"] = evaluate_loss(run.net, run.data[1], run.mb, run.cfg, run.d)
    m["val_perplexity"] = math.exp(min(v, 50))
    if v < run.p.best_val_loss:
        run.p.best_val_loss = v
        save_model_file(run, "best_checkpoint", val_loss=v)


def _log(run: _Run, m: dict) -> bool:
    """Record and print m, then hand it to the callbacks; True when one raised StopTraining."""
    run.p.history.append(m)
    if run.rank0:
        run.sinks.log(m)
        run.bar.write(metric_line(m))
    try:
        for cb in run.callbacks:
            cb(m)
    except StopTraining:
        return True
    return False


# ----------------------------------------------------------------------------------- the loop
def _after_update(run: _Run, epoch: int, loss: float, norm: float, lr: float) -> bool:
    """Log, validate and checkpoint as the flags say; True when a callback stopped the run."""
    cfg, p = run.cfg, run.p
    end = p.pos == 0 or p.step == run.total  # of an epoch, or of the run
    every = cfg.val_per_steps and p.step % cfg.val_per_steps == 0
    validate = run.data[1] is not None and (end or every)
    stopped = False
    if validate or end or p.step % cfg.log_interval == 0:
        m = _metrics(run, epoch, loss, norm, lr)
        if validate:
            _validate(run, m)
        stopped = _log(run, m)
    if end or stopped:
        save_model_file(run, "checkpoint", epoch=epoch)
    if end or stopped or p.step % cfg.save_every == 0:
        save_resume_file(run)
    return stopped


def _train_epoch(run: _Run) -> bool:
    """Updates from the current position to the end of the epoch or run; True if stopped."""
    cfg, p = run.cfg, run.p
    per_epoch = len(run.data[0]) // cfg.batch_size
    batches = prefetch(micro_batches(run.data[0], p.epoch, p.pos, cfg.batch_size, run.mb,
                                     run.d.rank, run.d.world, pin=run.d.device.type == "cuda"),
                       cfg.prefetch)
    with contextlib.closing(batches):
        for micro in batches:
            loss, norm, lr = update(run.net, micro, run.opt, run.sched, run.scaler, cfg, run.d,
                                    p.step + 1, run.train_step)
            epoch = p.advance(per_epoch)
            run.stuck = watch_divergence(run.stuck, loss, p.step, run.warmup,
                                         run.model.config.vocab_size, cfg)
            run.bar.update()
            stopped = _after_update(run, epoch, loss, norm, lr)
            if stopped or p.step == run.total:
                return stopped
    return False


def train(cfg: TrainConfig, callbacks: Iterable[Callable[[dict], None]] = (), *,
          scheduler=None, train_step: Callable | None = None, attention_fn=None) -> dict:
    """Pretrain as `cfg` says; return a summary. Each callback gets every logged metrics dict.

    A callback may raise StopTraining to end after that update (checkpoints written first).
    A learner's code runs in place of the kit's: `scheduler`, a class with the course's API
    (`WarmupLearningRateScheduler(base_lr, warmup_steps)`); `train_step`, the update (the
    contract of hwlib.step.train_step); `attention_fn`, `compute_query_key_value_scores`.
    """
    d = init_distributed(cfg.use_gpu)
    try:
        run = _start(cfg, list(callbacks), d, scheduler, train_step, attention_fn)
        return _train(run)
    finally:
        if d.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(run: _Run) -> dict:
    cfg = run.cfg
    if run.rank0:
        run.paths["run_dir"].mkdir(parents=True, exist_ok=True)
        for stale in run.paths["run_dir"].glob(".*.tmp"):  # half-written saves of a killed run
            stale.unlink()
        run.sinks = MetricSinks(run.cfg, run.paths["run_dir"], run.p.history)
    run.bar = tqdm(total=run.total, initial=run.p.step, desc=cfg.run_name, unit="step",
                   disable=not (run.rank0 and cfg.progress))
    t_start, start_step, stopped = time.perf_counter(), run.p.step, False
    run.clock[:] = [t_start, start_step]
    try:
        while run.p.step < run.total and not stopped:
            stopped = _train_epoch(run)
    finally:
        run.bar.close()
        if run.sinks:
            run.sinks.close()
    return _summary(run, stopped, time.perf_counter() - t_start, start_step)


def _summary(run: _Run, stopped: bool, seconds: float, start_step: int) -> dict:
    """The run's summary (also summary.json), after the test-set loss when there is a test set."""
    p, tokens_per_step = run.p, run.cfg.batch_size * run.cfg.block_size
    summary = {
        "steps": p.step, "epochs_completed": p.epoch, "stopped_early": stopped,
        "final_loss": p.history[-1]["loss"] if p.history else None,
        "best_val_loss": p.best_val_loss if math.isfinite(p.best_val_loss) else None,
        "test_loss": None, "test_perplexity": None, "tokens": p.step * tokens_per_step,
        "tokens_per_s": (p.step - start_step) * tokens_per_step / max(seconds, 1e-9),
        **{k: str(v) for k, v in run.paths.items()},
    }
    if run.data[2] is not None and not stopped:
        t = summary["test_loss"] = evaluate_loss(run.net, run.data[2], run.mb, run.cfg, run.d)
        summary["test_perplexity"] = math.exp(min(t, 50))
        if run.rank0:
            print(f"test loss {t:.4f}, perplexity {summary['test_perplexity']:.2f}")
    if run.rank0:
        (run.paths["run_dir"] / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return {**summary, "history": p.history}


# ----------------------------------------------------------------------------------------- CLI
def generate(cfg: TrainConfig, gen: GenerateConfig | None = None, **learner) -> list[Path]:
    """--option generate: the greedy and temperature-0.5 texts of --pretrained-model-path (else
    this run's model file, else the course's 42M); `learner`: sample_fn and/or attention_fn."""
    path = cfg.pretrained_model_path or latest_model_file(cfg)
    if path is None:
        path = require_file(DEFAULT_CHECKPOINT, "checkpoint")
    gen = gen or GenerateConfig()
    if cfg.max_sentence_len:  # the course's Tokenizer(max_sentence_len) cuts the prompt's tokens
        tok = checkpoint_tokenizer(path, cfg.tokenizer)
        ids = tok.encode(gen.prompt)  # BOS first, as the model sees it
        if len(ids) > cfg.max_sentence_len:
            gen = dataclasses.replace(gen, prompt=tok.decode(ids[: cfg.max_sentence_len]))
            print(f"prompt cut to {cfg.max_sentence_len} tokens (--max_sentence_len): "
                  f"{gen.prompt!r}")
    return write_samples(path, cfg.tokenizer, gen, cfg.seed, pick_device(cfg.use_gpu),
                         **learner)


# What --impl takes from a learner's file, by name: the keyword train() / generate() pass it as.
IMPL_PRETRAIN = {"WarmupLearningRateScheduler": "scheduler", "train_step": "train_step",
                 "compute_query_key_value_scores": "attention_fn"}
IMPL_GENERATE = {"sample_next": "sample_fn", "compute_query_key_value_scores": "attention_fn"}


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, then pretrain or generate; bad input exits with a one-line error."""
    cfg, gen = parse_configs(argv)
    try:
        set_threads(cfg.threads)  # command lines only: train() leaves a notebook's threads alone
        wanted = IMPL_PRETRAIN if cfg.option == "pretrain" else IMPL_GENERATE
        learner = load_impl(cfg.impl, wanted) if cfg.impl else {}
        if cfg.option == "pretrain":
            train(cfg, **learner)
        else:  # the course's one script also samples
            generate(cfg, gen, **learner)
    except (ValueError, OSError, CheckpointError, FloatingPointError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
