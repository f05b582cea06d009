"""Offline stand-ins so the evaluation track runs without a GPU, a network or an API key.

    from hwlib.standins import StandInJudge, tiny_gpt2
    tiny_gpt2("runs/gpt2-standin", texts)   # a transformers folder, loaded like gpt2-xl
    with StandInJudge() as judge:           # judge.base_url: an OpenAI-compatible API root
        evaluate(cfg, JudgeConfig(base_url=judge.base_url, model="stand-in-judge"))

Two pieces, used by notebook 08's quick mode and by the tests: a tiny randomly initialised GPT-2
saved as a transformers folder (the baseline hwlib.evaluate loads in place of gpt2-xl), and a
loopback server that answers like an OpenAI-compatible chat API (the judge hwlib.judge asks).
Neither is a model of anything: the GPT-2 is never trained, and the judge never reads the story;
its grades come from the completion's length, meaningless but deterministic, so every step of
the pipeline and its outputs can be checked. transformers and tokenizers (the `eval` extra) are
imported only by tiny_gpt2.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from hwlib.judge import SEPARATOR

if TYPE_CHECKING:  # typing.Self is Python 3.11+, hwlib supports 3.10
    from typing import Self

# answer_fn(prompt, seen) -> (HTTP status, reply text); `seen` counts the earlier requests
# with the same prompt, so an answer can change on a retry.
AnswerFn = Callable[[str, int], tuple[int, str]]

END_OF_TEXT = "<|endoftext|>"  # GPT-2's only special token: its start, end and padding token


def tiny_gpt2(out_dir: str | Path, texts: Iterable[str], vocab_size: int = 1024,
              n_positions: int = 512, seed: int = 0) -> Path:
    """A randomly initialised 2-layer GPT-2 and a byte-level BPE trained on texts, in out_dir.

    The architecture and tokenizer type are GPT2-XL's (byte-level BPE, learned positions,
    <|endoftext|> as the start token), the size is not: width 64, 2 layers, at most vocab_size
    pieces. The weights come from `seed` without touching the caller's random state.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size <= len(alphabet) + 1:
        raise ValueError(f"tiny_gpt2: vocab_size {vocab_size} leaves no room for merges: a "
                         f"byte-level BPE needs {len(alphabet)} bytes and {END_OF_TEXT} first")
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("tiny_gpt2: no texts to train the stand-in's tokenizer on")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # as GPT-2's
    bpe.decoder = decoders.ByteLevel()
    # Every byte is a piece, as in GPT-2: without the full alphabet a character missing from
    # `texts` would be dropped silently, and bits per byte would count bytes it never scored.
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[END_OF_TEXT], initial_alphabet=alphabet,
        show_progress=False))
    tok = GPT2TokenizerFast(tokenizer_object=bpe, bos_token=END_OF_TEXT, eos_token=END_OF_TEXT)
    config = GPT2Config(vocab_size=len(tok), n_positions=n_positions, n_embd=64, n_layer=2,
                        n_head=2, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def made_up_verdict(prompt: str) -> dict:
    """The stand-in's grades for a hwlib.judge prompt: from the completion's length, not quality.

    Raises ValueError for a prompt that is not hwlib.judge's (no completion after two `***`).
    """
    parts = prompt.split(SEPARATOR)  # the rules name the symbol once, then beginning *** text
    if len(parts) < 3:
        raise ValueError(f"not a hwlib.judge prompt: expected two {SEPARATOR!r} separators")
    n = len(parts[2].split("\n\n")[0])  # the completion (with its leading space) in characters
    return {"grammar": 1 + n % 10, "creativity": 1 + n // 10 % 10,
            "consistency": 1 + n // 100 % 10, "age_group": "ABCDEF"[n % 6]}


def default_answer(prompt: str, seen: int) -> tuple[int, str]:
    """A well-formed answer to every judge prompt: a sentence, then the verdict as JSON."""
    try:
        verdict = made_up_verdict(prompt)
    except ValueError as e:
        return 400, str(e)
    return 200, "A stand-in cannot read. Made-up grades:\n" + json.dumps(verdict)


class StandInJudge:
    """A chat-completions server on 127.0.0.1 (any free port) that answers with answer_fn.

    Use it as a context manager, or start() and close() it across notebook cells. Every POST is
    recorded in `requests` as {"path", "body", "auth"}, so len(requests) is the number sent.
    """

    def __init__(self, answer_fn: AnswerFn | None = None):
        self.answer_fn = answer_fn or default_answer
        self.requests: list[dict] = []
        self.seen: Counter[str] = Counter()  # requests so far, by prompt
        self.base_url = ""  # known once started; kept after close (its port then refuses)
        self._lock = threading.Lock()  # the server handles each request in its own thread
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"StandInJudge at {self.base_url} is already running")
        self._server = _Server(self)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        # a short poll interval: close() waits for the loop to notice, tests close often
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="stand-in-judge")
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()  # waits for serve_forever to return
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _answer(self, path: str, body: bytes, auth: str | None) -> tuple[int, dict]:
        """The HTTP status and JSON reply to one POST, in the shapes OpenAI's API uses."""
        try:
            request = json.loads(body)
            prompt = request["messages"][-1]["content"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError):
            request, prompt = None, None
        with self._lock:
            self.requests.append({"path": path, "body": request, "auth": auth})
            seen = self.seen[prompt]
            self.seen[prompt] += 1
        if not path.rstrip("/").endswith("/chat/completions"):
            return 404, {"error": {"message": f"no such endpoint: {path}"}}
        if not isinstance(prompt, str):
            return 400, {"error": {"message": "expected JSON with messages[-1].content"}}
        status, text = self.answer_fn(prompt, seen)
        if status != 200:
            return status, {"error": {"message": text}}
        model = request.get("model", "stand-in-judge")
        return 200, {"object": "chat.completion", "model": model, "choices": [
            {"index": 0, "finish_reason": "stop",
             "message": {"role": "assistant", "content": text}}]}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, reply = self.server.judge._answer(self.path, body,
                                                   self.headers.get("Authorization"))
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # no log line per request in notebooks and tests
        pass


class _Server(ThreadingHTTPServer):
    def __init__(self, judge: StandInJudge):
        super().__init__(("127.0.0.1", 0), _Handler)  # port 0: the OS picks a free one
        self.judge = judge
