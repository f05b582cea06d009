"""Tests for hwlib.model: shapes, attention, RoPE, generation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hwlib.checkpoint import load_checkpoint, save_checkpoint
from hwlib.kernels import decode_linear, pack_decode_weights
from hwlib.model import (
    Linear,
    Llama,
    LlamaConfig,
    apply_rotary_emb,
    compute_query_key_value_scores,
    filter_logits,
    precompute_rope,
    sample_next,
)

V = 97  # a vocabulary size no preset uses, so a hard-coded size would show


def tiny(**kw) -> Llama:
    torch.manual_seed(kw.pop("seed", 0))
    return Llama(LlamaConfig.preset("tiny", vocab_size=V, **kw)).eval()


def tokens(B=2, T=12, seed=1) -> torch.Tensor:
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


# ---- config and shapes ----


def test_presets_match_llama2c_sizes():
    expected_ffn = {"260K": 172, "15M": 768, "42M": 1376, "110M": 2048}
    nominal = {"260K": 260e3, "15M": 15e6, "42M": 42e6, "110M": 110e6}
    for name, ffn in expected_ffn.items():
        c = LlamaConfig.preset(name)
        assert c.ffn_dim == ffn
        with torch.device("meta"):
            n = Llama(c).num_params()
        assert abs(n - nominal[name]) / nominal[name] < 0.03, (name, n)
    assert LlamaConfig.preset("42M").max_seq_len == 1024
    # "demo" is 260K with 4 heads of 16: the same weights' shapes, another split into heads.
    demo, small = LlamaConfig.preset("demo"), LlamaConfig.preset("260K")
    assert (demo.head_dim, small.head_dim) == (16, 8)
    with torch.device("meta"):
        shapes = [{k: v.shape for k, v in Llama(c).state_dict().items()} for c in (demo, small)]
    assert shapes[0] == shapes[1]
    with pytest.raises(ValueError, match="unknown preset"):
        LlamaConfig.preset("7B")


def test_from_dict_accepts_course_and_llama2c_model_args():
    llama2c = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=None, vocab_size=V, hidden_dim=None,
                   multiple_of=16, norm_eps=1e-6, max_seq_len=128, dropout=0.0)
    c = LlamaConfig.from_dict(llama2c)
    assert c.layer_norm_eps == 1e-6 and c.n_kv_heads == 4
    assert LlamaConfig.from_dict(c.to_dict()) == c
    course = {**llama2c, "position_embedding_type": "rotary", "use_cache": True}
    course["layer_norm_eps"] = course.pop("norm_eps")
    assert LlamaConfig.from_dict(course).layer_norm_eps == 1e-6
    with pytest.raises(ValueError, match="n_layer"):
        LlamaConfig.from_dict({**llama2c, "n_layer": 3})
    with pytest.raises(ValueError, match="n_kv_heads"):
        LlamaConfig(dim=64, n_heads=4, n_kv_heads=3)


def test_forward_shapes_and_loss_ignores_minus_one():
    model = tiny()
    x = tokens()
    logits, loss = model(x)
    assert logits.shape == (2, 12, V) and loss is None
    y = tokens(seed=2)
    y[0, :5] = -1
    _, loss = model(x, y)
    keep = y.flatten() != -1
    manual = F.cross_entropy(logits.flatten(0, 1)[keep], y.flatten()[keep])
    assert torch.allclose(loss, manual, atol=1e-6)
    with pytest.raises(ValueError, match="max_seq_len"):
        model(torch.zeros(1, 257, dtype=torch.long))


def test_state_dict_uses_the_course_names_and_no_rope_tables():
    names = set(tiny(n_layers=1).state_dict())
    layer = "layers.0."
    assert names == {
        "tok_embeddings.weight", "norm.weight", "output.weight",
        *(layer + f"attention.compute_{p}.weight" for p in ("query", "key", "value", "output")),
        *(layer + f"feed_forward.w{i}.weight" for i in (1, 2, 3)),
        layer + "attention_norm.weight", layer + "ffn_norm.weight",
    }


def test_tied_embeddings_num_params_and_flops():
    model = tiny()
    assert model.tok_embeddings.weight is model.output.weight
    unique = {id(p): p.numel() for p in model.parameters()}
    assert model.num_params() == sum(unique.values())
    per_layer = 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 176 + 2 * 64  # q,o + k,v (GQA) + ffn + norms
    assert model.num_params() == V * 64 + 2 * per_layer + 64
    assert model.flops_per_token(100) == 6 * model.num_params() + 12 * 2 * 4 * 16 * 100


def test_scaled_init_of_residual_projections():
    torch.manual_seed(0)
    model = Llama(LlamaConfig(vocab_size=V, dim=256, n_layers=8, n_heads=4))
    layer = model.layers[0]
    scaled = 0.02 / math.sqrt(2 * 8)
    assert abs(layer.attention.compute_output.weight.std().item() - scaled) < 0.1 * scaled
    assert abs(layer.feed_forward.w2.weight.std().item() - scaled) < 0.1 * scaled
    assert abs(layer.attention.compute_query.weight.std().item() - 0.02) < 0.002


# ---- RoPE and attention ----


def test_rope_matches_hand_computed_rotation():
    # Course case: head_dim 4, query 2 * ones at positions 0 and 1; pair i turns by pos * 1e4^(-i/2)
    cos, sin = precompute_rope(4, 20)
    out = apply_rotary_emb(2 * torch.ones(1, 2, 2, 4), cos[:2], sin[:2])
    assert torch.equal(out[0, 0], 2 * torch.ones(2, 4))
    expected = []
    for i in range(2):
        a = 1.0 * 10000 ** (-2 * i / 4)
        expected += [2 * math.cos(a) - 2 * math.sin(a), 2 * math.sin(a) + 2 * math.cos(a)]
    assert torch.allclose(out[0, 1], torch.tensor([expected, expected]), atol=1e-6)


def test_rope_scores_depend_only_on_relative_position():
    cos, sin = precompute_rope(8, 64)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(m, n):
        qm = apply_rotary_emb(q, cos[m : m + 1], sin[m : m + 1])
        kn = apply_rotary_emb(k, cos[n : n + 1], sin[n : n + 1])
        return (qm * kn).sum().item()

    assert score(5, 2) == pytest.approx(score(40, 37), abs=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 3), abs=1e-3)


def naive_attention(q, k, v):
    """Loop-by-loop causal attention with query i at key position i + Tk - Tq."""
    B, H, Tq, D = q.shape
    Hk, Tk = k.shape[1], k.shape[2]
    out = torch.zeros_like(q)
    for b in range(B):
        for h in range(H):
            kv = h // (H // Hk)
            for i in range(Tq):
                visible = i + Tk - Tq + 1
                s = torch.tensor([q[b, h, i] @ k[b, kv, j] / math.sqrt(D) for j in range(visible)])
                out[b, h, i] = s.softmax(0) @ v[b, kv, :visible]
    return out


@pytest.mark.parametrize("Tq,Tk", [(5, 5), (1, 6), (3, 7)])
def test_explicit_attention_matches_loops_with_gqa_and_cache(Tq, Tk):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, Tq, 8), torch.randn(2, 2, Tk, 8), torch.randn(2, 2, Tk, 8)
    expected = naive_attention(q, k, v)
    assert torch.allclose(compute_query_key_value_scores(q, k, v), expected, atol=1e-5)
    attn = tiny().layers[0].attention
    assert torch.allclose(attn.sdpa(q, k, v), expected, atol=1e-5)
    # The course's method takes keys and values already repeated to every head.
    kr, vr = attn.repeat_kv(k), attn.repeat_kv(v)
    assert torch.allclose(attn.compute_query_key_value_scores(q, kr, vr), expected, atol=1e-5)


def test_explicit_model_equals_sdpa_model():
    x = tokens(T=30)
    a = tiny(attention="sdpa")(x)[0]
    b = tiny(attention="explicit")(x)[0]
    assert (a - b).abs().max() < 1e-5


def test_attention_dropout_only_in_training():
    model = tiny(attention="explicit", dropout=0.5)
    x = tokens()
    assert torch.equal(model(x)[0], model(x)[0])
    model.train()
    assert not torch.equal(model(x)[0], model(x)[0])


# ---- the learner's code runs in the model (issue 15) ----


def course_scores(self, query, key, value):  # the course's method form, written differently
    scores = torch.einsum("bhqd,bhkd->bhqk", query, key) * self.head_dim**-0.5
    T = query.size(2)
    scores = scores + torch.full((T, T), -1e9).triu(1)
    return self.attn_dropout(scores.softmax(-1)) @ value


def test_attention_fn_method_and_plain_forms_run_in_every_layer():
    x, calls = tokens(T=20), []

    def plain(q, k, v):  # a plain fn(query, key, value): keys arrive repeated to every head
        calls.append((q.shape, k.shape))
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    ref = tiny()(x)[0]
    for fn in (course_scores, plain):
        torch.manual_seed(0)
        model = Llama(LlamaConfig.preset("tiny", vocab_size=V), attention_fn=fn).eval()
        assert (model(x)[0] - ref).abs().max() < 1e-5
    assert len(calls) == 2 and calls[0][0] == calls[0][1] == (2, 4, 20, 16)  # 2 kv heads -> 4
    # The learner's code really runs: a wrong one (no causal mask) changes logits and loss.
    torch.manual_seed(0)
    wrong = Llama(LlamaConfig.preset("tiny", vocab_size=V),
                  attention_fn=lambda q, k, v: F.softmax(q @ k.transpose(-2, -1), -1) @ v).eval()
    assert (wrong(x)[0] - ref).abs().max() > 1e-3
    assert wrong(x, x)[1] != tiny()(x, x)[1]


def test_generation_with_a_learners_scores_method_sees_the_courses_shapes():
    """The course's generate has no cache, so a correct course answer may size its mask by the
    keys; with a learner's method plugged in, generation recomputes (as many queries as keys)."""
    shapes = []

    def keys_sized_mask(self, query, key, value):
        shapes.append((query.size(2), key.size(2)))
        scores = query @ key.transpose(-2, -1) / self.head_dim**0.5
        T = scores.size(-1)
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        return self.attn_dropout(scores.softmax(-1)) @ value

    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny", vocab_size=V), attention_fn=keys_sized_mask).eval()
    x = tokens(B=2, T=5)
    assert torch.equal(model.generate(x, 6, 0.0), tiny().generate(x, 6, 0.0))
    assert all(tq == tk for tq, tk in shapes)


