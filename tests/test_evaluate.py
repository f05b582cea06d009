"""hwlib.evaluate: bits per byte against direct computations, windows, diversity, both models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hwlib import evaluate as E
from hwlib.evaluate import (EvalConfig, HFLM, HwlibLM, bits_per_byte, distinct_n,
                            prompt_copy_rate, repeated_ngram_rate, sequence_nll)
from hwlib.checkpoint import save_checkpoint
from hwlib.model import Llama, LlamaConfig
from hwlib.standins import tiny_gpt2
from hwlib.stories import generate_stories

STORIES = generate_stories(40, seed=3)


@pytest.fixture(scope="module")
def hwlib_lm(tok) -> HwlibLM:
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny", vocab_size=tok.vocab_size, max_seq_len=1024))
    return HwlibLM(model, tok, "hwlib tiny")


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory) -> Path:
    return tiny_gpt2(tmp_path_factory.mktemp("gpt2"), generate_stories(300, seed=1))


@pytest.fixture(scope="module")
def gpt2_lm(gpt2_dir) -> HFLM:
    return E.load_baseline(str(gpt2_dir), torch.device("cpu"))


def test_bits_per_byte_of_gpt2_equals_a_direct_computation(gpt2_lm, gpt2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gpt2_dir)
    model = AutoModelForCausalLM.from_pretrained(gpt2_dir).eval()
    nats = nbytes = 0.0
    with torch.no_grad():
        for s in STORIES[:5]:
            ids = torch.tensor([[tok.eos_token_id] + tok(s)["input_ids"]])  # start token first
            logits = model(input_ids=ids).logits[0, :-1]
            nats += F.cross_entropy(logits, ids[0, 1:], reduction="sum").item()
            nbytes += len(s.encode("utf-8"))
    r = bits_per_byte(gpt2_lm, STORIES[:5])
    assert r["bits_per_byte"] == pytest.approx(nats / nbytes / math.log(2), rel=1e-5)
    assert r["bytes"] == nbytes and r["stories"] == 5


def test_bits_per_byte_of_hwlib_equals_its_own_loss(hwlib_lm, tok):
    nats = nbytes = 0.0
    with torch.no_grad():
        for s in STORIES[:5]:
            ids = torch.tensor([tok.encode(s, bos=True)])
            loss = hwlib_lm.model(ids[:, :-1], ids[:, 1:])[1].item()  # mean over the targets
            nats += loss * (ids.size(1) - 1)
            nbytes += len(s.encode("utf-8"))
    r = bits_per_byte(hwlib_lm, STORIES[:5])
    assert r["bits_per_byte"] == pytest.approx(nats / nbytes / math.log(2), rel=1e-5)
    # an untrained model is near uniform: about log2(V) bits per token
    assert r["nats"] / r["tokens"] == pytest.approx(math.log(tok.vocab_size), rel=0.1)


def test_sliding_windows_give_each_token_the_context_they_promise(hwlib_lm):
    ids = hwlib_lm.encode(" ".join(STORIES[:2]))[:40]
    W = 8

    def logits(x):
        return hwlib_lm.logits(x)

    # stride 1: token t sees the previous min(t, W - 1) tokens, one forward pass per token
    direct = 0.0
    with torch.no_grad():
        for t in range(1, len(ids)):
            ctx = torch.tensor([ids[max(0, t - W + 1) : t]])
            direct -= F.log_softmax(logits(ctx)[0, -1].float(), -1)[ids[t]].item()
    assert sequence_nll(logits, ids, W, 1) == pytest.approx(direct, rel=1e-5)
    # a text that fits in one window gives the same total whatever the stride
    short = ids[:W]
    assert sequence_nll(logits, short, W, 3) == pytest.approx(sequence_nll(logits, short, W, 7))
    # every token is scored exactly once: uniform logits cost ln V per scored token
    V = 11

    def uniform(x):
        return torch.zeros(1, x.size(1), V)

    toks = [i % V for i in range(50)]
    for stride in (1, 3, 7):
        assert sequence_nll(uniform, toks, 8, stride) == pytest.approx(49 * math.log(V))
    with pytest.raises(ValueError, match="stride"):
        sequence_nll(uniform, toks, 8, 8)


def test_long_texts_are_windowed_for_gpt2(gpt2_dir):
    lm = E.load_baseline(str(gpt2_dir), torch.device("cpu"))
    lm.max_len = 32  # pretend a short context: a story is then scored in several windows
    long = " ".join(STORIES[:3])
    r = bits_per_byte(lm, [long], stride=16)
    assert r["tokens"] > 64 and math.isfinite(r["bits_per_byte"])


def test_distinct_n_repetition_and_copying_on_known_strings():
    texts = ["The cat sat on the mat.", "the cat ran"]
    assert distinct_n(texts, 1) == pytest.approx(6 / 9)  # the, cat, sat, on, mat, ran of 9
    assert distinct_n(texts, 2) == pytest.approx(6 / 7)  # "the cat" twice among 7 bigrams
    assert distinct_n(["a"], 2) == 0.0
    assert repeated_ngram_rate(["a b c d a b c d"], 4) == pytest.approx(1 / 5)
    assert repeated_ngram_rate(["a b c d e f"], 4) == 0.0
    # the repeat must be within one text: the same 4-gram in two texts is no loop
    assert repeated_ngram_rate(["a b c d", "a b c d"], 4) == 0.0
    assert prompt_copy_rate(["one two three four five"], ["two three four five six seven"],
                            4) == pytest.approx(1 / 3)
    assert prompt_copy_rate(["x y z w"], ["a b c d"], 4) == 0.0


def _greedy_reference(next_logits, ids: list[int], stop: set[int], n: int) -> list[int]:
    """Greedy continuation by full recomputation, stopping before a stop token."""
    out = []
    with torch.no_grad():
        for _ in range(n):
            t = int(next_logits(torch.tensor([ids + out]))[0, -1].argmax())
            if t in stop:
                break
            out.append(t)
    return out


def test_greedy_completions_match_a_reference_loop(hwlib_lm, gpt2_lm, tok):
    cfg = EvalConfig(temperature=0.0, max_new_tokens=12)
    prompt = "Once upon a time, Tom"
    ids = tok.encode(prompt)
    new = _greedy_reference(hwlib_lm.logits, ids, {tok.bos_id, tok.eos_id}, 12)
    assert prompt + hwlib_lm.complete(prompt, cfg, 0) == tok.decode(ids + new)
    ids = gpt2_lm.encode(prompt)
    new = _greedy_reference(gpt2_lm.logits, ids, {gpt2_lm.tok.eos_token_id}, 12)
    assert prompt + gpt2_lm.complete(prompt, cfg, 0) == gpt2_lm.tok.decode(ids[1:] + new)


def test_sampling_is_seeded_and_leaves_the_global_rng_alone(hwlib_lm, gpt2_lm):
    cfg = EvalConfig(temperature=1.0, top_p=0.95, max_new_tokens=10)
    for lm in (hwlib_lm, gpt2_lm):
        state = torch.get_rng_state()
        a, b = lm.complete("Tom and", cfg, 5), lm.complete("Tom and", cfg, 5)
        assert a == b
        assert torch.equal(state, torch.get_rng_state())


def test_a_missing_baseline_names_the_model_and_the_local_path_flag(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="models/gpt2-xl"):
        E.load_baseline(str(tmp_path / "models" / "gpt2-xl"), torch.device("cpu"))
    import transformers

    def offline(name, *a, **kw):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load {name}.\nMore")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", offline)
    with pytest.raises(OSError) as e:
        E.load_baseline("gpt2-xl", torch.device("cpu"))
    msg = str(e.value)
    assert "'gpt2-xl'" in msg and "--baseline models/gpt2-xl" in msg and "\n" not in msg


def test_evaluate_writes_every_section_and_says_when_the_judge_is_missing(
        tmp_path, hwlib_lm, tok, gpt2_dir, monkeypatch):
    monkeypatch.delenv("HWLIB_JUDGE_BASE_URL", raising=False)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, hwlib_lm.model, tokenizer=str(tok.model_path))
    val = tmp_path / "val.txt"  # TinyStories' raw layout: multi-line stories between markers
    val.write_text("".join(s.replace(". ", ".\n", 1) + "\n<|endoftext|>\n" for s in STORIES))
    cfg = EvalConfig(checkpoint=str(ckpt), baseline=str(gpt2_dir), val_file=str(val),
                     out=str(tmp_path / "eval"), max_stories=6, judge_stories=3,
                     max_new_tokens=8, use_gpu=False)
    r = E.evaluate(cfg)
    assert json.loads((tmp_path / "eval" / "eval.json").read_text()) == r
    names = [m["name"] for m in r["models"]]
    assert names == ["hwlib m", str(gpt2_dir)]
    assert set(r["bits_per_byte"]) == set(r["diversity"]) == set(names)
    assert r["bits_per_byte"]["hwlib m"]["stories"] == 6
    assert len(r["samples"]) == len(E.PROMPTS) and all(set(names) < set(s) for s in r["samples"])
    assert "HWLIB_JUDGE_BASE_URL" in r["judge"]["missing"]


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        E.main(["--checkpoint", str(tmp_path / "none.pt"), "--baseline", "none"])
    assert "none.pt" in str(e.value) and "\n" not in str(e.value)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as e:
        E.main(["--checkpoint", str(bad), "--tokenizer", str(bad), "--baseline", "none"])
    assert "bad.pt" in str(e.value)


def test_threads_flag_is_checked_in_one_line(tmp_path):
    with pytest.raises(SystemExit) as e:
        E.main(["--checkpoint", str(tmp_path / "m.pt"), "--threads", "0"])
    assert str(e.value.code) == "error: threads must be at least 1, got 0"
