"""hwlib.checks (attention, scheduler): correct answers written differently pass; each
known-wrong answer fails with its diagnosis."""

import math

import pytest
import torch
import torch.nn.functional as F

from hwlib.checks import ExerciseNotDone, check_attention, check_scheduler


def causal(T, diagonal=1):
    return torch.ones(T, T, dtype=torch.bool).triu(diagonal)


def attention(self, q, k, v, *, scale="sqrt", mask=True, fill=-math.inf, axis=-1, diagonal=1,
              dropout_on="probs", return_probs=False, mask_after=False, eval_dropout=False,
              rescale=True):
    """A learner's course method with one mistake switched on at a time."""
    d, T = q.size(-1), q.size(-2)
    s = {"sqrt": 1 / math.sqrt(d), "none": 1.0, "d": 1 / d}[scale]
    scores = q @ k.transpose(-2, -1) * s
    if mask and not mask_after:
        scores = scores.masked_fill(causal(T, diagonal), fill)
    drop = self.attn_dropout if self is not None else (lambda x: x)
    if eval_dropout:
        def drop(x):
            return F.dropout(x, self.attn_dropout.p, True)
    if not rescale:
        def drop(x):
            return x * (torch.rand_like(x) > self.attn_dropout.p) if self.training else x
    if dropout_on == "scores":
        scores = drop(scores)
    probs = F.softmax(scores, dim=axis)
    if mask_after:
        probs = probs.masked_fill(causal(T), 0.0)
    if dropout_on == "probs":
        probs = drop(probs)
    if return_probs:
        return probs
    if dropout_on == "values":
        v = drop(v)
    out = probs @ v
    return drop(out) if dropout_on == "output" else out


def course(self, query, key, value):
    return attention(self, query, key, value)


def masked_minus_1e9(self, query, key, value):
    T = query.size(-2)
    scores = (query @ key.transpose(-2, -1)) / math.sqrt(query.size(-1))
    scores = scores.masked_fill(causal(T), -1e9)
    return self.attn_dropout(scores.softmax(-1)) @ value


def sdpa(self, query, key, value):
    p = self.attn_dropout.p if self.training else 0.0
    return F.scaled_dot_product_attention(query, key, value, dropout_p=p, is_causal=True)


def hand_dropout(self, query, key, value):
    T = query.size(-2)
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))
    probs = (scores + torch.full((T, T), -math.inf).triu(1)).softmax(-1)
    if self.training:
        p = self.attn_dropout.p
        probs = probs * (torch.rand_like(probs) >= p).float() / (1 - p)
    return probs @ value


@pytest.mark.parametrize("fn", [course, masked_minus_1e9, sdpa, hand_dropout])
def test_correct_methods_pass_in_eval_and_train_mode(fn, capsys):
    assert check_attention(fn) is True
    assert "passed on 5 random cases (eval and train mode)" in capsys.readouterr().out


def test_plain_function_accepted(capsys):
    assert check_attention(lambda q, k, v: attention(None, q, k, v, dropout_on=None)) is True
    assert "plain function" in capsys.readouterr().out

    class Attention(torch.nn.Module):  # a bound method of the learner's module works too
        def __init__(self):
            super().__init__()
            self.attn_dropout = torch.nn.Dropout(0.3)  # in train mode: the checker's self

        def compute_query_key_value_scores(self, query, key, value):
            return attention(self, query, key, value)

    assert check_attention(Attention().compute_query_key_value_scores) is True
    assert "(eval and train mode)" in capsys.readouterr().out
    assert check_attention(Attention.compute_query_key_value_scores) is True


@pytest.mark.parametrize(
    "mistake, diagnosis",
    [
        ({"mask": False}, "missing causal mask"),
        ({"mask_after": True}, "mask applied after the softmax"),
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
        ({"eval_dropout": True}, "dropout is applied in eval mode"),
        ({"rescale": False}, "dropout not rescaled"),
    ],
)
def test_wrong_attention_is_rejected_with_its_diagnosis(mistake, diagnosis):
    def wrong(self, query, key, value):
        return attention(self, query, key, value, **mistake)

    with pytest.raises(AssertionError) as err:
        check_attention(wrong)
    assert diagnosis in str(err.value)
    assert "\n" not in str(err.value)


def test_inverted_mask_named():
    def inverted(self, query, key, value):
        T = query.size(-2)
        scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))
        return F.softmax(scores.masked_fill(causal(T).T, -math.inf), dim=-1) @ value

    with pytest.raises(AssertionError, match="causal mask inverted"):
        check_attention(inverted)


def test_attention_shape_type_and_other_errors():
    with pytest.raises(AssertionError, match=r"output shape \(2, 5, 3, 8\).*heads and positions"):
        check_attention(lambda q, k, v: attention(None, q, k, v, dropout_on=None).transpose(1, 2))
    with pytest.raises(AssertionError, match="returned ndarray, not a torch.Tensor"):
        check_attention(lambda q, k, v: attention(None, q, k, v, dropout_on=None).numpy())
    with pytest.raises(AssertionError, match="no common mistake reproduces it"):
        check_attention(lambda q, k, v: attention(None, q, k, v, dropout_on=None) * 1.01)
    with pytest.raises(AssertionError, match="RuntimeError: boom"):
        check_attention(lambda q, k, v: (_ for _ in ()).throw(RuntimeError("boom")))


