"""Reliability, round two (issue 12): a hostile judge API, a tampered verdict cache, evaluation
that keeps what it computed, hostile report inputs, a hostile download server, file modes.
Loopback servers only; each case takes a few seconds at most.

Every case is a plain function `case_*(tmp_path, monkeypatch) -> dict` of figures, listed by
`reliability_cases()`; `run_cases()` runs them all outside pytest, so
`python -m hwlib.bench reliability` can load this file by path and print the same figures, and
the pytest run records them in the reliability summary (tests/conftest.py sums
`record_property("reliability: ...")` over tests whose id names test_reliability).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hwlib import evaluate as E
from hwlib import report as R
from hwlib.judge import Judge, JudgeConfig, JudgeError, judge_prompt, summarize
from hwlib.standins import StandInJudge, made_up_verdict
from hwlib.utils import REPO_ROOT, atomic_write

STORY = "Tom had a red ball. He liked to throw it high. One day the ball went over the fence."


# ----------------------------------------------------------------------- a raw loopback server
class RawServer:
    """A TCP server on 127.0.0.1 that reads one HTTP request per connection and lets `reply`
    write whatever bytes it likes (garbage status lines, short bodies, one byte at a time)."""

    def __init__(self, reply: Callable[[socket.socket, int], None]):
        self.reply, self.count = reply, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn, self.count), daemon=True).start()
            self.count += 1

    def _handle(self, conn: socket.socket, n: int) -> None:
        with conn:
            try:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                self.reply(conn, n)
            except OSError:  # the client hung up first: that is what some cases test
                pass

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def chat_reply(content, status: str = "200 OK") -> bytes:
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body)}\r\nConnection: close\r\n\r\n{body}").encode()


def good_reply(beginning: str, completion: str) -> bytes:
    verdict = made_up_verdict(judge_prompt(beginning, completion))
    return chat_reply("Fine.\n" + json.dumps(verdict))


def config(url: str, tmp_path: Path, **kw) -> JudgeConfig:
    base = dict(base_url=url, model="judge-1", api_key="sk-secret", backoff_s=0.01,
                cache_path=str(tmp_path / "cache.jsonl"), requests_per_s=0, max_retries=1,
                parse_retries=1, timeout_s=5)
    return JudgeConfig(**{**base, **kw})


# ------------------------------------------------------------------------------ the cases
def case_non_string_content_is_an_unparseable_verdict(tmp_path: Path, monkeypatch) -> dict:
    """Item 3: content 7, [1, 2] or {"a": 1} is recorded unparseable, never a TypeError."""
    for content in (7, [1, 2], {"a": 1}, [{"type": "text", "text": 5}]):
        with RawServer(lambda c, n, content=content: c.sendall(chat_reply(content))) as srv:
            v = Judge(config(srv.url, tmp_path)).grade("Tom had a red", "ball.")
        assert v["unparseable"] and "not text" in v["answer"], v
    parts = [{"type": "text", "text": "Fine.\n"},  # OpenAI's content parts: their text counts
             {"type": "text", "text": json.dumps(made_up_verdict(judge_prompt("Tom", "ran.")))}]
    with RawServer(lambda c, n: c.sendall(chat_reply(parts))) as srv:
        assert not Judge(config(srv.url, tmp_path)).grade("Tom", "ran.").get("unparseable")
    return {"judge replies with non-text content recorded unparseable": 4}


def case_broken_http_becomes_judge_error(tmp_path: Path, monkeypatch) -> dict:
    """Item 3: a truncated body (IncompleteRead) and a garbage status line (BadStatusLine)."""
    replies = {
        "IncompleteRead": lambda c, n: c.sendall(chat_reply("x")[:-10]),
        "BadStatusLine": lambda c, n: c.sendall(b"HTTX/9 what is this\r\n\r\n"),
        "RemoteDisconnected": lambda c, n: None,  # closes without a word
    }
    for name, reply in replies.items():
        with RawServer(reply) as srv:
            judge = Judge(config(srv.url, tmp_path))
            with pytest.raises(JudgeError, match=f"gave up after 2 tries: {name}"):
                judge.grade("Tom had a red", "ball.")
            assert judge.requests == 2  # retried as a network error, then one clear error
    return {"broken HTTP replies turned into one JudgeError": len(replies)}


def case_evaluation_keeps_everything_when_the_judge_fails(tmp_path: Path, monkeypatch) -> dict:
    """Item 3: verdicts before the failure are kept, the rest recorded failed, eval.json written
    with bits per byte, samples and diversity, even when the judge dies of something else."""
    stories = tmp_path / "stories.test"
    stories.write_text("\n".join(f"Story {i}. {STORY}" for i in range(6)) + "\n")
    monkeypatch.setattr(E, "load_hwlib", lambda *a: _ByteLM())

    def reply(c, n):  # two good verdicts, then a body cut short for ever
        c.sendall(_good_for(c, n) if n < 2 else chat_reply("x")[:-5])

    cfg = E.EvalConfig(checkpoint="unused.pt", baseline="none", val_file=str(stories),
                       out=str(tmp_path / "eval"), max_stories=6, judge_stories=4,
                       max_new_tokens=4, use_gpu=False)
    with RawServer(reply) as srv:
        ev = E.evaluate(cfg, config(srv.url, tmp_path, max_retries=0, parse_retries=0))
    name = ev["models"][0]["name"]
    saved = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert "IncompleteRead" in saved["judge"]["error"]
    s = saved["judge"]["summary"][name]
    assert (s["n"], s["unparseable"], s["failed"]) == (2, 0, 2)
    assert [bool(i[name].get("failed")) for i in saved["judge"]["items"]] == [0, 0, 1, 1]
    assert saved["bits_per_byte"][name]["stories"] == 6 and saved["samples"]

    class Boom(Exception):
        pass

    def die(*a):  # a judge that dies of anything at all: what was computed is on disk
        raise Boom

    monkeypatch.setattr(E, "_judge", die)
    (tmp_path / "eval" / "eval.json").unlink()
    with pytest.raises(Boom):
        E.evaluate(cfg, config("http://127.0.0.1:9/v1", tmp_path))
    saved = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert saved["bits_per_byte"][name]["stories"] == 6 and "missing" in saved["judge"]
    return {"judge failures kept as failed verdicts, eval.json kept": 2}


def _good_for(conn: socket.socket, n: int) -> bytes:
    # The raw server does not parse the prompt; any valid verdict will do here.
    return chat_reply(json.dumps({"grammar": 5, "creativity": 5, "consistency": 5,
                                  "age_group": "C"}))


class _ByteLM(E.StoryLM):
    """A stand-in model: bytes as tokens, uniform logits, completions of 'la'."""

    name, max_len, num_params = "bytes", 64, 0

    def encode(self, text: str) -> list[int]:
        return [0] + list(text.encode())

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(1, ids.shape[1], 256)

    def complete(self, prompt: str, cfg, seed: int) -> str:
        return " la" * (1 + seed % 3)


def case_redirect_never_forwards_the_key(tmp_path: Path, monkeypatch) -> dict:
    """Item 4: a redirect to another origin (another port of 127.0.0.1) is refused."""
    with StandInJudge() as other:
        for status in ("301 Moved", "302 Found", "307 Temporary Redirect", "308 Permanent"):
            def reply(c, n, status=status):
                c.sendall(f"HTTP/1.1 {status}\r\nLocation: {other.base_url}/chat/completions\r\n"
                          "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())

            with RawServer(reply) as srv:
                judge = Judge(config(srv.url, tmp_path))
                with pytest.raises(JudgeError, match="redirect to .*refused"):
                    judge.grade("Tom had a red", "ball.")
                assert judge.requests == 1
        assert other.requests == []  # the key never reached the other origin
    return {"redirects refused, key kept on its host": 4}


def case_drip_and_huge_replies_are_cut(tmp_path: Path, monkeypatch) -> dict:
    """Item 5: one deadline per request (a byte every 0.2 s in the body or the headers) and a
    cap on the reply's size (announced, or streamed without a length)."""
    def drip_body(c, n):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            c.sendall(b" ")
            time.sleep(0.2)

    def drip_headers(c, n):
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            c.sendall(bytes([byte]))
            time.sleep(0.2)

    for reply in (drip_body, drip_headers):
        with RawServer(reply) as srv:
            t0 = time.monotonic()
            with pytest.raises(JudgeError, match="no complete reply within 1 s"):
                Judge(config(srv.url, tmp_path, timeout_s=1, max_retries=0)).grade("T", "b.")
            assert time.monotonic() - t0 < 2.5

    def announced(c, n):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200000000\r\n\r\n" + b" " * 65536)

    def streamed(c, n):  # no Content-Length: the body ends when the server closes
        c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(100):
            c.sendall(b" " * 65536)

    for reply in (announced, streamed):
        with RawServer(reply) as srv:
            judge = Judge(config(srv.url, tmp_path, max_response_bytes=100_000))
            with pytest.raises(JudgeError, match="100,000-byte cap"):
                judge.grade("Tom had a red", "ball.")
            assert judge.requests == 1  # not retried: a bigger reply will not come smaller
    return {"dripping or huge judge replies cut off": 4}


