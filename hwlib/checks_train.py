"""Checkers for the training-loop and generation exercises (notebooks 05 and 06).

    from hwlib.checks import check_train_step, check_sample_next

The update step runs on a seeded tiny model built here (not the kit's Llama, so the checker does
not move when the model does); the sampler's draws are compared as distributions, so any correct
sampler passes. As everywhere in hwlib.checks: one message naming the likely bug, no reference
printed.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from hwlib.checks_web import run_learner as _run

ATOL, RTOL = 1e-5, 1e-4


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=ATOL, rtol=RTOL)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) if a.shape == b.shape else math.inf


# --- one optimizer update with gradient accumulation -----------------------------------------
VOCAB, DIM, LR, CLIP = 13, 8, 0.5, 0.05
MICRO_BATCHES = 3  # per update; the checker runs two updates


class TinyLM(nn.Module):
    """A seeded stand-in with the kit's forward contract: model(x, targets=y) -> (logits, loss)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # the learner's global RNG is left as it was
            torch.manual_seed(seed)
            self.embed, self.head = nn.Embedding(VOCAB, DIM), nn.Linear(DIM, VOCAB)

    def forward(self, x, targets=None):
        logits = self.head(self.embed(x))  # (B, T, vocab)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


def _micro_batches(seed: int, n: int = MICRO_BATCHES) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randint(VOCAB, (2, 5), generator=g), torch.randint(VOCAB, (2, 5), generator=g))
            for _ in range(n)]


def _step(model, optimizer, scheduler, micro_batches, grad_clip, mistake=None) -> float:
    """The update, or one named mistake of it, to reproduce what a learner's code did."""
    losses = []
    for x, y in micro_batches:
        if mistake == "zero each micro-batch":
            optimizer.zero_grad()
        _, loss = model(x, targets=y)
        scale = 1 if mistake == "no scale" else len(micro_batches)
        (loss / scale).backward()
        losses.append(loss.item())
        if mistake == "scheduler per micro-batch":
            scheduler.step()
    if grad_clip > 0 and mistake != "clip after step":
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    if grad_clip > 0 and mistake == "clip after step":
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if mistake != "scheduler per micro-batch":
        scheduler.step()
    if mistake != "no zero":
        optimizer.zero_grad()
    return sum(losses) / len(losses)


_STEP_MISTAKES = {
    "no scale": "the loss is not divided by the number of micro-batches (scale each loss by "
                "1 / len(micro_batches) before backward)",
    "no zero": "gradients are not zeroed: they pile up across updates (optimizer.zero_grad() "
               "after the step)",
    "zero each micro-batch": "gradients are zeroed inside the micro-batch loop: only the last "
                             "micro-batch counts; zero once per update",
    "scheduler per micro-batch": "the scheduler is stepped per micro-batch: step it once per "
                                 "update, after optimizer.step()",
    "clip after step": "gradients are not clipped before optimizer.step() (clipping after the "
                       "step, or not at all, leaves the update unclipped): call "
                       "clip_grad_norm_(model.parameters(), grad_clip) before the step",
}


def _trajectory(step_fn, grad_clip: float, mistake=None, checker="check_train_step"):
    """Two updates on a fresh tiny model: (params after each, losses, scheduler counts)."""
    model = TinyLM()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    # The lr halves every scheduler step, so stepping it per micro-batch changes the update.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5**s)
    params, losses, counts = [], [], []
    for update in range(2):
        batches = _micro_batches(update)
        where = f"on update {update + 1} ({MICRO_BATCHES} micro-batches, grad_clip={grad_clip})"
        if mistake is None and step_fn is not None:
            loss = _run(step_fn, checker, where, model, optimizer, scheduler, batches, grad_clip)
        else:
            with warnings.catch_warnings():  # a reproduced mistake may upset torch: not news
                warnings.simplefilter("ignore")
                loss = _step(model, optimizer, scheduler, batches, grad_clip, mistake)
        params.append(_flat(model))
        losses.append(loss)
        counts.append(scheduler.last_epoch)
    return params, losses, counts


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


