"""LLaMA2 in one file: config, RMSNorm, RoPE, attention, SwiGLU, KV-cache generation.

    model = Llama(LlamaConfig.preset("tiny", vocab_size=512))
    logits, loss = model(tokens, targets)          # (B, T, vocab_size); mean CE, or None

Weight names are the course's (`compute_query`, ...); hwlib.checkpoint loads and saves them (and
llama2.c's and transformers' names). The CPU fast paths (oneDNN linears, packed decoding weights)
live in hwlib.kernels. Speed: `python -m hwlib.bench generate` (or train-step).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from hwlib.kernels import LayerCache, Linear  # noqa: F401  (re-exported: the model's parts)
from hwlib.kernels import decode_linear, pack_decode_weights

# PyTorch >= 2.5 broadcasts key/value heads inside SDPA; older versions need an explicit repeat.
_SDPA_GQA = tuple(int(p) for p in torch.__version__.split(".")[:2]) >= (2, 5)


@dataclass
class LlamaConfig:
    vocab_size: int = 32000
    dim: int = 512
    n_layers: int = 8
    n_heads: int = 8
    n_kv_heads: int | None = None  # None = n_heads; fewer gives grouped-query attention
    hidden_dim: int | None = None  # None = 2/3 * 4 * dim rounded up to multiple_of (llama2.c)
    multiple_of: int = 32
    layer_norm_eps: float = 1e-5
    max_seq_len: int = 1024
    dropout: float = 0.0
    rope_theta: float = 10000.0
    attention: str = "sdpa"  # "sdpa" (PyTorch's fused kernel) or "explicit" (the course exercise)

    # (dim, n_layers, n_heads, n_kv_heads, vocab_size, multiple_of, max_seq_len) from llama2.c's
    # README table and training flags; "42M" is also the course's stories42M.pt. "demo" is 260K
    # with 4 heads of 16 instead of 8 of 8 (the same weights' shapes): PyTorch's CPU attention
    # kernel trains it 1.45x faster (batch 32 x 128, one thread, 0.22 vs 0.33 s an update).
    PRESETS = {
        "tiny": (64, 2, 4, 2, 512, 16, 256),
        "demo": (64, 5, 4, 2, 512, 4, 512),
        "260K": (64, 5, 8, 4, 512, 4, 512),
        "15M": (288, 6, 6, 6, 32000, 32, 256),
        "42M": (512, 8, 8, 8, 32000, 32, 1024),
        "110M": (768, 12, 12, 12, 32000, 32, 1024),
    }
    IGNORED_KEYS = ("position_embedding_type", "use_cache", "max_batch_size")  # no effect here

    def __post_init__(self):
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.dim % self.n_heads or self.n_heads % self.n_kv_heads or self.head_dim % 2:
            raise ValueError(f"bad LlamaConfig: dim={self.dim} must split in n_heads={self.n_heads}"
                             f" even heads, n_heads in n_kv_heads={self.n_kv_heads} groups")
        if self.attention not in ("sdpa", "explicit"):
            raise ValueError(f"attention must be 'sdpa' or 'explicit', got {self.attention!r}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def ffn_dim(self) -> int:
        if self.hidden_dim is not None:
            return self.hidden_dim
        hidden = int(2 * (4 * self.dim) / 3)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    @classmethod
    def preset(cls, name: str, **overrides) -> LlamaConfig:
        """A named size: "tiny" (tests), "demo", "260K", "15M", "42M" (the course), "110M"."""
        if name not in cls.PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(cls.PRESETS)}")
        keys = ("dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "multiple_of")
        return cls(**{**dict(zip(keys + ("max_seq_len",), cls.PRESETS[name])), **overrides})

    @classmethod
    def from_dict(cls, d: dict) -> LlamaConfig:
        """Build from a course / llama2.c / hwlib `model_args` dict (`norm_eps` is an alias)."""
        d = {k: v for k, v in d.items() if k not in cls.IGNORED_KEYS}
        if "norm_eps" in d:
            d["layer_norm_eps"] = d.pop("norm_eps")
        fields = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(d) - fields):
            raise ValueError(f"model_args has unknown keys {unknown}; known: {sorted(fields)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, in float32 (Zhang & Sennrich 2019)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(F, "rms_norm"):  # one fused kernel (PyTorch >= 2.4) instead of six passes
            xf = F.rms_norm(x.float(), (x.size(-1),), eps=self.eps)
        else:
            xf = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def precompute_rope(head_dim: int, max_seq_len: int, theta: float = 10000.0):
    """cos and sin of position * theta^(-2i / head_dim), each (max_seq_len, head_dim // 2)."""
    freqs = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float64), freqs)
    return angles.cos().float(), angles.sin().float()


