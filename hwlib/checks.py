"""Checkers for the notebooks' exercises: compare with hwlib's reference, name the likely bug.

    from hwlib.checks import check_attention, check_scheduler
    check_attention(compute_query_key_value_scores)    # True, or AssertionError with a diagnosis
    check_scheduler(WarmupLearningRateScheduler)

Each checker runs the learner's code and the reference on several random shapes and seeds. On a
mismatch it prints the max difference and recomputes the common mistakes on the same inputs; the
one that reproduces the learner's output is named in the AssertionError.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F

from hwlib.model import compute_query_key_value_scores as reference_attention
from hwlib.schedule import WarmupLearningRateScheduler

ATOL, RTOL = 1e-5, 1e-4
# (batch, heads, seq_len, head_dim): one query alone, uneven sizes, head_dim from 4 to 32.
# seq_len != head_dim everywhere, so returning the (T, T) probabilities cannot pass by shape.
ATTENTION_SHAPES = [(1, 1, 1, 4), (2, 3, 5, 8), (1, 2, 9, 16), (3, 4, 6, 4), (2, 1, 12, 32)]
DROPOUT_P = 0.5
PROBE_SHAPE, PROBE_SEED = (2, 3, 7, 8), 1234  # where a failure's cause is diagnosed


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=ATOL, rtol=RTOL, equal_nan=True)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return math.inf
    if torch.isnan(a).any() != torch.isnan(b).any():
        return math.nan
    return float((a - b).abs().nan_to_num(0.0).max())


def _attention(q, k, v, scale=None, mask="causal", axis=-1, fill=float("-inf")):
    """The reference computation with one knob turned, to reproduce a learner's mistake."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale  # (B, heads, T, T)
    T = q.size(-2)
    if mask == "causal":
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), fill)
    elif mask == "diagonal":  # masks the query's own position too
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(0), fill)
    elif mask == "inverted":  # keeps the future, hides the past
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).tril(-1), fill)
    return F.softmax(scores, dim=axis) @ v


def _attention_mistakes(q, k, v) -> dict[str, torch.Tensor]:
    d = q.size(-1)
    probs = F.softmax(
        (q @ k.transpose(-2, -1) / math.sqrt(d)).masked_fill(
            torch.ones(q.size(-2), q.size(-2), dtype=torch.bool).triu(1), float("-inf")
        ),
        dim=-1,
    )
    return {
        "missing causal mask: every query also attends to later positions; set the scores "
        "above the diagonal to -inf before the softmax": _attention(q, k, v, mask=None),
        "causal mask inverted: the mask hides the past and keeps the future; mask j > i "
        "(torch.triu(..., diagonal=1))": _attention(q, k, v, mask="inverted"),
        "the diagonal is masked too: a query must see its own position (triu with "
        "diagonal=1), otherwise the first row is all -inf and softmax gives NaN": _attention(
            q, k, v, mask="diagonal"
        ),
        "masked scores filled with 0 instead of -inf: future positions still get weight "
        "exp(0) after the softmax": _attention(q, k, v, fill=0.0),
        "missing 1/sqrt(d) scale: divide q @ k^T by sqrt(head_dim)": _attention(q, k, v, scale=1),
        "scaled by 1/head_dim instead of 1/sqrt(head_dim)": _attention(q, k, v, scale=1 / d),
        "softmax over the wrong axis: normalise over the keys (dim=-1), so each query's "
        "weights sum to 1": _attention(q, k, v, axis=-2),
        "returned the attention probabilities: multiply them by the values": probs,
    }


def _dropout_mistakes(q, k, v, seed: int) -> dict[str, torch.Tensor]:
    """Dropout applied somewhere other than the attention probabilities, same RNG draws."""
    d, T = q.size(-1), q.size(-2)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(d)).masked_fill(future, float("-inf"))
    torch.manual_seed(seed)
    on_scores = F.softmax(F.dropout(scores, DROPOUT_P, True), dim=-1) @ v
    torch.manual_seed(seed)
    on_output = F.dropout(F.softmax(scores, dim=-1) @ v, DROPOUT_P, True)
    torch.manual_seed(seed)
    on_values = F.softmax(scores, dim=-1) @ F.dropout(v, DROPOUT_P, True)
    return {
        "dropout misplaced: applied to the scores before the softmax; apply it to the "
        "probabilities (after the softmax, before @ value)": on_scores,
        "dropout misplaced: applied to the output; apply it to the probabilities "
        "(after the softmax, before @ value)": on_output,
        "dropout misplaced: applied to the values; apply it to the probabilities "
        "(after the softmax, before @ value)": on_values,
        "dropout missing: with training=True and dropout_p > 0 the probabilities must go "
        "through F.dropout(probs, dropout_p, training)": F.softmax(scores, dim=-1) @ v,
    }


