"""hwlib.standins: the tiny GPT-2 loads like a hub model and encodes any text; the loopback judge
speaks the chat-completions protocol, counts requests and answers with a custom answer_fn."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import torch

from hwlib.judge import Judge, JudgeConfig, judge_prompt, parse_verdict
from hwlib.standins import StandInJudge, made_up_verdict, tiny_gpt2
from hwlib.stories import generate_stories

TEXTS = generate_stories(60, seed=2)


def post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def chat(prompt: str) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": prompt}]}).encode()


def test_tiny_gpt2_loads_like_a_hub_gpt2_and_encodes_any_text(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tiny_gpt2(tmp_path / "gpt2", TEXTS, vocab_size=600, n_positions=128)
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == "gpt2" and model.config.n_positions == 128
    assert model.config.vocab_size == len(tok) <= 600
    assert tok.bos_token == tok.eos_token == "<|endoftext|>" == tok.decode([tok.eos_token_id])
    # characters the stories never use still get pieces (every byte is one), as in GPT-2
    text = "Zoë said «naïve» 🙂\ttabs, 3×4 = 12"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text and max(ids) < len(tok)
    assert len(ids) < len(text.encode("utf-8"))  # merges learned from the texts are used
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), len(tok)) and torch.isfinite(logits).all()


def test_tiny_gpt2_weights_come_from_the_seed_and_leave_the_callers_rng_alone(tmp_path):
    from safetensors.torch import load_file

    def weights(name: str, seed: int) -> dict:
        return load_file(tiny_gpt2(tmp_path / name, TEXTS[:20], vocab_size=300, seed=seed)
                         / "model.safetensors")

    torch.manual_seed(123)
    a = weights("a", 0)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), after)  # building the stand-in drew nothing from it
    b, c = weights("b", 0), weights("c", 1)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["transformer.h.0.attn.c_attn.weight"],
                           c["transformer.h.0.attn.c_attn.weight"])


def test_tiny_gpt2_refuses_a_vocabulary_without_merges_and_no_texts(tmp_path):
    with pytest.raises(ValueError, match="vocab_size 257 leaves no room"):
        tiny_gpt2(tmp_path / "g", TEXTS, vocab_size=257)
    with pytest.raises(ValueError, match="no texts"):
        tiny_gpt2(tmp_path / "g", ["", ""])


def test_default_judge_answers_a_verdict_hwlib_judge_parses_and_counts_requests(tmp_path):
    prompts = [judge_prompt("Tom had a red", c) for c in ("ball.", "kite and a dog who ran.")]
    with StandInJudge() as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        for p in prompts:
            status, reply = post(server.base_url + "/chat/completions", chat(p))
            assert status == 200 and reply["model"] == "m"
            answer = reply["choices"][0]["message"]["content"]
            assert parse_verdict(answer) == made_up_verdict(p)
        assert made_up_verdict(prompts[0]) != made_up_verdict(prompts[1])
        cfg = JudgeConfig(base_url=server.base_url, model="j", api_key="k", requests_per_s=0,
                          cache_path=str(tmp_path / "cache.jsonl"))
        Judge(cfg).grade("Tom had a red", "ball.")
        assert len(server.requests) == 3 and server.seen[prompts[0]] == 2
        last = server.requests[-1]
        assert last["path"] == "/v1/chat/completions" and last["auth"] == "Bearer k"
        assert last["body"]["model"] == "j"


def test_custom_answers_see_how_often_a_prompt_was_asked():
    calls = []

    def answer(prompt: str, seen: int) -> tuple[int, str]:
        calls.append((prompt, seen))
        return (503, "busy") if seen == 0 else (200, f"answer {seen}")

    with StandInJudge(answer) as server:
        url = server.base_url + "/chat/completions"
        assert post(url, chat("p")) == (503, {"error": {"message": "busy"}})
        assert post(url, chat("p"))[1]["choices"][0]["message"]["content"] == "answer 1"
        assert post(url, chat("q"))[0] == 503
    assert calls == [("p", 0), ("p", 1), ("q", 0)]


def test_bad_requests_get_http_errors_and_are_still_counted():
    with StandInJudge() as server:
        assert post(server.base_url + "/completions", chat("x"))[0] == 404
        assert post(server.base_url + "/chat/completions", b"{not json")[0] == 400
        status, reply = post(server.base_url + "/chat/completions", chat("no separators"))
        assert status == 400 and "not a hwlib.judge prompt" in reply["error"]["message"]
        assert len(server.requests) == 3 and server.requests[1]["body"] is None


def test_start_close_lifecycle():
    judge = StandInJudge()
    judge.close()  # never started: nothing to stop
    judge.start()
    with pytest.raises(RuntimeError, match="already running"):
        judge.start()
    url = judge.base_url
    judge.close()
    judge.close()
    assert judge.base_url == url  # kept, so a client can be shown that the port is closed
    with pytest.raises(urllib.error.URLError):
        post(url + "/chat/completions", chat("x"))