def case_cached_verdicts_are_validated(tmp_path: Path, monkeypatch) -> dict:
    """Item 6: hand-edited cache grades (999, -5, "7", a bool, a bad age group) are asked again."""
    beginning = "Tom had a red"
    bad = [{"grammar": 999, "creativity": 5, "consistency": 5, "age_group": "C"},
           {"grammar": -5, "creativity": 5, "consistency": 5, "age_group": "C"},
           {"grammar": "7", "creativity": 5, "consistency": 5, "age_group": "C"},
           {"grammar": True, "creativity": 5, "consistency": 5, "age_group": "C"},
           {"grammar": 7, "creativity": 5, "consistency": 5, "age_group": "Z"},
           ["not", "a", "verdict"]]
    with StandInJudge() as server:
        jc = config(server.base_url, tmp_path)
        keys = [Judge(jc).key(judge_prompt(beginning, f"ball {i}.")) for i in range(len(bad))]
        lines = [json.dumps({"key": k, "verdict": v}) for k, v in zip(keys, bad)]
        Path(jc.cache_path).write_text("\n".join(lines) + "\n")
        judge = Judge(jc)
        assert judge.cache == {} and judge.cache_rejected == len(bad)
        verdicts = [judge.grade(beginning, f"ball {i}.") for i in range(len(bad))]
        assert judge.requests == len(bad) and not any(v["cached"] for v in verdicts)
        s = summarize(verdicts)
        assert s["n"] == len(bad) and all(1 <= s[k] <= 10 for k in ("grammar", "creativity"))
    return {"tampered cache verdicts refused": len(bad)}


