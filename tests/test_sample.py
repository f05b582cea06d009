"""hwlib.sample: seeded, pure sampling and the reshaped next-token distribution."""

from __future__ import annotations

import pytest
import torch

from hwlib.model import Llama, LlamaConfig, sample_next
from hwlib.sample import next_token_distribution, reshape_logits, sample

PROMPT = "Once upon a time,"



@pytest.fixture(scope="module")
def model(tok) -> Llama:
    torch.manual_seed(0)
    m = Llama(LlamaConfig.preset("tiny", vocab_size=tok.vocab_size))
    with torch.no_grad():  # sharper logits than the 0.02-std init, so top-k/top-p matter
        m.norm.weight.fill_(4.0)
    return m.eval()


def test_same_arguments_give_the_same_text_and_leave_global_rng_alone(model, tok):
    state = torch.get_rng_state()
    a = sample(model, tok, PROMPT, temperature=1.0, top_k=50, max_new_tokens=20, seed=5)
    b = sample(model, tok, PROMPT, temperature=1.0, top_k=50, max_new_tokens=20, seed=5)
    assert a == b and a.startswith(PROMPT) and len(a) > len(PROMPT)
    assert torch.equal(state, torch.get_rng_state())
    others = {sample(model, tok, PROMPT, temperature=1.0, max_new_tokens=20, seed=s)
              for s in range(5)}
    assert len(others) > 1  # the seed matters


def test_greedy_equals_top_k_1_and_keeps_the_training_mode(model, tok):
    greedy = sample(model, tok, PROMPT, max_new_tokens=15)
    assert greedy == sample(model, tok, PROMPT, temperature=1.3, top_k=1, max_new_tokens=15, seed=9)
    model.train()
    try:
        assert sample(model, tok, PROMPT, max_new_tokens=15) == greedy
        assert model.training
    finally:
        model.eval()


def test_distribution_at_temperature_0_is_the_greedy_token(model, tok):
    dist = next_token_distribution(model, tok, PROMPT, temperature=0.0, k=3)
    assert dist[0][1] == 1.0 and [p for _, p in dist[1:]] == [0.0, 0.0]
    ids = tok.encode(PROMPT)
    greedy = model.generate(torch.tensor([ids]), 1, 0.0)[0, -1].item()
    assert tok.decode(ids[1:] + [greedy]) == tok.decode(ids[1:]) + dist[0][0].replace("▁", " ")


def test_top_k_and_top_p_shapes(model, tok):
    probs = [p for _, p in next_token_distribution(model, tok, PROMPT, 1.0, top_k=4, k=10)]
    assert sum(p > 0 for p in probs) == 4 and sum(probs) == pytest.approx(1.0)
    assert probs == sorted(probs, reverse=True)
    full = [p for _, p in next_token_distribution(model, tok, PROMPT, 1.0, k=512)]
    nucleus = [p for _, p in next_token_distribution(model, tok, PROMPT, 1.0, top_p=0.5, k=512)]
    kept = sum(p > 0 for p in nucleus)
    # The smallest head of the full distribution holding >= 0.5, renormalised.
    assert sum(full[: kept - 1]) < 0.5 <= sum(full[:kept])
    assert nucleus[0] == pytest.approx(full[0] / sum(full[:kept]), rel=1e-5)
    hot = [p for _, p in next_token_distribution(model, tok, PROMPT, 2.0, k=512)]
    assert hot[0] < full[0]  # a higher temperature flattens


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 5, None), (0.7, None, 0.8),
                                                     (1.5, 20, 0.6)])
def test_reshape_matches_what_the_model_samples(temperature, top_k, top_p):
    """reshape_logits is the distribution hwlib.model.sample_next draws from (seeded draws)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, generator=g) * 3
    probs = reshape_logits(logits, temperature, top_k, top_p)
    draws = sample_next(logits.expand(20000, 64), temperature, top_k, top_p, generator=g)
    freq = torch.bincount(draws, minlength=64).float() / draws.numel()
    assert (freq[probs == 0] == 0).all()  # never outside the allowed set
    assert (freq - probs).abs().max() < 0.015


def scripted(model, script):
    """model.generate drawing the scripted ids in turn (through the learner's sample_fn hook)."""
    real, it = type(model).generate.__get__(model), iter(script)

    def sample_fn(logits, temperature, top_k=None, generator=None):
        return torch.full((logits.size(0), 1), next(it))

    def generate(*args, **kw):
        return real(*args, **{**kw, "top_p": None, "sample_fn": sample_fn})

    return generate


@pytest.mark.parametrize("end", ["eos", "bos"])
def test_every_caller_stops_where_the_story_ends(model, tok, monkeypatch, end, record_property):
    """sample, --option generate (write_samples calls sample) and evaluate stop at EOS (the cache
    ends stories with it) and at BOS (a model trained on an older cache starts the next there)."""
    from hwlib.evaluate import EvalConfig, HwlibLM
    from hwlib.sample import story_end_ids

    assert story_end_ids(tok) == (tok.eos_id, tok.bos_id)
    story = tok.encode(" and the cat slept.", bos=False)
    stop = {"eos": tok.eos_id, "bos": tok.bos_id}[end]
    script = story + [stop] + tok.encode(" Next story", bos=False) * 3
    prompt_ids = tok.encode(PROMPT, bos=True)
    monkeypatch.setattr(model, "generate", scripted(model, script))
    assert sample(model, tok, PROMPT, 1.0, max_new_tokens=20) == tok.decode(prompt_ids + story)
    monkeypatch.setattr(model, "generate", scripted(model, script))
    lm = HwlibLM(model, tok, "tiny")
    text = lm.complete(PROMPT, EvalConfig(temperature=1.0, top_p=None, max_new_tokens=20), 0)
    assert text == tok.decode(prompt_ids + story)[len(tok.decode(prompt_ids)):]
    record_property("reliability: samples stopped where the story ends", 2)


def test_sample_passes_the_learners_sample_fn(model, tok):
    calls = []

    def sample_next(logits, temperature, top_k=None, generator=None):
        calls.append((temperature, top_k))
        return logits.argmax(-1, keepdim=True)

    text = sample(model, tok, PROMPT, 0.7, 5, max_new_tokens=6, sample_fn=sample_next)
    assert text == sample(model, tok, PROMPT, 0.0, max_new_tokens=6)
    assert calls and set(calls) == {(0.7, 5)}
