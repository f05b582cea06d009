"""Learning-rate schedules: linear warmup, then constant (the course's) or cosine decay to a floor.

    sched = WarmupLearningRateScheduler(optimizer, warmup_steps=100)
    for batch in batches:
        loss.backward(); optimizer.step(); sched.step()

Step convention (Hugging Face's `get_constant_schedule_with_warmup`): the scheduler counts the
optimizer updates done so far, s, and sets the lr for the next update to base_lr * factor(s). So
the lr is 0 at s = 0 (before the first update), base/2 at s = warmup/2 and the base from s = warmup
on; warmup_steps = 0 means a constant lr. Call `sched.step()` once after each `optimizer.step()`.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LRScheduler


class _FactorScheduler(LRScheduler):
    """lr = base_lr * factor(s), computed in closed form so a resumed run gets the same values."""

    def factor(self, step: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the step count and set the optimizer's lr for it (whatever the load order)."""
        super().load_state_dict(state_dict)
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr


class WarmupLearningRateScheduler(_FactorScheduler):
    """Linear warmup from 0 to the base lr over `warmup_steps` updates, then constant."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, last_epoch: int = -1):
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps = int(warmup_steps)
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int) -> float:
        return step / self.warmup_steps if step < self.warmup_steps else 1.0


class WarmupCosineScheduler(_FactorScheduler):
    """Linear warmup, then a half cosine from the base lr down to base * min_lr_ratio at
    `total_steps`, constant after (the llama2.c / TinyStories recipe)."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                 min_lr_ratio: float = 0.1, last_epoch: int = -1):
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"need 0 <= warmup_steps <= total_steps, got {warmup_steps} and "
                             f"{total_steps}")
        if not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        self.min_lr_ratio = float(min_lr_ratio)
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / self.warmup_steps
        if step >= self.total_steps:
            return self.min_lr_ratio
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))  # 1 -> 0 over the decay
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * cosine


def warmup_steps_from_ratio(total_updates: int, ratio: float) -> int:
    """The course's --warmup_ratio: warmup_steps = total_expected_updates * ratio, rounded down."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"warmup_ratio must be in [0, 1], got {ratio}")
    # the epsilon keeps 0.29 * 100 = 28.999999999999996 at 29
    return int(math.floor(total_updates * ratio + 1e-9))
