"""The optimizer and its schedule, one update, one evaluation pass, and the divergence watch.

    opt, sched = make_optimizer(model, cfg, total, device)     # cfg: a hwlib.train.TrainConfig
    loss = train_step(model, opt, sched, micro_batches, grad_clip)   # the exercise of notebook 05
    loss, norm, lr = update(net, micro, opt, sched, scaler, cfg, d, step, train_step=yours)

`train_step` is the contract `hwlib.checks.check_train_step` checks, and the code the kit itself
runs: a learner's function of the same signature plugs into `hwlib.train.train(cfg,
train_step=...)` in its place. `update` hands either one the model wrapped so that the forward pass
runs under autocast and DDP syncs gradients once per update, and watches the optimizer step: a
non-finite gradient stops training before it reaches the weights.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist

from hwlib.data import TokenBlocks
from hwlib.distributed import Dist
from hwlib.schedule import TorchSchedule, WarmupCosineScheduler, WarmupLearningRateScheduler
from hwlib.schedule import warmup_steps_from_ratio
from hwlib.utils import autocast_context


def warmup_of(cfg, total: int) -> int:
    """Warmup updates: --warmup_steps, else --warmup_ratio of all updates (the course's rule)."""
    return cfg.warmup_steps or warmup_steps_from_ratio(total, cfg.warmup_ratio)


def make_schedule(cfg, total: int, scheduler=None):
    """lr by 0-indexed step: the learner's `scheduler` class (the course's API, built with
    (lr, warmup)), else the kit's warmup-constant or warmup-cosine schedule."""
    warmup = warmup_of(cfg, total)
    if cfg.schedule == "cosine":
        if scheduler is not None:
            raise ValueError("a WarmupLearningRateScheduler plugged in is warmup-then-constant; "
                             "use --schedule constant with it")
        return WarmupCosineScheduler(cfg.lr, warmup, total, min_lr_ratio=cfg.min_lr_ratio)
    return (scheduler or WarmupLearningRateScheduler)(cfg.lr, warmup)


def resume_length(cfg, old: dict, total: int, per_epoch: int, done: int) -> str:
    """Allow other --epochs/--max_steps on resume where the schedule of the updates done stays
    the same; returns what changed (for the resume line), raises naming why not."""
    old_total = min(old.get("max_steps") or math.inf, old.get("epochs", 0) * per_epoch)
    if old_total == total:
        return ""
    was = f"--epochs {old.get('epochs')} --max_steps {old.get('max_steps')}"
    why = ("cosine decays to its floor at the planned last update, so the lr of the updates "
           "done would change" if cfg.schedule == "cosine" else
           "--warmup_ratio would give another warmup" if warmup_of(cfg, total) !=
           warmup_of(cfg, old_total) else
           f"{done} updates are done already" if total < done else "")
    if why:
        raise ValueError(f"resume file written with {was} ({old_total} updates), now "
                         f"{total}: {why}; rerun with the same flags, or pick another --run_name")
    return (f" ({was} -> --epochs {cfg.epochs} --max_steps {cfg.max_steps}: {total} updates in "
            f"all, was {old_total})")


def make_optimizer(model: torch.nn.Module, cfg, total: int, device: torch.device,
                   scheduler=None) -> tuple[torch.optim.AdamW, TorchSchedule]:
    """AdamW (decay on matrices only, fused on CUDA) and its schedule as a torch scheduler:
    update k runs at schedule(k), as in the course's loop (see hwlib.schedule)."""
    ps = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in ps if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, fused=device.type == "cuda")
    return opt, TorchSchedule(opt, make_schedule(cfg, total, scheduler))


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler,
               micro_batches: list, grad_clip: float,
               scaler: torch.amp.GradScaler | None = None) -> float:
    """One update from (x, y) micro-batches; returns the mean of their losses as a float.

    Forward each, backward loss / len(micro_batches), clip to grad_clip (if > 0),
    optimizer.step(), scheduler.step(), zero the gradients. `scaler` (the kit's float16 path,
    not part of the exercise) scales the loss and skips steps with inf/NaN gradients.
    """
    scaler = scaler or torch.amp.GradScaler("cpu", enabled=False)  # disabled: a no-op
    losses = []
    for x, y in micro_batches:
        _, loss = model(x, targets=y)
        # Micro-batches hold equal token counts, so the mean of their mean losses is the big
        # batch's mean loss, and the summed gradients are exactly the big batch's gradient.
        scaler.scale(loss / len(micro_batches)).backward()
        losses.append(loss.detach().float())
    if grad_clip > 0:
        scaler.unscale_(optimizer)  # clip the true gradient, not the scaled one
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()  # once per update, after the optimizer: the next update's lr
    optimizer.zero_grad(set_to_none=True)
    return torch.stack(losses).mean().item()


