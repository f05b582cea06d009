"""Checkers for the notebooks' exercises: run the learner's code on the checker's own cases and
name the likely bug in one AssertionError message; return True when right.

    from hwlib.checks import check_attention, check_scheduler, check_sample_next
    check_attention(Attention.compute_query_key_value_scores)    # or a plain fn(q, k, v)
    check_scheduler(WarmupLearningRateScheduler)

References are computed here from the formula (never imported from the kit's moving code), and on
a mismatch the common mistakes are recomputed on the same inputs: the one that reproduces the
learner's output is named. A checker never prints a reference output. The web-data checkers live
in hwlib.checks_web (no torch there), the update-step and next-token ones in hwlib.checks_train;
all are re-exported here.
"""

from __future__ import annotations

import inspect
import math
import numbers

import torch
import torch.nn as nn
import torch.nn.functional as F

from hwlib.checks_model import check_attention_forward  # noqa: F401
from hwlib.checks_train import check_sample_next, check_train_step  # noqa: F401
from hwlib.checks_web import (  # noqa: F401  (re-exported: one import for every checker)
    ExerciseNotDone,
    check_clean_text,
    check_deduplicate_texts,
    check_heuristic_quality_filter,
    check_html_to_text,
    check_is_english_text,
    check_replace_pii,
    run_learner,
)
from hwlib.model import takes_self

__all__ = [
    "ExerciseNotDone", "check_attention", "check_attention_forward", "check_clean_text",
    "check_deduplicate_texts", "check_heuristic_quality_filter", "check_html_to_text",
    "check_is_english_text", "check_replace_pii", "check_sample_next", "check_scheduler",
    "check_train_step",
]

ATOL, RTOL = 1e-5, 1e-4


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=ATOL, rtol=RTOL, equal_nan=True)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return math.inf
    return float((a - b).abs().nan_to_num(math.inf).max())


_run = run_learner


# --- attention scores ------------------------------------------------------------------------
# (batch, heads, seq_len, head_dim): one query alone, uneven sizes, head_dim from 4 to 32.
# seq_len != head_dim everywhere, so returning the (T, T) probabilities cannot pass by shape.
ATTENTION_SHAPES = [(1, 1, 1, 4), (2, 3, 5, 8), (1, 2, 9, 16), (3, 4, 6, 4), (2, 1, 12, 32)]
PROBE_SHAPE, PROBE_SEED = (2, 3, 7, 8), 1234  # where a failure's cause is diagnosed
DROPOUT_P = 0.5


class _AttentionSelf(nn.Module):
    """Stand-in for the course's Attention: what its scores method may read from `self`."""

    def __init__(self, n_heads: int, head_dim: int, p: float):
        super().__init__()
        self.n_local_heads = self.n_local_kv_heads = self.n_heads = n_heads
        self.n_rep, self.head_dim, self.dropout = 1, head_dim, p
        self.attn_dropout = nn.Dropout(p)


def _scores_caller(fn):
    """fn as scores(q, k, v, p, training) -> float tensor; `self` is built per call."""
    if inspect.ismethod(fn) and isinstance(fn.__self__, nn.Module):
        fn = fn.__func__  # a learner's bound method: check it on the stand-in, in both modes
    method = takes_self(fn)

    def scores(q, k, v, p=0.0, training=False, where=""):
        args = (q, k, v)
        if method:
            stand_in = _AttentionSelf(q.size(1), q.size(-1), p)
            stand_in.train(training)
            args = (stand_in, *args)
        out = _run(fn, "check_attention", where, *args)
        if not isinstance(out, torch.Tensor):
            raise AssertionError(f"check_attention failed {where}: returned "
                                 f"{type(out).__name__}, not a torch.Tensor")
        return out.detach().float()

    return scores, method


def _future(T: int, diagonal: int = 1) -> torch.Tensor:
    return torch.ones(T, T, dtype=torch.bool).triu(diagonal)


