"""Checker for the attention layer's forward pass, the harder notebook 02 exercise (issue 15).

    from hwlib.checks import check_attention_forward
    check_attention_forward(attention_forward)          # def attention_forward(self, x): ...
    model = Llama(config, attention_forward=attention_forward)   # then it runs in every layer

The contract (the course's `Attention.forward(self, x)`): x is (B, T, dim), the result (B, T, dim)
at positions 0..T-1. `self` is the kit's `hwlib.model.Attention`; the forward may use
`compute_query`, `compute_key`, `compute_value`, `compute_output` (the projections),
`n_local_heads`, `n_local_kv_heads`, `n_rep`, `head_dim`, `max_seq_len`, `resid_dropout`,
`compute_query_key_value_scores(query, key, value)` (keys and values repeated to every head first),
and RoPE through `self.rope(query, key)` or the course's helper
`apply_rotary_emb(query, key, head_dim, max_seq_len)` (`hwlib.model.apply_rotary_emb_qk`), both on
(B, T, heads, head_dim). Checked in eval mode on seeded weights; the reference is recomputed here
from the formula, and on a mismatch the common mistakes are recomputed on the same input.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F

from hwlib.checks_web import ExerciseNotDone
from hwlib.checks_web import run_learner as _run
from hwlib.model import Attention, LlamaConfig

NAME = "check_attention_forward"
ATOL, RTOL = 1e-5, 1e-4
# (n_heads, n_kv_heads, T): plain multi-head first, so a missing grouped-query repeat shows as a
# failure of the later cases only; T=1 (one token) and T != n_heads (a transposed rotation fails).
FORWARD_CASES = [(4, 4, 7), (4, 2, 7), (4, 1, 5), (4, 2, 1)]
DIM, BATCH = 32, 2


def _attention(n_heads: int, n_kv_heads: int, seed: int) -> Attention:
    """The kit's Attention with large seeded weights (so each mistake moves the output a lot)."""
    cfg = LlamaConfig(vocab_size=8, dim=DIM, n_layers=1, n_heads=n_heads, n_kv_heads=n_kv_heads,
                      max_seq_len=16)
    attn = Attention(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.size(-1)))
    return attn


def _rotate(x: torch.Tensor) -> torch.Tensor:
    """RoPE on (B, T, heads, head_dim): channel pairs (2i, 2i+1) turned by t * 10000^(-2i/d)."""
    T, D = x.size(1), x.size(-1)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * 10000.0 ** (
        -torch.arange(0, D, 2, dtype=torch.float64) / D)  # (T, D/2)
    cos, sin = angle.cos().float()[:, None], angle.sin().float()[:, None]  # (T, 1, D/2)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


