"""hwlib.checks: correct exercise answers pass; each known-wrong answer fails with its diagnosis."""

import math

import pytest
import torch
import torch.nn.functional as F

from hwlib.checks import check_attention, check_scheduler
from hwlib.model import compute_query_key_value_scores
from hwlib.schedule import WarmupLearningRateScheduler


def causal(T, diagonal=1):
    return torch.ones(T, T, dtype=torch.bool).triu(diagonal)


def attention(q, k, v, dropout_p=0.0, training=False, *, scale="sqrt", mask=True, fill=-math.inf,
              axis=-1, diagonal=1, dropout_on="probs", return_probs=False, honour_training=True):
    """A learner's attention with one mistake switched on at a time."""
    d, T = q.size(-1), q.size(-2)
    s = {"sqrt": 1 / math.sqrt(d), "none": 1.0, "d": 1 / d}[scale]
    scores = q @ k.transpose(-2, -1) * s
    if mask:
        scores = scores.masked_fill(causal(T, diagonal), fill)
    train = training if honour_training else True
    if dropout_on == "scores":
        scores = F.dropout(scores, dropout_p, train)
    probs = F.softmax(scores, dim=axis)
    if dropout_on == "probs":
        probs = F.dropout(probs, dropout_p, train)
    if return_probs:
        return probs
    if dropout_on == "values":
        v = F.dropout(v, dropout_p, train)
    out = probs @ v
    if dropout_on == "output":
        out = F.dropout(out, dropout_p, train)
    return out


def test_reference_and_independent_answers_pass(capsys):
    assert check_attention(compute_query_key_value_scores) is True
    assert "passed on 5 random cases (dropout off and on)" in capsys.readouterr().out
    assert check_attention(attention) is True
    sdpa = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    assert check_attention(sdpa) is True
    assert "(dropout off)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "mistake, diagnosis",
    [
        ({"mask": False}, "missing causal mask"),
        ({"diagonal": -1}, "causal mask inverted"),
        ({"diagonal": 0}, "the diagonal is masked too"),
        ({"fill": 0.0}, "filled with 0 instead of -inf"),
        ({"scale": "none"}, "missing 1/sqrt(d) scale"),
        ({"scale": "d"}, "1/head_dim instead of 1/sqrt(head_dim)"),
        ({"axis": -2}, "softmax over the wrong axis"),
        ({"return_probs": True}, "returned the attention probabilities"),
        ({"dropout_on": "scores"}, "applied to the scores before the softmax"),
        ({"dropout_on": "output"}, "applied to the output"),
        ({"dropout_on": "values"}, "applied to the values"),
        ({"dropout_on": None}, "dropout missing"),
        ({"honour_training": False}, "dropout must be off when training=False"),
    ],
)
def test_wrong_attention_is_rejected_with_its_diagnosis(mistake, diagnosis, capsys):
    if "diagonal" in mistake:  # "inverted" keeps the future: triu(1) of the transposed mask
        def wrong(q, k, v, dropout_p=0.0, training=False):
            T = q.size(-2)
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
            m = causal(T, 0) if mistake["diagonal"] == 0 else causal(T).T
            return F.softmax(scores.masked_fill(m, -math.inf), dim=-1) @ v
    else:
        def wrong(q, k, v, dropout_p=0.0, training=False):
            return attention(q, k, v, dropout_p, training, **mistake)
    with pytest.raises(AssertionError) as err:
        check_attention(wrong)
    assert diagnosis in str(err.value)
    shown = capsys.readouterr().out + str(err.value)
    assert "max |difference|" in shown or "output shape" in shown


def test_attention_shape_type_and_randomness_errors():
    with pytest.raises(AssertionError, match=r"output shape \(2, 5, 3, 8\).*heads and positions"):
        check_attention(lambda q, k, v: attention(q, k, v).transpose(1, 2))
    with pytest.raises(AssertionError, match="returned ndarray, not a torch.Tensor"):
        check_attention(lambda q, k, v: attention(q, k, v).numpy())
    with pytest.raises(AssertionError, match="two calls on the same inputs differ"):
        check_attention(lambda q, k, v: F.dropout(attention(q, k, v), 0.1))
    with pytest.raises(AssertionError, match="no common mistake reproduces it"):
        check_attention(lambda q, k, v: attention(q, k, v) * 1.01)


