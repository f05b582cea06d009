"""An LLM judge for story completions, following the TinyStories paper (Eldan & Li 2023, sec. 3).

    export HWLIB_JUDGE_BASE_URL=https://api.openai.com/v1 HWLIB_JUDGE_MODEL=gpt-4o
    export HWLIB_JUDGE_API_KEY=...            # optional for a local server
    python -m hwlib.evaluate ... --out runs/ts42M/eval     # calls this module

The protocol: a held-out story is cut in the middle of a sentence, the model under test writes
the rest, and the judge grades the completion for grammar, creativity and consistency with the
beginning (1-10 each) and guesses the writer's age group (A: 3 or under ... F: 13-16). Any
OpenAI-compatible `/chat/completions` endpoint works; only the standard library is used. Verdicts
are cached on disk by a hash of (judge model, prompt), so a rerun asks nothing twice.

The API is not trusted: each request has one overall deadline and a size cap, redirects are
refused (the key is never sent to another address), and any answer that is not a valid verdict,
fresh or cached, is never scored.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

AGE_GROUPS = {"A": "3 or under", "B": "4-5", "C": "6-7", "D": "8-9", "E": "10-12", "F": "13-16"}
SCORES = ("grammar", "creativity", "consistency")
SEPARATOR = "***"

PROMPT = """In the following exercise, a student was given the beginning of a story and had to \
complete it into a full story. The exercise tests the student's language abilities and \
creativity. The symbol {sep} separates the given beginning from the student's completion; the \
beginning stops in the middle of a sentence.

{beginning} {sep} {completion}

First give a short general assessment of the part written by the student (after {sep}). Is it \
grammatically correct? Is it consistent with the beginning? Does the student finish the sentence \
that {sep} splits? Then grade the completion from 1 to 10 for grammar, for creativity, and for \
consistency with the beginning and whether the plot makes sense, and guess the student's age \
group from the completion: {ages}.

End your answer with one line of JSON and nothing after it, for example:
{{"grammar": 7, "creativity": 5, "consistency": 8, "age_group": "C"}}"""


@dataclass
class JudgeConfig:
    base_url: str  # an OpenAI-compatible API root, e.g. https://api.openai.com/v1
    model: str
    api_key: str | None = None
    cache_path: str = "judge_cache.jsonl"
    max_retries: int = 4  # transport retries per request (429, 5xx, network errors)
    parse_retries: int = 2  # extra requests when an answer has no valid verdict
    backoff_s: float = 1.0  # first retry waits this long, doubling after each failure
    requests_per_s: float = 2.0  # rate limit; 0 = unlimited
    timeout_s: float = 60.0  # for the whole request: connect, send, the reply's last byte
    max_response_bytes: int = 1_000_000  # a chat completion of max_tokens is a few kB
    max_tokens: int = 400

    @classmethod
    def from_env(cls, **overrides) -> JudgeConfig | None:
        """HWLIB_JUDGE_BASE_URL / _MODEL / _API_KEY from the environment; None when unset."""
        url, model = os.environ.get("HWLIB_JUDGE_BASE_URL"), os.environ.get("HWLIB_JUDGE_MODEL")
        if not url or not model:
            return None
        return cls(base_url=url, model=model, api_key=os.environ.get("HWLIB_JUDGE_API_KEY"),
                   **overrides)


MISSING = ("no judge configured: set HWLIB_JUDGE_BASE_URL and HWLIB_JUDGE_MODEL (and "
           "HWLIB_JUDGE_API_KEY if the API needs one) to any OpenAI-compatible chat API")


class JudgeError(RuntimeError):
    """The judge API refused or kept failing; the message says which URL and why."""


class _Transient(Exception):
    """A failed request worth retrying (network error, timeout, garbled reply)."""


def judge_prompt(beginning: str, completion: str) -> str:
    """The grading request for one completion of a story beginning."""
    ages = "; ".join(f"{k}: {v}" for k, v in AGE_GROUPS.items())
    return PROMPT.format(sep=SEPARATOR, beginning=beginning.strip(),
                         completion=completion.strip(), ages=ages)


def check_verdict(v) -> dict | None:
    """The verdict's grades (integers 1-10) and age group (A-F) when all are valid, else None."""
    if not isinstance(v, dict):
        return None
    grades = [v.get(k) for k in SCORES]
    # bool is an int subclass, and a "true" grade is no grade
    if not all(isinstance(g, int) and not isinstance(g, bool) and 1 <= g <= 10 for g in grades):
        return None
    age = v.get("age_group")
    age = age.strip().upper()[:1] if isinstance(age, str) else ""
    return {**dict(zip(SCORES, grades)), "age_group": age} if age in AGE_GROUPS else None