def case_report_escapes_and_refuses_malformed_inputs(tmp_path: Path, monkeypatch) -> dict:
    """Items 17, 18: report.md shows hostile names as text; malformed inputs are one line."""
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    row = {"step": 1, "loss": 2.0, "lr": 1e-3, "tokens_per_s": 10.0}
    (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>![t](http://t.example/p.png)"
    ev = {"config": {"temperature": 0.8, "top_k": None, "top_p": 0.95, "max_new_tokens": 9},
          "models": [{"name": evil, "params": 1e6, "context": 8}],
          "bits_per_byte": {evil: {"bits_per_byte": 1.5, "bytes_per_token": 3.0, "stories": 2}},
          "diversity": {evil: {"distinct_1": 0.5}}, "samples": [{"prompt": evil, evil: evil}],
          "judge": {"missing": evil}}
    (run / "eval" / "eval.json").write_text(json.dumps(ev))
    md = R.build_report(run)["markdown"].read_text()
    assert "<script" not in md and "<img" not in md and "![t](" not in md
    bad = {"eval/eval.json": ["[]", '{"models": 5}', json.dumps({**ev, "samples": [{}]})],
           "metrics.jsonl": ["[1]\n", '{"step": 1}\n', "\n".join([json.dumps(row)] * 2 + ["x"])
                             + "\n" + json.dumps(row) + "\n"],
           "summary.json": ['"text"']}
    n = 0
    for name, texts in bad.items():
        good = (run / name).read_bytes() if (run / name).exists() else None
        for text in texts:
            (run / name).write_text(text)
            with pytest.raises(ValueError, match=f"^{str(run / name)}: .*") as e:
                R.build_report(run)
            assert "\n" not in str(e.value)
            n += 1
        if good is None:
            (run / name).unlink()
        else:
            (run / name).write_bytes(good)
    return {"report.md hostile names shown as text": 1, "malformed report inputs, one line": n}


def case_atomic_write_keeps_the_usual_file_mode(tmp_path: Path, monkeypatch) -> dict:
    """Item 19: atomic_write publishes 0666 less the umask (not mkstemp's 0600)."""
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    return {"atomic writes with the usual file mode": 1}


def case_download_never_resumes_foreign_parts_and_never_hangs(tmp_path: Path,
                                                              monkeypatch) -> dict:
    """Item 7: a .part the script did not start is fetched anew; a stalled server fails the
    download in one line (partial kept) within the stall limit, and the rerun resumes it."""
    if shutil.which("curl") is None:
        pytest.skip("download_data.sh's cases need curl")
    body = b"badword\n" * 4000
    state = {"stall": True, "ranges": []}

    def reply(c, n):  # Range-aware; the first GET sends 1000 bytes and then nothing
        rng = state["ranges"][-1] if state["ranges"] else None
        start = int(rng) if rng else 0
        head = (f"HTTP/1.1 {206 if start else 200} X\r\nContent-Length: {len(body) - start}\r\n"
                + (f"Content-Range: bytes {start}-{len(body) - 1}/{len(body)}\r\n"
                   if start else "") + "Connection: close\r\n\r\n").encode()
        if state.pop("stall", False):
            c.sendall(head + body[:1000])
            time.sleep(6)
        else:
            c.sendall(head + body[start:])

    srv = RawServer(reply)
    handle = srv._handle

    def recording(conn, n):  # note each request's Range start before answering
        peek = conn.recv(65536, socket.MSG_PEEK).decode("latin-1")
        start = [line.split("=")[1].rstrip("-") for line in peek.split("\r\n")
                 if line.lower().startswith("range:")]
        state["ranges"].append(start[0] if start else None)
        handle(conn, n)

    srv._handle = recording
    data = tmp_path / "data"
    data.mkdir()
    (data / "bad_words_full.txt.part").write_bytes(b"foreign junk")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HWLIB_", "CC_"))
           and "proxy" not in k.lower()}
    env.update(HOME=str(tmp_path), HWLIB_DATA_DIR=str(data), HWLIB_DOWNLOADER="curl",
               HWLIB_DOWNLOAD_BASE=srv.url.removesuffix("/v1"), HWLIB_DOWNLOAD_NO_VERIFY="1",
               HWLIB_DOWNLOAD_STALL_S="1", HWLIB_DOWNLOAD_RETRIES="0")
    script = str(REPO_ROOT / "download_data.sh")
    with srv:
        t0 = time.monotonic()
        first = subprocess.run([script, "badwords"], env=env, capture_output=True, text=True,
                               timeout=30, stdin=subprocess.DEVNULL)
        stalled_s = time.monotonic() - t0
        second = subprocess.run([script, "badwords"], env=env, capture_output=True, text=True,
                                timeout=30, stdin=subprocess.DEVNULL)
    assert first.returncode == 1 and len(first.stderr.strip().splitlines()) == 1
    assert "partial file kept" in first.stderr and stalled_s < 4
    assert "discard" in first.stdout  # the foreign .part was not resumed
    assert second.returncode == 0, second.stderr
    assert (data / "bad_words_full.txt").read_bytes() == body
    assert state["ranges"] == [None, "1000"]  # fetched anew, then resumed from its own part
    return {"foreign .part files not resumed": 1, "stalled downloads cut off, then resumed": 1}


def reliability_cases() -> dict[str, Callable]:
    """Every case of this file by name: what `python -m hwlib.bench reliability` can run."""
    return {name[len("case_"):]: fn for name, fn in globals().items()
            if name.startswith("case_") and callable(fn)}


def run_cases() -> dict[str, int]:
    """Run every case outside pytest; the summed figures, or AssertionError on the first failure.

    For hwlib.bench: load this file with importlib (spec_from_file_location) and call it.
    """
    totals: dict[str, int] = {}
    for fn in reliability_cases().values():
        with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
            try:
                figures = fn(Path(tmp), mp)
            except pytest.skip.Exception:
                continue
        for what, n in figures.items():
            totals[what] = totals.get(what, 0) + n
    return totals


# --------------------------------------------------------------------------- pytest entries
@pytest.fixture
def record(record_property):
    """Report a figure in the end-of-run reliability summary (see tests/conftest.py)."""
    return lambda name, value: record_property(f"reliability: {name}", value)


@pytest.mark.parametrize("name", sorted(reliability_cases()))
def test_case(name, tmp_path, monkeypatch, record):
    t0 = time.monotonic()
    for what, n in reliability_cases()[name](tmp_path, monkeypatch).items():
        record(what, n)
    assert time.monotonic() - t0 < 5, "a reliability case must take a few seconds at most"