def _probs(q, k, scale=None, mask="causal", axis=-1, fill=float("-inf")) -> torch.Tensor:
    """Attention probabilities with one knob turned, to reproduce a learner's mistake."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale  # (B, n_heads, T, T)
    T = q.size(-2)
    masks = {"causal": _future(T), "diagonal": _future(T, 0), "inverted": _future(T).T}
    if mask in masks:
        scores = scores.masked_fill(masks[mask], fill)
    return F.softmax(scores, dim=axis)


def _attention_mistakes(q, k, v) -> dict[str, torch.Tensor]:
    d = q.size(-1)
    unmasked = _probs(q, k, mask=None)
    return {
        "missing causal mask: every query also attends to later positions; set the scores "
        "above the diagonal to -inf before the softmax": unmasked @ v,
        "mask applied after the softmax: the probabilities of the past no longer sum to 1; "
        "mask the scores (-inf) before the softmax": unmasked.masked_fill(_future(q.size(-2)), 0)
        @ v,
        "causal mask inverted: the mask hides the past and keeps the future; mask j > i "
        "(torch.triu(..., diagonal=1))": _probs(q, k, mask="inverted") @ v,
        "the diagonal is masked too: a query must see its own position (triu with "
        "diagonal=1), otherwise the first row is all -inf and softmax gives NaN":
        _probs(q, k, mask="diagonal") @ v,
        "masked scores filled with 0 instead of -inf: future positions still get weight "
        "exp(0) after the softmax": _probs(q, k, fill=0.0) @ v,
        "missing 1/sqrt(d) scale: divide q @ k^T by sqrt(head_dim)": _probs(q, k, scale=1) @ v,
        "scaled by 1/head_dim instead of 1/sqrt(head_dim)": _probs(q, k, scale=1 / d) @ v,
        "softmax over the wrong axis: normalise over the keys (dim=-1), so each query's "
        "weights sum to 1": _probs(q, k, axis=-2) @ v,
        "returned the attention probabilities: multiply them by the values": _probs(q, k),
    }


def _qkv(shape: tuple[int, int, int, int], seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=g) for _ in range(3))


def _diagnose_attention(scores) -> str:
    """Rerun on a probe big enough that every mistake gives a different output (with seq_len 1,
    a missing mask, an inverted one and the wrong softmax axis all give the right answer)."""
    q, k, v = _qkv(PROBE_SHAPE, PROBE_SEED)
    try:
        got = scores(q, k, v, where="on the diagnosis probe")
    except Exception as e:  # the diagnosis must not hide the original failure
        return f"(the diagnosis probe raised {type(e).__name__}: {e})"
    if got.shape == (q.size(0), q.size(2), q.size(1), q.size(3)):
        return "heads and positions swapped: return (batch, n_heads, seq_len, head_dim)"
    for name, wrong in _attention_mistakes(q, k, v).items():
        if _close(got, wrong):
            return name
    return "no common mistake reproduces it; print your scores, mask and probabilities"


def _check_attention_dropout(scores, name: str) -> None:
    """In training mode the probabilities go through self.attn_dropout, nothing else does.

    With value = [I, I] the output is the dropped probabilities twice, so the check accepts any
    inverted dropout (nn.Dropout, F.dropout or by hand): each entry is 0 or probs / (1 - p).
    """
    B, H, T, p = 2, 2, 8, DROPOUT_P
    q, k, _ = _qkv((B, H, T, 2 * T), 99)
    eye = torch.eye(T).expand(B, H, T, T)
    v = torch.cat([eye, eye], dim=-1)  # (B, n_heads, T, 2T)
    where = f"in training mode (attn_dropout p={p}, batch={B}, heads={H}, seq_len={T})"
    probs = _probs(q, k)
    with torch.random.fork_rng(devices=[]):  # the learner's global RNG is left as it was
        torch.manual_seed(0)
        got = scores(q, k, v, p, True, where=where)
        again = scores(q, k, v, p, True, where=where)
    if got.shape != (B, H, T, 2 * T):
        raise AssertionError(f"{name} failed {where}: output shape {tuple(got.shape)}")
    left, right = got[..., :T], got[..., T:]
    if _close(got, probs.repeat(1, 1, 1, 2)) and _close(again, got):
        raise AssertionError(f"{name} failed {where}: dropout missing: apply self.attn_dropout to "
                             "the probabilities (after the softmax, before @ value)")
    if not _close(left, right):
        # Dropped values zero a whole column of the visible (i >= j) part; dropped outputs don't.
        visible = ~_future(T)
        zeros = ((left == 0) & visible).sum(dim=-2)
        mixed = bool(((zeros > 0) & (zeros < visible.sum(dim=-2))).any())
        what = "output" if mixed else "values"
        raise AssertionError(f"{name} failed {where}: dropout misplaced: applied to the {what}; "
                             "apply it to the probabilities (after the softmax, before @ value)")
    kept = left != 0
    if torch.allclose(left[kept], probs[kept], atol=ATOL, rtol=RTOL) and not kept.all():
        raise AssertionError(f"{name} failed {where}: dropout not rescaled: kept probabilities "
                             "must be divided by (1 - p) (nn.Dropout does it)")
    if not torch.allclose(left[kept], probs[kept] / (1 - p), atol=ATOL, rtol=RTOL):
        raise AssertionError(f"{name} failed {where}: dropout misplaced: applied to the scores "
                             "before the softmax; apply it to the probabilities")
    dropped = float((~kept & (probs > 0)).sum() / (probs > 0).sum())
    if not 0.3 < dropped < 0.7:
        raise AssertionError(f"{name} failed {where}: {dropped:.0%} of the probabilities dropped "
                             f"with p={p}: use self.attn_dropout (its p), not another rate")


def check_attention(fn) -> bool:
    """Check the course's compute_query_key_value_scores(self, query, key, value) (or a plain
    fn(query, key, value)): causal softmax(q k^T / sqrt(head_dim)) v on (B, n_heads, T,
    head_dim) tensors, keys/values already repeated to every head, self.attn_dropout on the
    probabilities. The method form is called with a stand-in `self` in eval and train mode."""
    name = "check_attention"
    scores, method = _scores_caller(fn)
    for seed, (B, H, T, D) in enumerate(ATTENTION_SHAPES):
        q, k, v = _qkv((B, H, T, D), seed)
        where = f"on batch={B}, heads={H}, seq_len={T}, head_dim={D} (seed {seed}, eval mode)"
        expected = _probs(q, k) @ v
        got = scores(q.clone(), k.clone(), v.clone(), DROPOUT_P, False, where=where)
        if got.shape != expected.shape:
            raise AssertionError(f"{name} failed {where}: output shape {tuple(got.shape)}, "
                                 f"expected {tuple(expected.shape)}: {_diagnose_attention(scores)}")
        if not _close(got, expected):
            again = scores(q, k, v, DROPOUT_P, False, where=where)
            no_dropout = scores(q, k, v, 0.0, False, where=where)
            diagnosis = _diagnose_attention(scores)
            if not _close(got, again) or (method and _close(no_dropout, expected)):
                diagnosis = ("dropout is applied in eval mode: use self.attn_dropout, which is "
                             "off after model.eval()")
            raise AssertionError(f"{name} failed {where} (max |difference| "
                                 f"{_max_diff(got, expected):.4g}): {diagnosis}")
    if method:  # dropout only once the deterministic part is right: one cause per failure
        _check_attention_dropout(scores, name)
    extra = " (eval and train mode)" if method else " (a plain function: dropout not checked)"
    print(f"{name}: passed on {len(ATTENTION_SHAPES)} random cases{extra}")
    return True


# --- warmup scheduler ------------------------------------------------------------------------
# (base_lr, warmup_steps); warmup_steps=0 is the course's default: base lr at every step.
SCHEDULER_CASES = [(1.0, 4), (3e-4, 10), (0.1, 1), (2.0, 7), (5e-4, 0)]


def _scheduler_class(obj):
    """The learner's class, or a class wrapped around an lr_at_step(self, step) function."""
    if inspect.isclass(obj):
        return obj

    class Wrapped:
        def __init__(self, base_lr, warmup_steps):
            self.base_lr, self.warmup_steps = base_lr, warmup_steps

        def __call__(self, step):
            return self.lr_at_step(step)

    Wrapped.lr_at_step = obj
    return Wrapped


