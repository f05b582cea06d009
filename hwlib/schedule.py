"""Learning-rate schedules in the course's API: `scheduler(step) -> lr`, plus a torch adapter.

    sched = WarmupLearningRateScheduler(base_lr=5e-4, warmup_steps=100)
    for update, micro_batches in enumerate(batches):          # update = 0, 1, 2, ...
        for g in optimizer.param_groups:
            g["lr"] = sched(update + 1)                       # the course's loop
        ...; optimizer.step()

The step convention is the course's run_llama.py (the README says it too): `lr_at_step(s)` is
0-indexed, base * s / W for s < W and the base from s = W on, and the loop sets the lr to
`scheduler(update + 1)` before each optimizer.step(). So update 1 runs at base/W, update W at the
base, and no update runs at lr 0 (warmup_steps = 0: the base throughout). The cosine schedule
keeps the same convention; its last planned update runs at the floor. `TorchSchedule` carries any
such schedule to code that wants a torch LRScheduler (`sched.step()` after optimizer.step()).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LRScheduler


class WarmupLearningRateScheduler:
    """Linear warmup to base_lr over `warmup_steps`, then constant (the course's class)."""

    def __init__(self, base_lr: float, warmup_steps: int):
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.base_lr, self.warmup_steps = float(base_lr), int(warmup_steps)

    def lr_at_step(self, step: int) -> float:
        """The lr at 0-indexed `step`: base * step / warmup_steps during warmup, then base."""
        if step < self.warmup_steps:
            return self.base_lr * step / self.warmup_steps
        return self.base_lr

    def __call__(self, step: int) -> float:
        return self.lr_at_step(step)


class WarmupCosineScheduler(WarmupLearningRateScheduler):
    """The course's warmup, then a half cosine from base_lr down to base * min_lr_ratio at
    `total_steps`, constant after (the llama2.c / TinyStories recipe)."""

    def __init__(self, base_lr: float, warmup_steps: int, total_steps: int,
                 min_lr_ratio: float = 0.1):
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"need 0 <= warmup_steps <= total_steps, got {warmup_steps} and "
                             f"{total_steps}")
        if not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
        super().__init__(base_lr, warmup_steps)
        self.total_steps, self.min_lr_ratio = int(total_steps), float(min_lr_ratio)

    def lr_at_step(self, step: int) -> float:
        if step < self.warmup_steps:
            return super().lr_at_step(step)
        if step >= self.total_steps:
            return self.base_lr * self.min_lr_ratio
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))  # 1 -> 0 over the decay
        return self.base_lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * cosine)


class TorchSchedule(LRScheduler):
    """A torch LRScheduler that runs update k at `schedule(k)` (the course's convention).

    `last_epoch` counts the updates done, s; the optimizer's lr is schedule(s + 1), set at
    construction and by each `step()`. Closed form, so a resumed run gets the same values; its
    state is that count alone (the schedule object is rebuilt from the flags, never pickled).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Callable[[int], float],
                 last_epoch: int = -1):
        self.schedule = schedule
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lr = float(self.schedule(self.last_epoch + 1))
        return [lr for _ in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "_step_count": self._step_count}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the update count and set the optimizer's lr for it (whatever the load order)."""
        self.last_epoch, self._step_count = state_dict["last_epoch"], state_dict["_step_count"]
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr


def warmup_steps_from_ratio(total_updates: int, ratio: float) -> int:
    """The course's --warmup_ratio: warmup_steps = total_expected_updates * ratio, rounded down."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"warmup_ratio must be in [0, 1], got {ratio}")
    if ratio == 0 or total_updates <= 0:
        return 0
    # the epsilon keeps 0.29 * 100 = 28.999999999999996 at 29; a positive ratio warms up at
    # least one update and at most all of them, as the course's loop does
    return min(max(1, int(math.floor(total_updates * ratio + 1e-9))), total_updates)
