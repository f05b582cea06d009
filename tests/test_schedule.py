"""Learning-rate schedules: boundary values, the cosine floor, resume through state_dict."""

import io
import math

import pytest
import torch

from hwlib.schedule import (
    WarmupCosineScheduler,
    WarmupLearningRateScheduler,
    warmup_steps_from_ratio,
)

BASE = 0.01


def make_optimizer() -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))], lr=BASE)


def lrs(sched_factory, n: int) -> list[float]:
    """The lr used by each of the first n optimizer updates."""
    opt = make_optimizer()
    sched = sched_factory(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_boundaries():
    got = lrs(lambda o: WarmupLearningRateScheduler(o, warmup_steps=10), 15)
    assert got[0] == 0.0  # before the first update
    assert got[5] == pytest.approx(BASE / 2)
    assert got[10] == pytest.approx(BASE)
    assert got[14] == pytest.approx(BASE)
    assert all(a < b for a, b in zip(got[:10], got[1:11]))  # strictly rising during warmup


def test_zero_warmup_is_constant():
    assert lrs(lambda o: WarmupLearningRateScheduler(o, warmup_steps=0), 5) == [BASE] * 5


def test_cosine_reaches_floor_at_total_steps():
    got = lrs(lambda o: WarmupCosineScheduler(o, 10, 110, min_lr_ratio=0.1), 130)
    assert got[0] == 0.0 and got[5] == pytest.approx(BASE / 2)
    assert got[10] == pytest.approx(BASE)
    assert got[60] == pytest.approx(BASE * (0.1 + 0.9 * 0.5))  # half way down the cosine
    assert got[110] == pytest.approx(BASE * 0.1) and got[129] == pytest.approx(BASE * 0.1)
    assert all(a >= b for a, b in zip(got[10:110], got[11:111]))  # never rises after warmup
    assert got[35] == pytest.approx(BASE * (0.1 + 0.45 * (1 + math.cos(math.pi * 0.25))))


@pytest.mark.parametrize("make", [
    lambda o: WarmupLearningRateScheduler(o, 8),
    lambda o: WarmupCosineScheduler(o, 8, 30, 0.2),
])
def test_resume_from_state_dict_continues_the_same_lrs(make):
    straight = lrs(make, 25)
    opt = make_optimizer()
    sched = make(opt)
    for _ in range(12):
        opt.step()
        sched.step()
    buf = io.BytesIO()  # through a checkpoint file, as the trainer saves it
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    saved_opt, saved = ckpt["opt"], ckpt["sched"]
    # a new process: fresh objects, scheduler built before and after loading the optimizer
    for build_first in (True, False):
        opt2 = make_optimizer()
        if build_first:
            sched2 = make(opt2)
            opt2.load_state_dict(saved_opt)
        else:
            opt2.load_state_dict(saved_opt)
            sched2 = make(opt2)
        sched2.load_state_dict(saved)
        resumed = []
        for _ in range(13):
            resumed.append(opt2.param_groups[0]["lr"])
            opt2.step()
            sched2.step()
        assert resumed == pytest.approx(straight[12:])


def test_warmup_ratio():
    assert warmup_steps_from_ratio(1000, 0.1) == 100
    assert warmup_steps_from_ratio(100, 0.29) == 29
    assert warmup_steps_from_ratio(7, 0.5) == 3
    assert warmup_steps_from_ratio(50, 0.0) == 0
    with pytest.raises(ValueError):
        warmup_steps_from_ratio(10, 1.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupLearningRateScheduler(make_optimizer(), -1)
    with pytest.raises(ValueError, match="warmup_steps <= total_steps"):
        WarmupCosineScheduler(make_optimizer(), 20, 10)