def _scheduler_diagnosis(got: list[float], base: float, warmup: int, step: int) -> str:
    """Name the likely bug from the learner's lr sequence at its first wrong step."""
    factor = got[step] / base
    if warmup == 0:
        return "with warmup_steps=0 (the course's default) the lr is base_lr at every step"
    if step == 0 and math.isclose(factor, 1 / warmup, rel_tol=1e-6):
        return ("off by one: lr_at_step(0) must be 0 (base_lr * step / warmup_steps, not "
                "(step + 1)); the loop calls scheduler(update + 1), so update 1 runs at base/W")
    ramp = [s / warmup if s < warmup else 1.0 for s in range(len(got))]
    if base != 1 and all(math.isclose(g, r, rel_tol=1e-6, abs_tol=1e-12)
                         for g, r in zip(got, ramp)):
        return "the lr ignores base_lr: return base_lr * (the warmup factor)"
    if step < warmup:
        want = step / warmup
        if factor > want:
            return (f"off by one during warmup: at step {step} the lr is {step}/{warmup} of "
                    "base_lr; yours runs ahead (divide by warmup_steps, not warmup_steps - 1)")
        return f"during warmup the lr at step {step} is {step}/{warmup} of base_lr; yours lags"
    if step == warmup and math.isclose(factor, (warmup - 1) / warmup, rel_tol=1e-6):
        return "off by one at warmup: from step warmup_steps on the lr is base_lr"
    if factor > 1 + 1e-6:
        return "the lr keeps growing after warmup: from step warmup_steps on it is base_lr"
    return f"after warmup the lr must stay base_lr (got {factor:.4g} x base_lr)"