class LambdaWarmup(torch.optim.lr_scheduler.LambdaLR):
    """A correct answer written differently from the reference."""

    def __init__(self, optimizer, warmup_steps, rule=None):
        rule = rule or (lambda step: min(1.0, step / warmup_steps))
        super().__init__(optimizer, rule)


def make(rule):
    class Wrong(LambdaWarmup):
        def __init__(self, optimizer, warmup_steps):
            super().__init__(optimizer, warmup_steps, lambda step: rule(step, warmup_steps))

    return Wrong


class Compounding(torch.optim.lr_scheduler.LRScheduler):
    def __init__(self, optimizer, warmup_steps):
        self.warmup_steps = warmup_steps
        super().__init__(optimizer)

    def get_lr(self):
        f = min(1.0, self.last_epoch / self.warmup_steps)
        return [group["lr"] * f for group in self.optimizer.param_groups]


class FirstGroupOnly(torch.optim.lr_scheduler.LRScheduler):
    def __init__(self, optimizer, warmup_steps):
        self.warmup_steps = warmup_steps
        super().__init__(optimizer)

    def get_lr(self):
        f = min(1.0, self.last_epoch / self.warmup_steps)
        return [self.base_lrs[0] * f for _ in self.base_lrs]


def test_reference_and_independent_schedulers_pass(capsys):
    assert check_scheduler(WarmupLearningRateScheduler) is True
    assert check_scheduler(LambdaWarmup) is True
    assert "passed on 4 warmup lengths" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, where, diagnosis",
    [
        (make(lambda s, w: min(1.0, (s + 1) / w)), "at step 0", "not (step + 1) / warmup_steps"),
        (make(lambda s, w: 0.1), "at step 0", "lr at step 0 must be 0"),
        (make(lambda s, w: min(1.0, s / max(w - 1, 1))), "at step 1", "runs ahead"),
        (make(lambda s, w: min(1.0, max(0, s - 1) / w)), "at step 1", "lags"),
        (make(lambda s, w: s / w), "at step 5", "keeps growing past 1"),
        (make(lambda s, w: s / w if s < w else 0.5), "at step warmup ", "must stay at the base"),
        (make(lambda s, w: min(1.0, s / w) if s < 10 else 0.9), "at the last step", "base lr"),
        (Compounding, "at step 1", "never rises from 0"),
        (FirstGroupOnly, "group 1", "its own base lr"),
    ],
)
def test_wrong_scheduler_is_rejected_with_its_diagnosis(wrong, where, diagnosis, capsys):
    with pytest.raises(AssertionError) as err:
        check_scheduler(wrong)
    msg = str(err.value)
    assert where in msg and diagnosis in msg, msg
    assert "max |difference|" in capsys.readouterr().out


def test_warmup_boundaries_named():
    # (step / (warmup - 1)) is exactly right except from step 1 to warmup-1: the first case
    # (warmup 4) fails at step 1; a rule wrong only at warmup-1 is named as that boundary.
    wrong = make(lambda s, w: 1.0 if s == w - 1 and w > 1 else min(1.0, s / w))
    with pytest.raises(AssertionError, match="at step warmup-1"):
        check_scheduler(wrong)
    late = make(lambda s, w: min(1.0, s / w) if s != w else (w - 1) / w)
    with pytest.raises(AssertionError, match="at step warmup .*already the base lr"):
        check_scheduler(late)


def test_scheduler_that_crashes_is_reported():
    class Broken(LambdaWarmup):
        def __init__(self, optimizer, warmup_steps):
            raise RuntimeError("boom")

    with pytest.raises(AssertionError, match="RuntimeError: boom"):
        check_scheduler(Broken)


def test_unfinished_exercise_raises_not_implemented():
    class Todo(torch.optim.lr_scheduler.LRScheduler):
        def __init__(self, optimizer, warmup_steps):
            super().__init__(optimizer)

        def get_lr(self):
            raise NotImplementedError

    def todo(query, key, value, dropout_p=0.0, training=False):
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        check_scheduler(Todo)
    with pytest.raises(NotImplementedError):
        check_attention(todo)


def test_checker_leaves_the_global_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_attention(compute_query_key_value_scores)
    assert torch.equal(torch.rand(3), expected)
