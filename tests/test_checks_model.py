"""hwlib.checks_model: check_attention_forward names each mistake and accepts other correct forms;
the learner's forward runs inside the model (issue 15)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hwlib.checks import ExerciseNotDone, check_attention_forward
from hwlib.model import Attention, Llama, LlamaConfig
from hwlib.model import apply_rotary_emb_qk as apply_rotary_emb  # the course's rope signature


def course_forward(self, x):  # the course's shape, as a learner writes it
    batch_size, seqlen, _ = x.shape
    query = self.compute_query(x).view(batch_size, seqlen, self.n_local_heads, self.head_dim)
    key = self.compute_key(x).view(batch_size, seqlen, self.n_local_kv_heads, self.head_dim)
    value = self.compute_value(x).view(batch_size, seqlen, self.n_local_kv_heads, self.head_dim)
    query, key = apply_rotary_emb(query, key, self.head_dim, self.max_seq_len)
    key = torch.repeat_interleave(key, dim=2, repeats=self.n_rep)
    value = torch.repeat_interleave(value, dim=2, repeats=self.n_rep)
    query, key, value = query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
    output = self.compute_query_key_value_scores(query, key, value)
    output = output.transpose(1, 2).contiguous().view(batch_size, seqlen, -1)
    return self.resid_dropout(self.compute_output(output))


def sdpa_forward(self, x):  # written differently: self.rope, expand, SDPA, reshape
    B, T, _ = x.shape
    q = self.compute_query(x).unflatten(-1, (-1, self.head_dim))  # (B, T, H, D)
    k = self.compute_key(x).unflatten(-1, (-1, self.head_dim))
    v = self.compute_value(x).unflatten(-1, (-1, self.head_dim))
    q, k = self.rope(q, k)
    k = k[:, :, :, None].expand(-1, -1, -1, self.n_rep, -1).flatten(2, 3)
    v = v[:, :, :, None].expand(-1, -1, -1, self.n_rep, -1).flatten(2, 3)
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                         is_causal=True)
    return self.compute_output(out.permute(0, 2, 1, 3).reshape(B, T, -1))


def wrong_forward(rope="qk", repeat="interleave", merge="contiguous", project=True):
    """course_forward with one mistake."""

    def forward(self, x):
        B, T, _ = x.shape
        q = self.compute_query(x).view(B, T, self.n_local_heads, self.head_dim)
        k = self.compute_key(x).view(B, T, self.n_local_kv_heads, self.head_dim)
        v = self.compute_value(x).view(B, T, self.n_local_kv_heads, self.head_dim)
        if rope == "qkv":
            q, k = apply_rotary_emb(q, k, self.head_dim, self.max_seq_len)
            v, _ = apply_rotary_emb(v, v, self.head_dim, self.max_seq_len)
        elif rope == "q":
            q, _ = apply_rotary_emb(q, k, self.head_dim, self.max_seq_len)
        elif rope == "qk":
            q, k = apply_rotary_emb(q, k, self.head_dim, self.max_seq_len)
        if repeat == "interleave":
            k, v = k.repeat_interleave(self.n_rep, 2), v.repeat_interleave(self.n_rep, 2)
        elif repeat == "tile":
            k, v = k.repeat(1, 1, self.n_rep, 1), v.repeat(1, 1, self.n_rep, 1)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        out = self.compute_query_key_value_scores(q, k, v)  # (B, H, T, D)
        if merge == "contiguous":
            out = out.transpose(1, 2).contiguous().view(B, T, -1)
        elif merge == "view":
            out = out.transpose(1, 2).view(B, T, -1)
        elif merge == "no transpose":
            out = out.reshape(B, T, -1)
        return self.compute_output(out) if project else out

    return forward


@pytest.mark.parametrize("fn", [course_forward, sdpa_forward])
def test_correct_forwards_pass(fn):
    assert check_attention_forward(fn) is True


def test_the_kits_forward_agrees_with_the_checker():
    def kit_forward(self, x):  # the kit's own fast path, called the course's way
        from hwlib.model import precompute_rope

        cos, sin = precompute_rope(self.head_dim, x.size(1))
        return Attention.forward(self, x, cos, sin)

    assert check_attention_forward(kit_forward)


@pytest.mark.parametrize("kw,message", [
    (dict(rope=""), "RoPE not applied"),
    (dict(rope="qkv"), "RoPE applied to the values too"),
    (dict(rope="q"), "RoPE applied to the query only"),
    (dict(repeat="none"), r"no grouped-query repeat: with n_kv_heads=2 < n_heads=4"),
    (dict(repeat="tile"), "key/value heads repeated in the wrong order"),
    (dict(merge="view"), r"not contiguous, so .view fails; call .contiguous\(\)"),
    (dict(merge="no transpose"), "heads not merged back correctly: the scores give"),
    (dict(project=False), "output projection missing"),
    (dict(merge="no transpose", project=False),
     "heads not merged back correctly.*; also output projection missing"),
])
def test_each_named_mistake_is_rejected_with_its_message(kw, message):
    with pytest.raises(AssertionError, match=message) as e:
        check_attention_forward(wrong_forward(**kw))
    assert str(e.value).startswith("check_attention_forward failed on x of shape")
    assert "\n" not in str(e.value)


def test_not_done_and_the_kits_own_method_are_not_answers():
    def todo(self, x):
        raise NotImplementedError("TODO")

    for fn in (todo, Attention.forward):
        with pytest.raises(ExerciseNotDone):
            check_attention_forward(fn)


# ---- the learner's forward runs in the model ----


def model_with(fn=None) -> Llama:
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny", vocab_size=97), attention_forward=fn).eval()
    with torch.no_grad():  # weights of a trained size, so attention's mistakes show in the loss
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.5 / p.size(1) ** 0.5)
    return model


@torch.no_grad()
def test_the_learners_forward_is_what_the_model_runs():
    x = torch.randint(0, 97, (2, 20), generator=torch.Generator().manual_seed(1))
    ref, loss = model_with()(x, x)
    for fn in (course_forward, sdpa_forward):
        logits, same = model_with(fn)(x, x)
        assert (logits - ref).abs().max() < 1e-5 and abs(float(same - loss)) < 1e-5
    logits, wrong = model_with(wrong_forward(rope=""))(x, x)
    assert (logits - ref).abs().max() > 0.1 and abs(float(wrong - loss)) > 1e-3
    # Generation runs it too (without a KV cache): the same greedy tokens as the kit's.
    greedy = model_with().generate(x[:, :5], 8, 0.0)
    assert torch.equal(model_with(course_forward).generate(x[:, :5], 8, 0.0), greedy)
    with pytest.raises(ValueError, match="no KV cache"):
        model_with(course_forward).hidden(x[:, :5], caches=[None, None], start_pos=3)