def check_scheduler(obj) -> bool:
    """Check the course's WarmupLearningRateScheduler(base_lr, warmup_steps) (the class, or
    lr_at_step written as a method): lr_at_step(step) = base_lr * step / warmup_steps for
    step < warmup_steps, then base_lr; warmup_steps=0 gives base_lr; __call__ = lr_at_step."""
    name = "check_scheduler"
    if inspect.isclass(obj) and issubclass(obj, torch.optim.lr_scheduler.LRScheduler):
        raise AssertionError(f"{name} failed: {obj.__name__} is a torch LRScheduler taking the "
                             "optimizer; the course's API is WarmupLearningRateScheduler(base_lr, "
                             "warmup_steps) with lr_at_step(step) and __call__(step)")
    cls = _scheduler_class(obj)
    for base, warmup in SCHEDULER_CASES:
        where = f"(base_lr={base}, warmup_steps={warmup})"
        sched = _run(cls, name, where, base, warmup)
        steps = range(warmup + 4)
        got = []
        for step in steps:
            try:
                lr = _run(sched.lr_at_step, name, f"at step {step} {where}", step)
            except AssertionError as e:
                if "ZeroDivisionError" not in str(e):
                    raise
                raise AssertionError(f"{name} failed at step {step} {where}: division by zero: "
                                     "with warmup_steps=0 (the course's default) return base_lr "
                                     "without dividing by warmup_steps") from None
            if not isinstance(lr, numbers.Real) or isinstance(lr, bool):
                raise AssertionError(f"{name} failed at step {step} {where}: returned "
                                     f"{type(lr).__name__}, not a float")
            if not math.isfinite(lr):
                raise AssertionError(f"{name} failed at step {step} {where}: lr is {lr}: with "
                                     "warmup_steps=0 return base_lr without dividing by it")
            got.append(float(lr))
        want = [base * s / warmup if s < warmup else base for s in steps]
        for step, (g, w) in enumerate(zip(got, want)):
            if not math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12):
                diagnosis = _scheduler_diagnosis(got, base, warmup, step)
                raise AssertionError(f"{name} failed at step {step} {where}: expected lr {w:.6g}, "
                                     f"got {g:.6g}: {diagnosis}")
        called = [_run(sched, name, f"calling scheduler({s}) {where}", s) for s in steps]
        if any(not isinstance(c, numbers.Real) or not math.isclose(c, g, rel_tol=1e-9)
               for c, g in zip(called, got)):
            raise AssertionError(f"{name} failed {where}: scheduler(step) must return "
                                 "lr_at_step(step) (__call__)")
    print(f"{name}: passed on {len(SCHEDULER_CASES)} (base_lr, warmup_steps) cases, "
          "warmup_steps=0 included")
    return True