_REFERENCE = train_step  # `update`'s parameter of the same name shadows it


class _Forward(torch.nn.Module):
    """The net as a train_step sees it: autocast on each forward, and under DDP gradients are
    averaged over processes once, in the backward of the update's last micro-batch."""

    def __init__(self, net: torch.nn.Module, d: Dist, dtype: str, micro_batches: int):
        super().__init__()
        self.net, self.d, self.dtype, self.left = net, d, dtype, micro_batches
        self.losses = []  # detached, read only when a gradient turns out non-finite

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None):
        self.left -= 1
        last = self.d.world == 1 or self.left <= 0
        # no_sync only has to cover the forward: DDP decides there whether backward all-reduces.
        with contextlib.nullcontext() if last else self.net.no_sync():
            with autocast_context(self.d.device, self.dtype):
                logits, loss = self.net(x, targets)
        if loss is not None:
            self.losses.append(loss.detach())
        return logits, loss


def update(net: torch.nn.Module, micro: list, opt: torch.optim.Optimizer, sched,
           scaler: torch.amp.GradScaler, cfg, d: Dist, step: int,
           train_step: Callable = train_step) -> tuple[float, float, float]:
    """Update `step` (1-based) through `train_step`; returns (loss, grad norm, lr).

    `cfg` is a TrainConfig (its dtype and grad_clip are read). The grad norm is that of the
    gradient the optimizer applied (after clipping), measured in an optimizer step pre-hook, which
    also stops the run, before the weights change, when that gradient is not finite.
    """
    micro = [(x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True))
             for x, y in micro]
    lr = opt.param_groups[0]["lr"]  # set for this update by the scheduler's previous step
    seen = {"norm": math.nan}  # stays NaN when the GradScaler skips the step
    model = _Forward(net, d, cfg.dtype, len(micro))

    def check(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"]
                 if p.grad is not None]
        norm = seen["norm"] = torch.nn.utils.get_total_norm(grads).item() if grads else 0.0
        if not math.isfinite(norm):
            bad = [v for v in map(float, model.losses) if not math.isfinite(v)]
            what = f"loss is {bad[0]}" if bad else f"gradient norm is {norm}"
            raise FloatingPointError(f"training {what} at step {step}; stopped before that "
                                     "update (checkpoints saved before it are kept)")

    handle = opt.register_step_pre_hook(check)
    try:
        if train_step is _REFERENCE:
            loss = train_step(model, opt, sched, micro, cfg.grad_clip, scaler=scaler)
        else:
            loss = train_step(model, opt, sched, micro, cfg.grad_clip)
    except RuntimeError as e:  # e.g. AdamW at lr 1e38: its step size overflows float32
        if "overflow" not in str(e):
            raise
        raise FloatingPointError(f"training overflowed at step {step} ({e}); lower --lr (now "
                                 f"{cfg.lr:g})") from None
    finally:
        handle.remove()
    loss = float(loss)
    if d.world > 1:  # each process saw its own micro-batches: report the global mean
        t = torch.tensor(loss, dtype=torch.float64, device=d.device)
        dist.all_reduce(t)
        loss = t.item() / d.world
    if not math.isfinite(loss):
        raise FloatingPointError(f"training loss is {loss} at step {step}; stopped (the weights "
                                 "of that update are not saved)")
    return loss, seen["norm"], lr


def watch_divergence(stuck: int, loss: float, step: int, warmup: int, vocab_size: int,
                     cfg) -> int:
    """Updates in a row, after warmup, with the loss at or above ln V (a uniform guess); raises
    once they reach cfg.diverge_window (0: never), naming the step."""
    uniform = math.log(vocab_size)
    stuck = stuck + 1 if step > warmup and loss >= uniform else 0
    if cfg.diverge_window and stuck >= cfg.diverge_window:
        raise FloatingPointError(
            f"training diverged at step {step}: the loss stayed at or above ln(vocab size) = "
            f"{uniform:.3f}, a uniform guess, for {stuck} updates (last {loss:.3f}); lower --lr "
            f"(now {cfg.lr:g})")
    return stuck


@torch.no_grad()
def evaluate_loss(net: torch.nn.Module, ds: TokenBlocks, mb: int, cfg, d: Dist) -> float:
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