def _diagnose_step(got_p: list[torch.Tensor], update: int, clip: float) -> str:
    for mistake, text in _STEP_MISTAKES.items():
        if clip == 0 and mistake == "clip after step":
            continue
        if _close(got_p[update], _trajectory(None, clip, mistake)[0][update]):
            return text
    if _close(got_p[update], got_p[update - 1] if update else _flat(TinyLM())):
        return "the parameters did not change: call optimizer.step()"
    return ("no common mistake reproduces the parameters; the order is: forward, scaled "
            "backward, clip, optimizer.step(), scheduler.step(), optimizer.zero_grad()")


def check_train_step(fn) -> bool:
    """Check train_step(model, optimizer, scheduler, micro_batches, grad_clip) -> float: forward
    each (x, y), backward loss / len(micro_batches), clip to grad_clip (if > 0), optimizer.step(),
    scheduler.step(), optimizer.zero_grad(); return the mean loss. Runs two updates on a seeded
    tiny model with SGD, without and with clipping."""
    name = "check_train_step"
    for clip in (0.0, CLIP):
        want_p, want_l, _ = _trajectory(None, clip)
        got_p, got_l, got_c = _trajectory(fn, clip)
        for update in range(2):
            where = f"on update {update + 1} ({MICRO_BATCHES} micro-batches, grad_clip={clip})"
            if got_c[update] != update + 1:
                steps = got_c[update] - (got_c[update - 1] if update else 0)
                diagnosis = (f"the scheduler was stepped {steps} time(s) in one update; step it "
                             "once, after optimizer.step()")
                if steps == MICRO_BATCHES:
                    diagnosis = _STEP_MISTAKES["scheduler per micro-batch"]
                raise AssertionError(f"{name} failed {where}: {diagnosis}")
            if not _close(got_p[update], want_p[update]):
                raise AssertionError(f"{name} failed {where}: parameters differ (max "
                                     f"|difference| {_max_diff(got_p[update], want_p[update]):.3g})"
                                     f": {_diagnose_step(got_p, update, clip)}")
            loss = got_l[update]
            if isinstance(loss, torch.Tensor) or not isinstance(loss, numbers.Real):
                raise AssertionError(f"{name} failed {where}: returned {type(loss).__name__}; "
                                     "return the mean loss as a Python float (loss.item())")
            if not math.isclose(loss, want_l[update], rel_tol=1e-5):
                hint = "the mean of the micro-batch losses (unscaled), as a float"
                if math.isclose(loss, want_l[update] * MICRO_BATCHES, rel_tol=1e-5):
                    hint = "the mean of the micro-batch losses, not their sum"
                raise AssertionError(f"{name} failed {where}: returned loss {loss:.4g}, expected "
                                     f"{hint}")
    print(f"{name}: passed (2 updates of 3 micro-batches, with and without clipping)")
    return True


# --- choosing the next token -----------------------------------------------------------------
# All positive and distinct (no ties), in no particular order: sampling from raw logits gives a
# valid but wrong distribution, and top-k must pick by value, not by position.
SAMPLE_LOGITS = torch.tensor([2.5, 4.0, 1.0, 3.5, 2.0, 3.0])
SAMPLE_ROWS = 8000  # identical rows, one draw each: an empirical distribution in one call
SAMPLE_CASES = [(1.0, None), (0.5, None), (1.0, 3), (2.0, 2), (0.7, 4)]
TV_TOLERANCE = 0.04  # total variation allowed between the learner's draws and the target


def _target(logits: torch.Tensor, temperature: float, top_k, mistake=None) -> torch.Tensor:
    """Next-token distribution (V,), or the one a named mistake gives."""
    k = None if top_k is None else top_k + (mistake == "k+1")
    x = logits.clone()
    if k is not None:
        x[x < torch.topk(x, k).values[-1]] = float("-inf")
    if mistake == "logits":
        return x.clamp(min=0) / x.clamp(min=0).sum()
    if mistake == "temperature after softmax":
        return F.softmax(x, dim=-1)
    return F.softmax(x / temperature, dim=-1)


_SAMPLE_MISTAKES = {
    "temperature after softmax": "temperature applied after the softmax (it cancels out): "
                                 "divide the logits by the temperature, then softmax",
    "k+1": "top-k keeps k+1 tokens: keep exactly the k largest logits",
    "logits": "sampling from the logits instead of probabilities: softmax them first",
}


