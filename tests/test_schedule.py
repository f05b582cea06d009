"""Schedules: the course's API and convention, the cosine floor, resume via TorchSchedule."""

import io
import math

import pytest
import torch

from hwlib.checks import check_scheduler
from hwlib.schedule import (
    TorchSchedule,
    WarmupCosineScheduler,
    WarmupLearningRateScheduler,
    warmup_steps_from_ratio,
)

BASE = 0.01


def make_optimizer() -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))], lr=BASE)


def lrs(schedule, n: int) -> list[float]:
    """The lr each of the first n optimizer updates ran at, through TorchSchedule."""
    opt = make_optimizer()
    sched = TorchSchedule(opt, schedule)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_course_api_and_boundaries():
    s = WarmupLearningRateScheduler(BASE, warmup_steps=10)
    assert s.lr_at_step(0) == 0.0 and s(5) == pytest.approx(BASE / 2)
    assert s.lr_at_step(10) == BASE and s(14) == BASE
    assert WarmupLearningRateScheduler(BASE, 0)(0) == BASE  # the course's default: no warmup
    assert check_scheduler(WarmupLearningRateScheduler) is True


def test_update_k_runs_at_scheduler_k():
    """The course's loop sets lr = scheduler(update + 1) before update `update` (0-based)."""
    got = lrs(WarmupLearningRateScheduler(BASE, 10), 15)
    assert got[0] == pytest.approx(BASE / 10)  # update 1 at base/W, never at 0
    assert got[9] == pytest.approx(BASE)  # update W at the base
    assert got == pytest.approx([WarmupLearningRateScheduler(BASE, 10)(u + 1) for u in range(15)])
    assert lrs(WarmupLearningRateScheduler(BASE, 0), 5) == [BASE] * 5


def test_cosine_reaches_floor_at_total_steps():
    cos = WarmupCosineScheduler(BASE, 10, 110, min_lr_ratio=0.1)
    assert cos(0) == 0.0 and cos(5) == pytest.approx(BASE / 2) and cos(10) == pytest.approx(BASE)
    assert cos(60) == pytest.approx(BASE * (0.1 + 0.9 * 0.5))  # half way down the cosine
    assert cos(110) == pytest.approx(BASE * 0.1) and cos(129) == pytest.approx(BASE * 0.1)
    assert all(cos(s) >= cos(s + 1) for s in range(10, 130))  # never rises after warmup
    got = lrs(cos, 110)
    assert got[-1] == pytest.approx(BASE * 0.1)  # the last planned update runs at the floor


@pytest.mark.parametrize("make", [
    lambda: WarmupLearningRateScheduler(BASE, 8),
    lambda: WarmupCosineScheduler(BASE, 8, 30, 0.2),
])
def test_resume_from_state_dict_continues_the_same_lrs(make):
    straight = lrs(make(), 25)
    opt = make_optimizer()
    sched = TorchSchedule(opt, make())
    for _ in range(12):
        opt.step()
        sched.step()
    buf = io.BytesIO()  # through a checkpoint file, as the trainer saves it: weights_only
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    for build_first in (True, False):  # scheduler built before or after loading the optimizer
        opt2 = make_optimizer()
        if build_first:
            sched2 = TorchSchedule(opt2, make())
            opt2.load_state_dict(ckpt["opt"])
        else:
            opt2.load_state_dict(ckpt["opt"])
            sched2 = TorchSchedule(opt2, make())
        sched2.load_state_dict(ckpt["sched"])
        resumed = []
        for _ in range(13):
            resumed.append(opt2.param_groups[0]["lr"])
            opt2.step()
            sched2.step()
        assert resumed == pytest.approx(straight[12:])


def test_a_learners_class_is_what_steplr_runs():
    class Halving:  # any callable step -> lr, e.g. a learner's scheduler
        def __call__(self, step):
            return 0.5**step

    assert lrs(Halving(), 3) == [0.5, 0.25, 0.125]


def test_warmup_ratio():
    assert warmup_steps_from_ratio(1000, 0.1) == 100
    assert warmup_steps_from_ratio(100, 0.29) == 29
    assert warmup_steps_from_ratio(7, 0.5) == 3
    assert warmup_steps_from_ratio(50, 0.0) == 0
    assert warmup_steps_from_ratio(5, 0.01) == 1  # the course's: a positive ratio warms up >= 1
    with pytest.raises(ValueError):
        warmup_steps_from_ratio(10, 1.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupLearningRateScheduler(BASE, -1)
    with pytest.raises(ValueError, match="warmup_steps <= total_steps"):
        WarmupCosineScheduler(BASE, 20, 10)
    assert math.isclose(WarmupCosineScheduler(BASE, 0, 10, 0.0)(10), 0.0)