def apply_rotary_emb(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (2i, 2i+1) of x (B, T, heads, head_dim) by the angles of cos/sin (T, .).

    Meta's and llama2.c's convention; transformers rotates halves (i, i + head_dim/2) instead.
    """
    # float32 angles even when .to(bfloat16) converted the tables: complex needs float or double
    return rotate(x, torch.complex(cos.float(), sin.float())[:, None, :])


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """apply_rotary_emb with the angles as complex numbers cos + i sin, (T, 1, head_dim // 2)."""
    # (a + ib)(cos + i sin) = (a cos - b sin) + i (a sin + b cos): one complex product rotates
    # every pair in a single pass (as in Meta's reference code) instead of eight.
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))  # (B, T, heads, head_dim / 2)
    return torch.view_as_real(pairs * angles).flatten(-2).type_as(x)


def apply_rotary_emb_qk(query: torch.Tensor, key: torch.Tensor, head_dim: int, max_seq_len: int,
                        theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The course's `rope.apply_rotary_emb` signature: query and key (B, T, heads, head_dim) rotated
    at positions 0..T-1. A learner's attention forward imports it `as apply_rotary_emb`."""
    T = query.size(1)
    if T > max_seq_len:
        raise ValueError(f"{T} positions > max_seq_len={max_seq_len}")
    cos, sin = (t.to(query.device) for t in precompute_rope(head_dim, T, theta))
    return apply_rotary_emb(query, cos, sin), apply_rotary_emb(key, cos, sin)


def takes_self(fn) -> bool:
    """fn(self, ...) as a method of the kit's Attention, or a plain function of the tensors only."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params if p.kind in kinds and p.default is inspect.Parameter.empty]
    return len(required) >= 4 or bool(params and params[0].name == "self")


def _unbind(fn):
    # A learner's bound method of some Attention (`attn.forward`) must run on each layer's own self.
    if inspect.ismethod(fn) and isinstance(fn.__self__, nn.Module):
        return fn.__func__
    return fn


def compute_query_key_value_scores(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                   dropout_p: float = 0.0, training: bool = False) -> torch.Tensor:
    """Causal softmax(q k^T / sqrt(head_dim)) v on (B, heads, T, head_dim) tensors, step by step.

    Keys may have fewer heads than queries (grouped-query attention) and may be longer than the
    queries (a KV cache): query i then sits at position i + Tk - Tq and sees keys up to there.
    """
    n_rep = query.size(1) // key.size(1)
    if n_rep > 1:  # each key/value head serves n_rep consecutive query heads
        key = key.repeat_interleave(n_rep, dim=1)  # (B, n_heads, Tk, head_dim)
        value = value.repeat_interleave(n_rep, dim=1)
    Tq, Tk = query.size(2), key.size(2)
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))  # (B, n_heads, Tq, Tk)
    future = torch.ones(Tq, Tk, dtype=torch.bool, device=query.device).triu(Tk - Tq + 1)
    scores = scores.masked_fill(future, float("-inf"))
    probs = F.dropout(F.softmax(scores.float(), dim=-1).type_as(query), dropout_p, training)
    return probs @ value  # (B, n_heads, Tq, head_dim)


class Attention(nn.Module):
    """Grouped-query attention with the course's attribute names (`n_local_heads`, `n_rep`, ...).

    A learner's code plugs in (from `Llama(config, attention_fn=..., attention_forward=...)`):
    `scores_fn` replaces `compute_query_key_value_scores` (keys and values repeated to every head
    first, like the course), `forward_fn(self, x)` the whole forward pass (no KV cache).
    """

    def __init__(self, config: LlamaConfig, scores_fn=None, forward_fn=None):
        super().__init__()
        c = config
        self.n_heads, self.n_kv_heads, self.head_dim = c.n_heads, c.n_kv_heads, c.head_dim
        # The course's names for the same sizes, so a learner's method pastes in unchanged.
        self.n_local_heads, self.n_local_kv_heads = c.n_heads, c.n_kv_heads
        self.n_rep = c.n_heads // c.n_kv_heads
        self.max_seq_len, self.rope_theta = c.max_seq_len, c.rope_theta
        self.compute_query = Linear(c.dim, c.n_heads * c.head_dim)
        self.compute_key = Linear(c.dim, c.n_kv_heads * c.head_dim)
        self.compute_value = Linear(c.dim, c.n_kv_heads * c.head_dim)
        self.compute_output = Linear(c.n_heads * c.head_dim, c.dim)
        self.attn_dropout = nn.Dropout(c.dropout)
        self.resid_dropout = nn.Dropout(c.dropout)
        self.dropout, self.implementation = c.dropout, c.attention
        # Plain functions (bound per call), so the module still deep-copies and pickles.
        self.scores_fn = _unbind(scores_fn)
        self.forward_fn = _unbind(forward_fn)

    def compute_query_key_value_scores(self, query, key, value) -> torch.Tensor:
        """The course's exercise: causal softmax(q k^T / sqrt(head_dim)) v with attention dropout.

        query (B, n_heads, Tq, head_dim); key and value (B, n_heads, Tk, head_dim), already repeated
        to every head. With a KV cache Tk > Tq: query i sits at position i + Tk - Tq.
        """
        Tq, Tk = query.size(2), key.size(2)
        scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))  # (B, n_heads, Tq, Tk)
        future = torch.ones(Tq, Tk, dtype=torch.bool, device=query.device).triu(Tk - Tq + 1)
        probs = F.softmax(scores.float().masked_fill(future, float("-inf")), dim=-1)
        return self.attn_dropout(probs.type_as(query)) @ value  # (B, n_heads, Tq, head_dim)

    def rope(self, query: torch.Tensor, key: torch.Tensor):
        """RoPE on query and key (B, T, heads, head_dim) at positions 0..T-1, this model's theta."""
        return apply_rotary_emb_qk(query, key, self.head_dim, self.max_seq_len, self.rope_theta)

    def repeat_kv(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_kv_heads, T, head_dim) -> (B, n_heads, T, head_dim): kv head j serves query heads
        j * n_rep ... j * n_rep + n_rep - 1, as in the course and Meta's code."""
        return x if self.n_rep == 1 else x.repeat_interleave(self.n_rep, dim=1)

    def scores(self, query, key, value) -> torch.Tensor:
        """The scores method in use: the learner's, the explicit reference, or fused SDPA."""
        if self.scores_fn is not None:
            key, value = self.repeat_kv(key), self.repeat_kv(value)
            if takes_self(self.scores_fn):
                return self.scores_fn(self, query, key, value)
            return self.scores_fn(query, key, value)
        if self.implementation == "sdpa":
            return self.sdpa(query, key, value)
        key, value = self.repeat_kv(key), self.repeat_kv(value)  # (B, n_heads, Tk, head_dim)
        return self.compute_query_key_value_scores(query, key, value)

    def sdpa(self, query, key, value) -> torch.Tensor:  # the same, through PyTorch's fused kernel
        Tq, Tk = query.size(2), key.size(2)
        mask = None  # Tq == Tk is plain causal; one new query sees the whole cache
        if 1 < Tq < Tk:  # a chunk appended to a cache: causal, aligned to the last key
            mask = torch.ones(Tq, Tk, dtype=torch.bool, device=query.device).tril(Tk - Tq)
        n_rep, gqa = self.n_heads // self.n_kv_heads, {}
        if n_rep > 1 and _SDPA_GQA:
            gqa = {"enable_gqa": True}
        elif n_rep > 1:
            key, value = key.repeat_interleave(n_rep, 1), value.repeat_interleave(n_rep, 1)
        p = self.dropout if self.training else 0.0
        return F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=p, is_causal=Tq == Tk > 1, **gqa)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Attention over positions 0..T-1 of x (B, T, dim); cached decoding: LlamaLayer.decode."""
        if self.forward_fn is not None:  # the learner's whole forward pass
            return self.forward_fn(self, x)
        B, T, _ = x.shape
        q = self.compute_query(x).view(B, T, self.n_heads, self.head_dim)
        k = self.compute_key(x).view(B, T, self.n_kv_heads, self.head_dim)
        v = self.compute_value(x).view(B, T, self.n_kv_heads, self.head_dim)
        q, k = apply_rotary_emb(q, cos, sin), apply_rotary_emb(k, cos, sin)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, heads, T, hd)
        out = self.scores(q, k, v).transpose(1, 2).reshape(B, T, -1)  # (B, T, n_heads * hd)
        return self.resid_dropout(self.compute_output(out))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x) (Shazeer 2020, as in LLaMA)."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float):
        super().__init__()
        self.w1 = Linear(dim, hidden_dim)
        self.w2 = Linear(hidden_dim, dim)
        self.w3 = Linear(dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class LlamaLayer(nn.Module):
    """Pre-norm block: h = x + attention(norm(x)), then h + feed_forward(norm(h))."""

    def __init__(self, config: LlamaConfig, attention_fn=None, attention_forward=None):
        super().__init__()
        self.attention = Attention(config, attention_fn, attention_forward)
        self.feed_forward = FeedForward(config.dim, config.ffn_dim, config.dropout)
        self.attention_norm = RMSNorm(config.dim, config.layer_norm_eps)
        self.ffn_norm = RMSNorm(config.dim, config.layer_norm_eps)

    def forward(self, x, cos, sin) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), cos, sin)
        return h + self.feed_forward(self.ffn_norm(h))

    def decode(self, x: torch.Tensor, angles: torch.Tensor, cache: LayerCache,
               start_pos: int) -> torch.Tensor:
        """forward() for cached generation at positions start_pos.., written flat for speed.

        The same math with the weights fused in `cache` and no dropout: queries and keys rotated
        in one product (angles as in `rotate`), keys and values written into the cache, and no
        submodule calls (a 42M decoding step would make ~100, each costing microseconds).
        """
        a = self.attention
        if a.forward_fn is not None:
            raise ValueError("a learner's attention forward has no KV cache: use_cache=False")
        B, T, _ = x.shape
        H, KV, end = a.n_heads, a.n_kv_heads, start_pos + T
        qkv = decode_linear(self.attention_norm.forward(x), cache.wqkv)
        qkv = qkv.unflatten(-1, (-1, a.head_dim))  # (B, T, H + 2 * KV, head_dim)
        qk = rotate(qkv[:, :, : H + KV], angles)  # (B, T, H + KV, head_dim)
        cache.k[:, :, start_pos:end] = qk[:, :, H:].transpose(1, 2)
        cache.v[:, :, start_pos:end] = qkv[:, :, H + KV :].transpose(1, 2)
        out = a.scores(qk[:, :, :H].transpose(1, 2), cache.k[:, :, :end], cache.v[:, :, :end])
        h = x + decode_linear(out.transpose(1, 2).reshape(B, T, -1), cache.wo)
        gate, up = decode_linear(self.ffn_norm.forward(h), cache.w13).chunk(2, dim=-1)
        return h + decode_linear(F.silu(gate) * up, cache.w2)


class Llama(nn.Module):
    """The model; a learner's code runs in every layer when given (the course's exercise shapes):

    attention_fn: `compute_query_key_value_scores(self, query, key, value)` (the course's method,
    `self` is the layer's Attention) or a plain `fn(query, key, value)`; keys and values arrive
    repeated to every head. attention_forward: `forward(self, x)` of Attention (see
    hwlib.checks.check_attention_forward for what it may use). With either, generation runs
    without a KV cache (the course's shapes: as many queries as keys).
    """

    def __init__(self, config: LlamaConfig, attention_fn=None, attention_forward=None):
        super().__init__()
        self.config = self.params = config  # `params` is the course's name
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(LlamaLayer(config, attention_fn, attention_forward)
                                    for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.layer_norm_eps)
        self.output = Linear(config.dim, config.vocab_size)
        self.tok_embeddings.weight = self.output.weight  # tied input/output embeddings
        # Derived from the config, so kept out of state dicts (persistent=False).
        cos, sin = precompute_rope(config.head_dim, config.max_seq_len, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        # GPT-2 scaled init: projections that add into the residual stream get std / sqrt(2L), so
        # the stream's variance does not grow with depth. (llama2.c and the course scale w3, not
        # w2, but w2 is the feed-forward's residual projection.)
        for name, p in self.named_parameters():
            if name.endswith(("compute_output.weight", "w2.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layers))

    def hidden(self, tokens: torch.Tensor, caches=None, start_pos: int = 0) -> torch.Tensor:
        """Final normed hidden states (B, T, dim) of tokens (B, T) at positions start_pos..."""
        T = tokens.size(1)
        if start_pos + T > self.config.max_seq_len:
            raise ValueError(f"{start_pos + T} positions > max_seq_len={self.config.max_seq_len}")
        cos = self.rope_cos[start_pos : start_pos + T]
        sin = self.rope_sin[start_pos : start_pos + T]
        h = self.dropout(self.tok_embeddings(tokens))  # (B, T, dim)
        if caches is None:
            for layer in self.layers:
                h = layer(h, cos, sin)
        else:
            angles = torch.complex(cos.float(), sin.float())[:, None, :]  # once for all layers
            for layer, cache in zip(self.layers, caches):
                h = layer.decode(h, angles, cache, start_pos)
        return self.norm(h)

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, vocab_size), and the mean cross-entropy over targets != -1 (or None)."""
        logits = self.output(self.hidden(tokens))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-1)
        return logits, loss

    def num_params(self) -> int:
        """Parameters, counting the tied embedding/output matrix once."""
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs per token (forward + backward), PaLM appendix B: 6N + 12 L H Q T.

        N counts every parameter once: the tied embedding matrix stands for the output matmul (the
        lookup is no matmul), as in PaLM and nanoGPT; 12LHQT is q k^T and probs v at context T.
        """
        c = self.config
        return 6 * self.num_params() + 12 * c.n_layers * c.n_heads * c.head_dim * seq_len

    def decode_caches(self, batch: int, dtype: torch.dtype | None = None) -> list[LayerCache]:
        """Empty KV caches for `batch` rows, with each layer's weights packed (in `dtype`) for
        hwlib.kernels.decode_linear."""
        c, wdt = self.config, dtype or self.output.weight.dtype
        shape = (batch, c.n_kv_heads, c.max_seq_len, c.head_dim)
        w = self.output.weight
        caches = []
        for layer in self.layers:
            a, f = layer.attention, layer.feed_forward

            def pack(*mods):
                return pack_decode_weights([m.weight for m in mods], wdt, batch)

            caches.append(LayerCache(
                w.new_empty(shape), w.new_empty(shape),
                pack(a.compute_query, a.compute_key, a.compute_value), pack(a.compute_output),
                pack(f.w1, f.w3), pack(f.w2)))
        return caches

    @torch.inference_mode()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, *, top_p: float | None = None,
                 eos_id: int | Sequence[int] | None = None,
                 generator: torch.Generator | None = None, sample_fn=None,
                 use_cache: bool = True, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Extend idx (B, T) by up to max_new_tokens; returns (B, T + n) token ids.

        The course's signature and default (temperature 1.0); temperature 0 is greedy, else sample
        softmax(logits / temperature) within top_k and/or the top_p nucleus. sample_fn is a
        learner's `sample_next(logits, temperature, top_k=None, generator=None) -> (B, 1)` used
        instead. eos_id: the id (or ids) that end a text; a row that emits one keeps emitting the
        first; all rows done stops early.
        The cache gives what recomputing the last max_seq_len tokens each step gives
        (`use_cache=False`); past max_seq_len that runs, as RoPE positions cannot slide.
        `dtype` (e.g. torch.bfloat16) keeps the cached path's weights in that type.
        """
        if sample_fn is not None and top_p is not None:
            raise ValueError("sample_fn takes (logits, temperature, top_k, generator): no top_p")
        L = self.params.max_seq_len
        # A learner's attention is written for the course's shapes (as many queries as keys):
        # with it, every step recomputes the window instead of reading a cache.
        use_cache = use_cache and all(layer.attention.forward_fn is layer.attention.scores_fn
                                      is None for layer in self.layers)
        caches, pos, out_w = None, 0, self.output.weight
        if use_cache:  # allocated and fused once per call; each step writes one position
            caches = self.decode_caches(idx.size(0), dtype)
            out_w = pack_decode_weights([out_w], dtype or out_w.dtype, idx.size(0))
        stops = None if eos_id is None else torch.tensor(
            [eos_id] if isinstance(eos_id, int) else list(eos_id), device=idx.device)
        done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            if caches is not None and idx.size(1) <= L:
                h = self.hidden(idx[:, pos:], caches, pos)  # the prompt once, then one token
                logits = decode_linear(h[:, -1], out_w)
                pos = idx.size(1)
            else:
                logits = self.output(self.hidden(idx[:, -L:])[:, -1])  # (B, vocab_size)
            if sample_fn is not None:
                nxt = sample_fn(logits, temperature, top_k=top_k, generator=generator)
                nxt = torch.as_tensor(nxt, device=idx.device).reshape(idx.size(0))
            else:
                nxt = sample_next(logits, temperature, top_k, top_p, generator)
            if stops is not None:
                nxt = torch.where(done, stops[0], nxt)
                done |= torch.isin(nxt, stops)
            idx = torch.cat((idx, nxt[:, None]), dim=1)
            if stops is not None and bool(done.all()):
                break
        return idx


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Logits (..., V) over temperature (> 0), tokens outside the top-k and top-p set to -inf.

    Top-k keeps the k largest logits; top-p keeps a token while the tokens ranked above it hold
    less than p of the probability (so the most likely token always stays).
    """
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return logits


def sample_next(logits, temperature=0.0, top_k=None, top_p=None, generator=None) -> torch.Tensor:
    """Next token ids (B,) from logits (B, V): argmax, or a top-k / top-p restricted sample."""
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    probs = filter_logits(logits, temperature, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