def _sample(fn, logits, temperature, top_k, seed, where):
    g = torch.Generator().manual_seed(seed)
    out = _run(fn, "check_sample_next", where, logits.clone(), temperature, top_k=top_k,
               generator=g)
    if not isinstance(out, torch.Tensor) or out.shape != (logits.size(0), 1) or \
            out.dtype != torch.long:
        what = (f"shape {tuple(out.shape)}, dtype {out.dtype}" if isinstance(out, torch.Tensor)
                else type(out).__name__)
        raise AssertionError(f"check_sample_next failed {where}: returned {what}; return a "
                             f"LongTensor of shape (batch, 1) = {(logits.size(0), 1)}")
    return out


def check_sample_next(fn) -> bool:
    """Check sample_next(logits, temperature, top_k=None, generator=None) -> (B, 1) LongTensor:
    temperature 0 is greedy (argmax); else logits / temperature, keep the top k, softmax, and
    torch.multinomial with the given generator. Draws are compared as distributions, so any
    correct sampler passes."""
    name = "check_sample_next"
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 10, generator=g) * 3
    for top_k in (None, 3):
        where = f"at temperature 0 (top_k={top_k}) on logits of shape (4, 10)"
        try:
            got = _sample(fn, logits, 0.0, top_k, 0, where)
        except AssertionError as e:
            if "ZeroDivision" in str(e) or "probability tensor" in str(e) or "nan" in str(e):
                raise AssertionError(f"{name} failed {where}: division by zero at temperature 0: "
                                     "return the argmax (greedy) without dividing") from None
            raise
        if not torch.equal(got.squeeze(1), logits.argmax(-1)):
            raise AssertionError(f"{name} failed {where}: temperature 0 must be greedy (the "
                                 "argmax of the logits); division by zero there gives inf/NaN")
    rows = SAMPLE_LOGITS.expand(SAMPLE_ROWS, -1)
    for temperature, top_k in SAMPLE_CASES:
        where = f"at temperature {temperature}, top_k={top_k} (logits {SAMPLE_LOGITS.tolist()})"
        try:
            draws = _sample(fn, rows, temperature, top_k, 1, where).squeeze(1)
        except AssertionError as e:
            if "multinomial" in str(e) or "probability tensor" in str(e):
                raise AssertionError(f"{name} failed {where}: {_SAMPLE_MISTAKES['logits']}") \
                    from None
            raise
        if not torch.equal(draws, _sample(fn, rows, temperature, top_k, 1, where).squeeze(1)):
            raise AssertionError(f"{name} failed {where}: two calls with identically seeded "
                                 "generators differ: pass generator=generator to torch.multinomial")
        if draws.min() < 0 or draws.max() >= SAMPLE_LOGITS.numel():
            raise AssertionError(f"{name} failed {where}: token ids out of range")
        freq = torch.bincount(draws, minlength=SAMPLE_LOGITS.numel()).float() / SAMPLE_ROWS
        target = _target(SAMPLE_LOGITS, temperature, top_k)
        if top_k is not None and int((freq > 0).sum()) > top_k:
            extra = int((freq > 0).sum()) - top_k
            diagnosis = (_SAMPLE_MISTAKES["k+1"] if extra == 1 else
                         f"top-k keeps {top_k + extra} tokens: keep exactly the k largest logits")
            raise AssertionError(f"{name} failed {where}: {diagnosis}")
        if 0.5 * float((freq - target).abs().sum()) > TV_TOLERANCE:
            diagnosis = "the draws do not follow softmax(logits / temperature) over the top k"
            if int((freq > 0).sum()) == 1:
                diagnosis = "always the most likely token: at temperature > 0 sample with " \
                    "torch.multinomial"
            for mistake, text in _SAMPLE_MISTAKES.items():
                wrong = _target(SAMPLE_LOGITS, temperature, top_k, mistake)
                if 0.5 * float((freq - wrong).abs().sum()) <= TV_TOLERANCE:
                    diagnosis = text
                    break
            raise AssertionError(f"{name} failed {where}: {diagnosis}")
    print(f"{name}: passed (greedy at 0, {len(SAMPLE_CASES)} temperature/top-k distributions)")
    return True