def test_attention_fn_uses_attn_dropout_in_training_only():
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny", vocab_size=V, dropout=0.5), attention_fn=course_scores)
    x = tokens()
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])
    model.train()
    assert not torch.equal(model(x)[0], model(x)[0])
    assert isinstance(model.layers[0].attention.attn_dropout, torch.nn.Dropout)


def test_course_names_params_and_generate_defaults():
    model = tiny()
    attn = model.layers[0].attention
    assert model.params is model.config and model.params.max_seq_len == 256
    assert (attn.n_local_heads, attn.n_local_kv_heads, attn.n_rep, attn.head_dim) == (4, 2, 2, 16)
    x = tokens(B=2, T=5)
    # The course's default temperature is 1.0: generate samples unless told 0.0.
    a = model.generate(x, 10, generator=torch.Generator().manual_seed(1))
    b = model.generate(x, 10, 1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, model.generate(x, 10, 0.0))
    with pytest.raises(TypeError):
        model.generate(x, 10, 1.0, None, 0.9)  # top_p and the rest are keyword-only


def test_generate_uses_the_learners_sample_fn():
    model, x, seen = tiny(), tokens(B=2, T=5), []

    def sample_next(logits, temperature, top_k=None, generator=None):  # learner's (B, 1)
        seen.append((logits.shape, temperature, top_k))
        return logits.argmax(-1, keepdim=True)

    out = model.generate(x, 6, 0.7, 5, sample_fn=sample_next)
    assert torch.equal(out, model.generate(x, 6, 0.0))
    assert seen == [((2, V), 0.7, 5)] * 6
    with pytest.raises(ValueError, match="top_p"):
        model.generate(x, 6, sample_fn=sample_next, top_p=0.9)


