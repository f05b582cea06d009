"""Offline stand-ins for the evaluation tests: a tiny random GPT-2 and a loopback judge server."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from hwlib.judge import SEPARATOR


def tiny_gpt2(out_dir: Path, texts: list[str], n_positions: int = 512, seed: int = 0) -> Path:
    """A randomly initialised 2-layer GPT-2 and a 400-piece byte-level BPE, saved to out_dir."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok = GPT2TokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                            eos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tok), n_positions=n_positions, n_embd=32, n_layer=2,
                        n_head=2, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def verdict_for(prompt: str) -> dict:
    """A deterministic verdict that depends on the completion, so summaries can be checked."""
    completion = prompt.split(SEPARATOR)[2].split("\n\n")[0]  # the text after "*** "
    n = len(completion)
    return {"grammar": 1 + n % 10, "creativity": 1 + n // 10 % 10, "consistency": 1 + n // 100 % 10,
            "age_group": "ABCDEF"[n % 6]}


def good_answer(prompt: str, seen: int) -> tuple[int, str]:
    return 200, "The completion is fine.\n" + json.dumps(verdict_for(prompt))


class JudgeServer:
    """An OpenAI-style /chat/completions endpoint on 127.0.0.1 answering with `answer`.

    answer(prompt, seen) -> (HTTP status, reply text); `seen` counts earlier requests with the
    same prompt. Every request is recorded in `requests` (the parsed JSON body and headers).
    """

    def __init__(self, answer: Callable[[str, int], tuple[int, str]] = good_answer):
        self.answer, self.requests, self.seen = answer, [], Counter()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                outer.requests.append({"path": self.path, "body": body,
                                       "auth": self.headers.get("Authorization")})
                status, text = outer.answer(prompt, outer.seen[prompt])
                outer.seen[prompt] += 1
                reply = {"choices": [{"message": {"role": "assistant", "content": text}}]}
                data = json.dumps(reply).encode() if status == 200 else b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine the threads'
    barriers cost far more than the math (import this fixture into a test module to use it)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