def _forward(attn: Attention, x: torch.Tensor, rope: str = "qk", repeat: str = "interleave",
             merge: str = "transpose", project: bool = True) -> torch.Tensor:
    """The forward pass from the formula, with one knob turned to reproduce a mistake."""
    B, T, _ = x.shape
    H, KV, D = attn.n_local_heads, attn.n_local_kv_heads, attn.head_dim
    q = (x @ attn.compute_query.weight.T).view(B, T, H, D)
    k = (x @ attn.compute_key.weight.T).view(B, T, KV, D)
    v = (x @ attn.compute_value.weight.T).view(B, T, KV, D)
    q, k, v = (_rotate(t) if name in rope else t for name, t in zip("qkv", (q, k, v)))
    if repeat == "interleave":  # kv head j serves query heads j*n_rep ... j*n_rep + n_rep - 1
        k, v = k.repeat_interleave(H // KV, dim=2), v.repeat_interleave(H // KV, dim=2)
    else:  # tiled: query head h meets kv head h % KV
        k, v = k.repeat(1, 1, H // KV, 1), v.repeat(1, 1, H // KV, 1)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, D)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(D)).masked_fill(
        torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    out = F.softmax(scores, dim=-1) @ v  # (B, H, T, D)
    if merge == "transpose":
        out = out.transpose(1, 2).reshape(B, T, H * D)
    elif merge == "no transpose":  # (B, H, T, D) read as if it were (B, T, H, D)
        out = out.reshape(B, T, H * D)
    else:  # "head_dim first": (B, T, D, H)
        out = out.permute(0, 2, 3, 1).reshape(B, T, H * D)
    return out @ attn.compute_output.weight.T if project else out


MISTAKES = {
    "RoPE not applied: rotate query and key (self.rope(query, key), or the course's "
    "apply_rotary_emb) after splitting into heads": dict(rope=""),
    "RoPE applied to the values too: rotate only query and key": dict(rope="qkv"),
    "RoPE applied to the query only: rotate the key too": dict(rope="q"),
    "RoPE applied to the key only: rotate the query too": dict(rope="k"),
    "key/value heads repeated in the wrong order: torch.repeat (or expand on the wrong axis) "
    "pairs query head h with kv head h % n_kv_heads; each kv head serves n_rep consecutive "
    "query heads (repeat_interleave(n_rep, dim=2) on (B, T, kv_heads, head_dim))":
        dict(repeat="tile"),
    "heads not merged back correctly: the scores give (B, heads, T, head_dim); transpose(1, 2) "
    "to (B, T, heads, head_dim) before viewing it as (B, T, dim)": dict(merge="no transpose"),
    "heads not merged back correctly: the channels must come out as (heads, head_dim), "
    "head-major; transpose(1, 2) then .contiguous().view(B, T, -1)": dict(merge="head_dim first"),
    "output projection missing: finish with self.compute_output(...) (and self.resid_dropout)":
        dict(project=False),
}


def _diagnose(attn: Attention, x: torch.Tensor, got: torch.Tensor) -> str:
    no_projection = list(MISTAKES)[-1]
    for message, knobs in MISTAKES.items():
        # A wrong merge often comes with the projection left out: name both when both match.
        for also in ((), (no_projection,)) if message != no_projection else ((),):
            wrong = _forward(attn, x, **knobs, **({"project": False} if also else {}))
            if wrong.shape == got.shape and torch.allclose(got, wrong, atol=ATOL, rtol=RTOL):
                return "; also ".join((message, *also))
    return ("the output differs from the attention formula (projections, heads of head_dim, "
            "RoPE on q and k, grouped-query repeat, causal scores, merge, output projection)")


def _forward_fn(fn):
    """The learner's forward as a function of (self, x); refuse the kit's own (not an answer)."""
    if inspect.ismethod(fn) and isinstance(fn.__self__, torch.nn.Module):
        fn = fn.__func__
    if fn is Attention.forward:
        raise ExerciseNotDone("attention_forward is not written yet: hwlib.model.Attention.forward "
                              "is the kit's; define attention_forward(self, x) (see 02_attention)")
    return fn


def _explain_crash(message: str, n_heads: int, n_kv_heads: int) -> str:
    if "view size is not compatible" in message:
        return ("heads not merged back correctly: after transpose(1, 2) the tensor is not "
                "contiguous, so .view fails; call .contiguous() first (or use .reshape)")
    if n_kv_heads < n_heads and ("size of tensor" in message or "shape" in message):
        return (f"no grouped-query repeat: with n_kv_heads={n_kv_heads} < n_heads={n_heads} "
                "repeat keys and values n_rep times (repeat_interleave) before the scores")
    return message


def check_attention_forward(fn) -> bool:
    """Check the learner's attention forward `fn(self, x) -> (B, T, dim)` (the contract is in the
    module docstring) against the formula on seeded kit Attention modules, with and without
    grouped-query attention; names the likely mistake."""
    fn = _forward_fn(fn)
    with torch.no_grad():
        for seed, case in enumerate(FORWARD_CASES):
            _check_case(fn, seed, *case)
    print(f"{NAME}: passed on {len(FORWARD_CASES)} cases (multi-head, grouped-query, one token)")
    return True


def _check_case(fn, seed: int, H: int, KV: int, T: int) -> None:
    """One seeded case; raises AssertionError naming the mistake."""
    attn = _attention(H, KV, seed)
    x = torch.randn(BATCH, T, DIM, generator=torch.Generator().manual_seed(100 + seed))
    where = f"on x of shape ({BATCH}, {T}, {DIM}) with n_heads={H}, n_kv_heads={KV}"
    expected = _forward(attn, x)
    try:
        got = _run(fn, NAME, where, attn, x.clone())
    except AssertionError as e:
        head, _, message = str(e).partition(": ")
        raise AssertionError(f"{head}: {_explain_crash(message, H, KV)}") from None
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{NAME} failed {where}: returned {type(got).__name__}, not a "
                             "torch.Tensor")
    got = got.detach().float()
    if got.shape != expected.shape:
        raise AssertionError(f"{NAME} failed {where}: output shape {tuple(got.shape)}, "
                             f"expected {tuple(expected.shape)}: {_diagnose(attn, x, got)}")
    if not torch.allclose(got, expected, atol=ATOL, rtol=RTOL):
        diff = float((got - expected).abs().max())
        raise AssertionError(f"{NAME} failed {where} (max |difference| {diff:.3g}): "
                             f"{_diagnose(attn, x, got)}")
