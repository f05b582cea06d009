"""hwlib.step: the kit's train_step is the exercise's contract; update's guard and DDP wrapper."""

import math

import pytest
import torch

from hwlib.checks import check_train_step
from hwlib.distributed import Dist
from hwlib.model import Llama, LlamaConfig
from hwlib.step import make_optimizer, train_step, update
from hwlib.train import TrainConfig


def test_the_kits_train_step_passes_the_exercises_checker(capsys):
    assert check_train_step(train_step) is True  # one implementation: the reference is the kit's


def setup(**kw):
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny", vocab_size=64))
    cfg = TrainConfig(lr=1e-2, grad_clip=0.5, dtype="float32", **kw)
    opt, sched = make_optimizer(model, cfg, total=10, device=torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    micro = [(torch.randint(64, (2, 8), generator=g), torch.randint(64, (2, 8), generator=g))
             for _ in range(2)]
    return model, cfg, opt, sched, micro


def test_update_reports_the_applied_gradient_norm_and_the_lr_it_ran_at():
    model, cfg, opt, sched, micro = setup()
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    loss, norm, lr = update(model, micro, opt, sched, scaler, cfg, Dist(0, 1, torch.device("cpu")),
                            1)
    assert math.isfinite(loss) and lr == cfg.lr
    assert norm == pytest.approx(cfg.grad_clip, rel=1e-4)  # clipped: the applied gradient's norm


def test_a_non_finite_gradient_stops_before_the_weights_change():
    model, cfg, opt, sched, micro = setup()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def poisoned_step(model, optimizer, scheduler, micro_batches, grad_clip):
        for x, y in micro_batches:
            (model(x, targets=y)[1] * float("nan")).backward()
        optimizer.step()
        return 0.0

    d = Dist(0, 1, torch.device("cpu"))
    with pytest.raises(FloatingPointError, match="gradient norm is nan at step 7; stopped before"):
        update(model, micro, opt, sched, None, cfg, d, 7, train_step=poisoned_step)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