def _diagnose(got: torch.Tensor, mistakes: dict[str, torch.Tensor]) -> str:
    for name, wrong in mistakes.items():
        if _close(got, wrong):
            return name
    return "no common mistake reproduces it; print your scores, mask and probabilities"


def _fail(checker: str, where: str, diff: float, diagnosis: str) -> None:
    print(f"{checker}: mismatch {where}: max |difference| = {diff:.4g}")
    raise AssertionError(f"{checker} failed {where} (max |difference| {diff:.4g}): {diagnosis}")


def _accepts_dropout(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "dropout_p" in params and "training" in params


def _call(fn, checker: str, where: str, *args, **kwargs) -> torch.Tensor:
    out = fn(*args, **kwargs)
    if not isinstance(out, torch.Tensor):
        raise AssertionError(
            f"{checker} failed {where}: returned {type(out).__name__}, not a torch.Tensor"
        )
    return out.detach().float()


def _qkv(shape: tuple[int, int, int, int], seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=g) for _ in range(3))


def _diagnose_attention(fn, dropout: bool) -> str:
    """Rerun fn on a probe big enough that every mistake gives a different output.

    The failing case may be too small to tell mistakes apart (with seq_len 1, a missing mask,
    an inverted one and softmax over the wrong axis all give the right answer).
    """
    q, k, v = _qkv(PROBE_SHAPE, PROBE_SEED)
    where = "on the diagnosis probe"
    try:
        if not dropout:
            kwargs = {"dropout_p": 0.0, "training": False} if _accepts_dropout(fn) else {}
            got = _call(fn, "check_attention", where, q, k, v, **kwargs)
            again = _call(fn, "check_attention", where, q, k, v, **kwargs)
            if not torch.equal(got.nan_to_num(), again.nan_to_num()):
                return ("two calls on the same inputs differ: dropout (or other randomness) is "
                        "applied although training=False")
            if got.shape == (q.size(0), q.size(2), q.size(1), q.size(3)):
                return "heads and positions swapped: return (batch, heads, seq_len, head_dim)"
            return _diagnose(got, _attention_mistakes(q, k, v))
        torch.manual_seed(PROBE_SEED)
        got = _call(fn, "check_attention", where, q, k, v, dropout_p=DROPOUT_P, training=True)
        return _diagnose(got, _dropout_mistakes(q, k, v, PROBE_SEED))
    except Exception as e:  # the diagnosis must not hide the original failure
        return f"(the diagnosis probe raised {type(e).__name__}: {e})"


def check_attention(fn) -> bool:
    """Check a causal attention fn(query, key, value[, dropout_p, training]) on random inputs.

    Inputs are (batch, heads, seq_len, head_dim) float32; dropout is off for the comparison.
    When fn takes `dropout_p` and `training`, also checks that dropout is off when not
    training and sits on the attention probabilities (same seed, same draws as the reference).
    """
    name = "check_attention"
    with_dropout = _accepts_dropout(fn)
    off = {"dropout_p": 0.0, "training": False} if with_dropout else {}
    cases = [(seed, shape, *_qkv(shape, seed)) for seed, shape in enumerate(ATTENTION_SHAPES)]
    for seed, (B, H, T, D), q, k, v in cases:
        where = f"on batch={B}, heads={H}, seq_len={T}, head_dim={D} (seed {seed})"
        expected = reference_attention(q, k, v)
        got = _call(fn, name, where, q.clone(), k.clone(), v.clone(), **off)
        if got.shape != expected.shape:
            raise AssertionError(
                f"{name} failed {where}: output shape {tuple(got.shape)}, expected "
                f"{tuple(expected.shape)}: {_diagnose_attention(fn, dropout=False)}"
            )
        if not _close(got, expected):
            _fail(name, where, _max_diff(got, expected), _diagnose_attention(fn, dropout=False))
    # Dropout only once the deterministic part is right, so each failure has one cause.
    for seed, (B, H, T, D), q, k, v in cases if with_dropout else []:
        where = f"on batch={B}, heads={H}, seq_len={T}, head_dim={D} (seed {seed})"
        expected = reference_attention(q, k, v)
        got = _call(fn, name, where, q, k, v, dropout_p=DROPOUT_P, training=False)
        if not _close(got, expected):
            _fail(name, where + " with dropout_p=0.5, training=False", _max_diff(got, expected),
                  "dropout must be off when training=False (F.dropout(probs, dropout_p, training))")
        with torch.random.fork_rng(devices=[]):  # the learner's global RNG is left as it was
            torch.manual_seed(seed)
            expected = reference_attention(q, k, v, dropout_p=DROPOUT_P, training=True)
            torch.manual_seed(seed)
            got = _call(fn, name, where, q, k, v, dropout_p=DROPOUT_P, training=True)
            if not _close(got, expected):
                _fail(name, where + " with dropout_p=0.5, training=True",
                      _max_diff(got, expected), _diagnose_attention(fn, dropout=True))
    extra = " (dropout off and on)" if with_dropout else " (dropout off)"
    print(f"{name}: passed on {len(ATTENTION_SHAPES)} random cases{extra}")
    return True