def test_linear_matches_f_linear_values_and_gradients():
    torch.manual_seed(0)
    layer = Linear(48, 40)
    for shape in [(1, 48), (3, 1, 48), (16, 48), (4, 9, 48), (2, 64, 48)]:  # both sides of 16 rows
        x = torch.randn(shape, requires_grad=True)
        y = layer(x)
        g = torch.randn_like(y)
        gx, gw = torch.autograd.grad(y, (x, layer.weight), g)
        x2, w2 = x.detach().requires_grad_(), layer.weight.detach().requires_grad_()
        y2 = F.linear(x2, w2)
        gx2, gw2 = torch.autograd.grad(y2, (x2, w2), g)
        assert y.shape == y2.shape and torch.allclose(y, y2, atol=1e-5), shape
        assert torch.allclose(gx, gx2, atol=1e-5) and torch.allclose(gw, gw2, atol=1e-4), shape


def test_packed_decode_weights_multiply_like_f_linear():
    torch.manual_seed(0)
    parts = [torch.randn(96, 48), torch.randn(32, 48)]  # fused along the output: 128 columns
    w = torch.cat(parts)
    threads = torch.get_num_threads()
    try:
        for n_threads, rows, blocks in [(2, 1, 2), (4, 1, 4), (1, 1, 1), (3, 1, 0), (2, 5, 0)]:
            torch.set_num_threads(n_threads)
            packed = pack_decode_weights(parts, torch.float32, rows)
            # one row, float32, CPU: a block of columns per thread; else the (out, in) matrix
            assert packed.shape == ((blocks, 48, 128 // blocks) if blocks else (128, 48))
            for shape in [(1, 48), (2, 1, 48), (3, 7, 48)]:
                x = torch.randn(shape)
                assert torch.allclose(decode_linear(x, packed), F.linear(x, w), atol=1e-5)
            x = torch.randn(4, 96)[:, ::2]  # a strided view, as h[:, -1] can be
            assert torch.allclose(decode_linear(x, packed), F.linear(x, w), atol=1e-5)
    finally:
        torch.set_num_threads(threads)
    # bfloat16 weights: the product in bfloat16, handed back in the activations' float32
    packed = pack_decode_weights(parts, torch.bfloat16, 1)
    assert packed.shape == (128, 48) and packed.dtype == torch.bfloat16
    x = torch.randn(2, 1, 48)
    y = decode_linear(x, packed)
    assert y.dtype == torch.float32
    assert torch.allclose(y, F.linear(x.bfloat16(), w.bfloat16()).float(), atol=0.05)


# ---- generation ----


def test_kv_cache_equals_recompute_greedy_and_sampled():
    model = tiny()
    x = tokens(B=3, T=7)
    assert torch.equal(model.generate(x, 20, 0.0), model.generate(x, 20, 0.0, use_cache=False))
    kw = dict(temperature=0.9, top_k=20, top_p=0.95)
    a = model.generate(x, 20, generator=torch.Generator().manual_seed(3), **kw)
    b = model.generate(x, 20, generator=torch.Generator().manual_seed(3), use_cache=False, **kw)
    assert torch.equal(a, b) and a.shape == (3, 27)


def test_packed_decode_weights_keep_the_course_names_and_results(tmp_path):
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a, f = model.layers[1].attention, model.layers[1].feed_forward
    for batch in (1, 2):  # one row: blocks of columns (on CPU, 2+ threads); more: (out, in)
        c = model.decode_caches(batch=batch)[1]
        x = torch.randn(batch, 1, 64)
        qkv = torch.cat((a.compute_query(x), a.compute_key(x), a.compute_value(x)), dim=-1)
        assert torch.allclose(decode_linear(x, c.wqkv), qkv, atol=1e-6)
        assert torch.allclose(decode_linear(x, c.w13), torch.cat((f.w1(x), f.w3(x)), -1),
                              atol=1e-6)
        assert torch.allclose(decode_linear(x, c.wo), a.compute_output(x), atol=1e-6)
        h = torch.randn(batch, 1, 176)
        assert torch.allclose(decode_linear(h, c.w2), f.w2(h), atol=1e-6)
        assert c.k.shape == (batch, 2, 256, 16)  # (B, n_kv_heads, max_seq_len, head_dim)
    for batch in (1, 2):
        x = tokens(B=batch, T=5)
        out = model.generate(x, 10, 0.0)
        assert torch.equal(out, model.generate(x, 10, 0.0, use_cache=False))
    state = model.state_dict()  # generate packed copies; the parameters are untouched
    assert set(state) == set(before) and all(torch.equal(state[k], before[k]) for k in before)
    save_checkpoint(tmp_path / "c.pt", model)
    assert torch.equal(load_checkpoint(tmp_path / "c.pt").generate(x, 10, 0.0), out)


def test_bf16_generation_gives_the_float32_greedy_text():
    model = tiny()
    for seed in (4, 5, 6):  # a few prompts
        x = tokens(B=2, T=6, seed=seed)
        bf16 = model.generate(x, 24, 0.0, dtype=torch.bfloat16)
        assert torch.equal(bf16, model.generate(x, 24, 0.0)), seed
    assert model.decode_caches(1, torch.bfloat16)[0].wqkv.dtype == torch.bfloat16


def test_generation_past_max_seq_len_and_long_prompts():
    model = tiny(max_seq_len=16)
    x = tokens(B=2, T=10)
    out = model.generate(x, 15, 0.0)  # the window fills after 6 new tokens
    assert torch.equal(out, model.generate(x, 15, 0.0, use_cache=False))
    assert torch.equal(out[:, :10], x) and out.shape == (2, 25)
    long = tokens(B=1, T=40)
    out = model.generate(long, 3, 0.0)
    assert torch.equal(out[:, :40], long)
    assert out[0, 40] == model(long[:, -16:])[0][0, -1].argmax()


def test_greedy_is_argmax_and_top_k_1_is_greedy():
    model = tiny()
    x = tokens(B=2, T=5)
    out = model.generate(x, 6, 0.0)
    seq = x
    for _ in range(6):  # recompute the argmax by hand
        seq = torch.cat((seq, model(seq)[0][:, -1].argmax(-1, keepdim=True)), dim=1)
    assert torch.equal(out, seq)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(model.generate(x, 6, temperature=1.0, top_k=1, generator=g), out)


def test_sampling_is_deterministic_given_a_generator():
    model = tiny()
    x = tokens(B=2, T=5)

    def run(seed):
        return model.generate(x, 15, temperature=1.5, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


def test_top_k_and_top_p_never_leave_the_allowed_set():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 50, generator=g) * 2
    n = 4000
    batch = logits.expand(n, -1)
    order = np.argsort(-logits[0].numpy(), kind="stable")
    top5 = set(order[:5].tolist())
    samples = sample_next(batch, 1.0, top_k=5, generator=g)
    assert set(samples.tolist()) == top5  # never outside, and every allowed token shows up
    probs = torch.softmax(logits[0].double(), 0).numpy()[order]
    n_nucleus = int(np.searchsorted(np.cumsum(probs), 0.7) + 1)  # smallest prefix holding 0.7
    nucleus = set(order[:n_nucleus].tolist())
    samples = sample_next(batch, 1.0, top_p=0.7, generator=g)
    assert set(samples.tolist()) == nucleus
    both = set(order[: min(3, n_nucleus)].tolist())
    assert set(sample_next(batch, 1.0, top_k=3, top_p=0.7, generator=g).tolist()) == both
    # Unrestricted sampling reaches far more tokens, so the checks above can fail.
    assert len(set(sample_next(batch, 1.0, generator=g).tolist())) > len(nucleus) + 10


def test_rows_stop_at_eos():
    model = tiny()
    x = tokens(B=2, T=4, seed=5)

    def run(**kw):  # sampled, so rows vary; the same generator seed gives the same draws
        g = torch.Generator().manual_seed(11)
        return model.generate(x, 12, temperature=1.0, generator=g, **kw)

    free = run()
    eos = int(free[0, 4 + 2])  # row 0 emits this token at step 3
    first = {r: next((i for i in range(4, 16) if free[r, i] == eos), None) for r in (0, 1)}
    assert first[0] <= 6 and (free[0, first[0] :] != eos).any()  # a real test of stopping
    out = run(eos_id=eos)
    for r in (0, 1):
        stop = first[r] if first[r] is not None else out.size(1)
        assert torch.equal(out[r, :stop], free[r, :stop])  # the same until its own eos
        assert (out[r, stop:] == eos).all()  # then only eos
    assert out.size(1) == (16 if first[1] is None else max(first.values()) + 1)
    greedy = int(model.generate(x[:1], 1, 0.0)[0, -1])
    assert model.generate(x[:1], 12, 0.0, eos_id=greedy).size(1) == 5  # all rows done: stop early


def test_filter_logits_rows_are_independent_and_keep_the_top_token():
    """One filter for sampling and for the notebook's plot: a batch filters row by row."""
    logits = torch.randn(5, V, generator=torch.Generator().manual_seed(3))
    for top_k, top_p in ((7, None), (None, 0.3), (4, 0.9), (None, 1e-6)):
        batch = filter_logits(logits, 0.8, top_k, top_p)
        rows = torch.stack([filter_logits(row, 0.8, top_k, top_p) for row in logits])
        assert torch.equal(batch, rows)
        kept = torch.isfinite(batch)
        assert kept.gather(1, logits.argmax(1, keepdim=True)).all()  # the argmax always stays
        if top_k:
            assert (kept.sum(1) <= top_k).all()
    assert torch.equal(filter_logits(logits, 2.0), logits / 2.0)  # no filter: just temperature


def test_a_model_converted_to_bfloat16_generates():
    # .to(bfloat16) converts the RoPE tables too; the rotation must still run (GPU bench, bf16 row)
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny")).eval()
    prompt = torch.randint(0, model.config.vocab_size, (2, 5))
    out = model.to(torch.bfloat16).generate(prompt, 6, 0.0)
    assert out.shape == (2, 11) and torch.equal(out[:, :5], prompt)