def test_unfinished_exercises_are_not_done_in_one_line():
    def todo(self, query, key, value):
        raise NotImplementedError

    class Todo:
        def __init__(self, base_lr, warmup_steps):
            pass

        def lr_at_step(self, step):
            raise NotImplementedError("write lr_at_step")

    with pytest.raises(ExerciseNotDone, match="todo is not written yet") as err:
        check_attention(todo)
    assert err.value._render_traceback_() == [f"ExerciseNotDone: {err.value}"]
    with pytest.raises(NotImplementedError, match="write lr_at_step"):
        check_scheduler(Todo)


def test_checker_leaves_the_global_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_attention(course)
    assert torch.equal(torch.rand(3), expected)


# --- the course's WarmupLearningRateScheduler(base_lr, warmup_steps) --------------------------
def scheduler(rule=None):
    """A scheduler class in the course's API whose lr_at_step(step) = rule(self, step)."""

    def natural(self, step):  # the course's natural answer
        if step < self.warmup_steps:
            return self.base_lr * step / self.warmup_steps
        return self.base_lr

    class Scheduler:
        def __init__(self, base_lr, warmup_steps):
            self.base_lr, self.warmup_steps = base_lr, warmup_steps

        lr_at_step = rule or natural

        def __call__(self, step):
            return self.lr_at_step(step)

    return Scheduler


def test_course_scheduler_passes_as_class_and_as_method(capsys):
    assert check_scheduler(scheduler()) is True
    assert check_scheduler(scheduler().lr_at_step) is True
    out = capsys.readouterr().out
    assert "warmup_steps=0 included" in out

    def min_form(self, step):  # written differently, guarded against warmup_steps=0
        return self.base_lr * min(1.0, step / max(self.warmup_steps, 1)) if self.warmup_steps \
            else self.base_lr

    assert check_scheduler(min_form) is True


@pytest.mark.parametrize(
    "rule, where, diagnosis",
    [
        (lambda s, t: s.base_lr * min(1.0, t / s.warmup_steps), "warmup_steps=0",
         "division by zero"),
        (lambda s, t: s.base_lr * min(1.0, (t + 1) / max(s.warmup_steps, 1)), "at step 0",
         "not (step + 1)"),
        (lambda s, t: min(1.0, t / s.warmup_steps) if s.warmup_steps else 1.0, "base_lr=0.0003",
         "ignores base_lr"),
        (lambda s, t: s.base_lr * min(1.0, t / max(s.warmup_steps - 1, 1))
         if s.warmup_steps else s.base_lr, "at step 1", "runs ahead"),
        (lambda s, t: s.base_lr * min(1.0, max(0, t - 1) / s.warmup_steps)
         if s.warmup_steps else s.base_lr, "at step 1", "lags"),
        (lambda s, t: s.base_lr * t / s.warmup_steps if s.warmup_steps else s.base_lr,
         "at step 5", "keeps growing after warmup"),
        (lambda s, t: s.base_lr * (t / s.warmup_steps if t < s.warmup_steps else 0.5)
         if s.warmup_steps else s.base_lr, "at step 4", "must stay base_lr"),
        (lambda s, t: s.base_lr * (t / s.warmup_steps if t < s.warmup_steps else (
            (s.warmup_steps - 1) / s.warmup_steps if t == s.warmup_steps else 1.0))
         if s.warmup_steps else s.base_lr, "at step 4", "off by one at warmup"),
        (lambda s, t: s.base_lr * min(1.0, t / s.warmup_steps) if s.warmup_steps else 0.0,
         "warmup_steps=0", "base_lr at every step"),
        (lambda s, t: s.base_lr * min(1, t / s.warmup_steps) if s.warmup_steps else math.nan,
         "warmup_steps=0", "lr is nan"),
    ],
)
def test_wrong_scheduler_is_rejected_with_its_diagnosis(rule, where, diagnosis):
    with pytest.raises(AssertionError) as err:
        check_scheduler(scheduler(rule))
    msg = str(err.value)
    assert where in msg and diagnosis in msg, msg


def test_scheduler_call_type_and_crash():
    cls = scheduler()
    cls.__call__ = lambda self, step: 0.0
    with pytest.raises(AssertionError, match=r"must return lr_at_step\(step\)"):
        check_scheduler(cls)
    with pytest.raises(AssertionError, match="returned Tensor, not a float"):
        check_scheduler(lambda self, step: torch.tensor(self.base_lr))

    class Broken:
        def __init__(self, base_lr, warmup_steps):
            raise RuntimeError("boom")

    with pytest.raises(AssertionError, match="RuntimeError: boom"):
        check_scheduler(Broken)


def test_torch_lr_scheduler_is_named_as_the_wrong_api():
    class Old(torch.optim.lr_scheduler.LambdaLR):
        def __init__(self, optimizer, warmup_steps):
            super().__init__(optimizer, lambda s: min(1.0, s / warmup_steps))

    with pytest.raises(AssertionError, match=r"Old is a torch LRScheduler .* lr_at_step\(step\)"):
        check_scheduler(Old)