# (warmup_steps, optimizer updates run, base lrs of two param groups)
SCHEDULER_CASES = [
    (4, 10, (1.0, 0.5)), (10, 16, (3e-4, 1e-3)), (1, 5, (0.1, 0.2)), (7, 7, (2.0, 1.0))
]


def _lr_trace(cls, warmup: int, updates: int, base_lrs) -> list[list[float]]:
    """lr of each param group before the first update (step 0) and after each update."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in base_lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs)]
    optimizer = torch.optim.SGD(groups, lr=base_lrs[0])
    scheduler = cls(optimizer, warmup)
    trace = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(updates):
        optimizer.step()
        scheduler.step()
        trace.append([g["lr"] for g in optimizer.param_groups])
    return trace


def _step_name(step: int, warmup: int, updates: int) -> str:
    # Later entries win where the boundaries coincide (warmup_steps=1, or warmup = the last step).
    names = {updates: "the last step", warmup - 1: "step warmup-1", warmup: "step warmup"}
    names[0] = "step 0 (before the first update)"
    return names.get(step, f"step {step}")


def _scheduler_diagnosis(trace, step: int, group: int, want: float, base: float, warmup: int):
    """Name the likely bug from the learner's lr trace at the first wrong step."""
    got = trace[step][group]
    factor = got / base
    if group > 0:  # group 0 was right at this step
        return "each param group must be scaled from its own base lr (self.base_lrs)"
    if step > 0 and all(lrs[group] == 0 for lrs in trace[step:]):
        return ("the lr never rises from 0: scale the base lr (self.base_lrs), not the current lr "
                "(which is 0 after step 0)")
    if step == 0:
        if math.isclose(factor, 1 / warmup, rel_tol=1e-6):
            return ("off by one at step 0: lr must be 0 before the first update (factor "
                    "step / warmup_steps, not (step + 1) / warmup_steps)")
        return "lr at step 0 must be 0: the factor is step / warmup_steps (the HF convention)"
    if step < warmup:
        if factor > want / base:
            return (f"off by one at step {step}: lr should be {step}/{warmup} of the base lr; "
                    "yours runs ahead (divide by warmup_steps, not warmup_steps - 1)")
        return f"off by one at step {step}: lr should be {step}/{warmup} of the base lr; yours lags"
    if step == warmup and math.isclose(factor, (warmup - 1) / warmup, rel_tol=1e-6):
        return "off by one at warmup: at step warmup_steps the lr is already the base lr"
    if factor > 1 + 1e-6:
        return ("wrong after warmup: the factor keeps growing past 1; clamp it "
                "(min(1.0, step / warmup_steps))")
    return f"wrong after warmup: the lr must stay at the base lr (got {factor:.4g} x base)"


def check_scheduler(cls) -> bool:
    """Check a warmup LR scheduler class cls(optimizer, warmup_steps) against the reference.

    The convention (Hugging Face's get_constant_schedule_with_warmup): lr = base * step / warmup
    for step < warmup, then base; so lr is 0 before the first update and the base lr at warmup.
    Two param groups with different base lrs check that each group is scaled from its own base.
    """
    name = "check_scheduler"
    for warmup, updates, base_lrs in SCHEDULER_CASES:
        where_case = f"warmup_steps={warmup}, {updates} updates, base lrs {base_lrs}"
        want = _lr_trace(WarmupLearningRateScheduler, warmup, updates, base_lrs)
        try:
            got = _lr_trace(cls, warmup, updates, base_lrs)
        except NotImplementedError:  # an exercise not done yet says so, not "checker failed"
            raise
        except Exception as e:
            raise AssertionError(f"{name} failed ({where_case}): {type(e).__name__}: {e}") from e
        for step, (g_lrs, w_lrs) in enumerate(zip(got, want)):
            for group, (g, w, base) in enumerate(zip(g_lrs, w_lrs, base_lrs)):
                if math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12):
                    continue
                diagnosis = _scheduler_diagnosis(got, step, group, w, base, warmup)
                where = f"at {_step_name(step, warmup, updates)} ({where_case}, group {group})"
                print(f"{name}: mismatch {where}: expected lr {w:.6g}, got {g:.6g}, "
                      f"max |difference| = {abs(g - w):.4g}")
                raise AssertionError(f"{name} failed {where}: expected lr {w:.6g}, got {g:.6g}: "
                                     f"{diagnosis}")
    cases = len(SCHEDULER_CASES)
    print(f"{name}: passed on {cases} warmup lengths (steps 0, warmup-1, warmup, last)")
    return True