def parse_verdict(answer: str) -> dict | None:
    """The last JSON object in the answer with valid grades and age group, else None."""
    for text in reversed(re.findall(r"\{[^{}]*\}", answer)):
        try:
            v = check_verdict(json.loads(text))
        except json.JSONDecodeError:
            continue
        if v is not None:
            return v
    return None


def _content_text(content) -> str:
    """A chat message's content as text: a string, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str)
                                         for p in content):
        return "".join(p["text"] for p in content)
    # Kept as the answer, so the verdict is recorded unparseable and says why.
    return f"(the judge's message content is a {type(content).__name__}, not text)"


def cut_mid_sentence(story: str, fraction: float = 0.4) -> str:
    """The story's first ~fraction of words, ending inside a sentence (as the paper's prompts)."""
    words = story.split()
    k = max(1, min(len(words) - 1, round(len(words) * fraction)))
    # Step forward past sentence ends, so the judge sees a sentence the model has to finish.
    while k < len(words) - 1 and words[k - 1][-1] in ".!?\"'":
        k += 1
    return " ".join(words[:k])


class RateLimiter:
    """At most `per_s` calls per second: `wait()` sleeps until the next call is allowed."""

    def __init__(self, per_s: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / per_s if per_s > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_time = -float("inf")

    def wait(self) -> None:
        now = self.clock()
        if now < self.next_time:
            self.sleep(self.next_time - now)
            now = self.next_time
        self.next_time = now + self.interval


class Judge:
    """Grades completions through a chat API, caching every valid verdict in a JSONL file."""

    def __init__(self, config: JudgeConfig, sleep: Callable[[float], None] = time.sleep):
        self.config, self.sleep = config, sleep
        self.limiter = RateLimiter(config.requests_per_s, sleep=sleep)
        self.requests = 0  # HTTP requests actually sent (a cache hit sends none)
        self.failure: str | None = None  # set by try_grade once the API has failed for good
        self.cache_path = Path(config.cache_path)
        self.cache: dict[str, dict] = {}
        self.cache_rejected = 0  # cache lines that were not a valid verdict (asked again)
        if self.cache_path.exists():
            text = self.cache_path.read_text(encoding="utf-8", errors="replace")
            for line in text.splitlines():
                try:  # a kill mid-append leaves at most one broken last line: skip it
                    entry = json.loads(line)
                    key, verdict = entry["key"], check_verdict(entry["verdict"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    key, verdict = None, None
                # A hand-edited grade of 999 is no verdict: validated like a fresh answer.
                if isinstance(key, str) and verdict is not None:
                    self.cache[key] = verdict
                else:
                    self.cache_rejected += 1

    def key(self, prompt: str) -> str:
        return hashlib.sha256(json.dumps([self.config.model, prompt]).encode()).hexdigest()

    def _post(self, prompt: str) -> str:
        """One chat completion, retried with exponential backoff on 429, 5xx and network errors."""
        c = self.config
        url = c.base_url.rstrip("/") + "/chat/completions"
        body = json.dumps({"model": c.model, "temperature": 0, "max_tokens": c.max_tokens,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        headers = {"Content-Type": "application/json"}
        if c.api_key:
            headers["Authorization"] = f"Bearer {c.api_key}"
        delay = c.backoff_s
        for attempt in range(c.max_retries + 1):
            self.limiter.wait()
            self.requests += 1
            try:
                status, reason, data, location = self._send(url, body, headers)
                if status == 429 or status >= 500:
                    raise _Transient(f"HTTP {status}")
                if 300 <= status < 400:  # never follow: the key must not reach another host
                    raise JudgeError(f"{url}: HTTP {status} redirect to {location!r} refused (the "
                                     "API key is never sent on); set HWLIB_JUDGE_BASE_URL to the "
                                     "final address")
                if status != 200:  # a bad key or model: retrying cannot help
                    raise JudgeError(f"{url}: HTTP {status} {reason} (model {c.model!r})")
                try:
                    reply = json.loads(data.decode("utf-8"))
                    return _content_text(reply["choices"][0]["message"]["content"])
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    raise _Transient("a reply that is not a chat completion") from None
            except _Transient as e:
                why = str(e)
            if attempt < c.max_retries:
                self.sleep(delay)
                delay *= 2
        raise JudgeError(f"{url}: gave up after {c.max_retries + 1} tries: {why}")

    def _send(self, url: str, body: bytes, headers: dict) -> tuple[int, str, bytes, str | None]:
        """POST once: (status, reason, body, Location), all within timeout_s, body size capped."""
        c = self.config
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise JudgeError(f"{url}: not an http(s) URL; check HWLIB_JUDGE_BASE_URL")
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        try:
            conn = cls(u.hostname, u.port, timeout=c.timeout_s)
        except ValueError as e:  # a port that is not a number
            raise JudgeError(f"{url}: {e}") from None
        # The socket timeout bounds each read only: a server dripping a byte a second would
        # hold the judge forever. A timer shuts the socket at the deadline instead.
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(c.timeout_s, expire)
        timer.daemon = True
        timer.start()
        try:
            conn.request("POST", u.path + (f"?{u.query}" if u.query else ""), body, headers)
            r = conn.getresponse()
            size = r.getheader("Content-Length", "")
            if size.isdigit() and int(size) > c.max_response_bytes:
                raise JudgeError(f"{url}: a reply of {int(size):,} bytes, over the "
                                 f"{c.max_response_bytes:,}-byte cap")
            data = bytearray()
            while chunk := r.read(65536):
                data += chunk
                if len(data) > c.max_response_bytes:
                    raise JudgeError(f"{url}: a reply over the {c.max_response_bytes:,}-byte cap")
                if expired.is_set():
                    break
            if expired.is_set():
                raise TimeoutError
            if size.isdigit() and len(data) < int(size):  # read(n) returns a cut body quietly
                raise http.client.IncompleteRead(bytes(data), int(size) - len(data))
            return r.status, r.reason, bytes(data), r.getheader("Location")
        except (OSError, http.client.HTTPException) as e:  # incl. IncompleteRead, BadStatusLine
            if expired.is_set() or isinstance(e, TimeoutError):
                raise _Transient(f"no complete reply within {c.timeout_s:g} s") from None
            raise _Transient(f"{type(e).__name__}: {e}".strip(": ")[:200]) from None
        finally:
            timer.cancel()
            conn.close()

    def grade(self, beginning: str, completion: str) -> dict:
        """A verdict: the grades and age group, or {"unparseable": True, "answer": ...}.

        An answer without a valid verdict is asked again `parse_retries` times, then recorded as
        unparseable (never scored) and not cached, so a later run asks once more.
        """
        prompt = judge_prompt(beginning, completion)
        key = self.key(prompt)
        if key in self.cache:
            return {**self.cache[key], "cached": True}
        for _ in range(self.config.parse_retries + 1):
            answer = self._post(prompt)
            verdict = parse_verdict(answer)
            if verdict is not None:
                self.cache[key] = verdict
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                with self.cache_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": key, "verdict": verdict}) + "\n")
                return {**verdict, "cached": False}
        return {"unparseable": True, "answer": answer[-500:], "cached": False}

    def try_grade(self, beginning: str, completion: str) -> dict:
        """grade(), but a JudgeError becomes a recorded failed verdict (and ends the asking).

        After the first failure the API is not asked again (a dead server would cost every
        item its retries); cached verdicts are still used.
        """
        if self.failure is not None:
            key = self.key(judge_prompt(beginning, completion))
            if key in self.cache:
                return {**self.cache[key], "cached": True}
            return {"failed": self.failure, "cached": False}
        try:
            return self.grade(beginning, completion)
        except JudgeError as e:
            self.failure = str(e)
            return {"failed": self.failure, "cached": False}


def summarize(verdicts: list[dict]) -> dict:
    """Mean grades over the valid verdicts, the age-group counts, how many did not parse or fail."""
    ok = [v for v in verdicts if not v.get("unparseable") and not v.get("failed")]
    failed = sum(bool(v.get("failed")) for v in verdicts)
    out = {"n": len(ok), "unparseable": len(verdicts) - len(ok) - failed, "failed": failed}
    for k in SCORES:
        out[k] = sum(v[k] for v in ok) / len(ok) if ok else None
    out["age_groups"] = {g: sum(v["age_group"] == g for v in ok) for g in AGE_GROUPS}
    return out
