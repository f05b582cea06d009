"""An LLM judge for story completions, following the TinyStories paper (Eldan & Li 2023, sec. 3).

    export HWLIB_JUDGE_BASE_URL=https://api.openai.com/v1 HWLIB_JUDGE_MODEL=gpt-4o
    export HWLIB_JUDGE_API_KEY=...            # optional for a local server
    python -m hwlib.evaluate ... --out runs/ts42M/eval     # calls this module

The protocol: a held-out story is cut in the middle of a sentence, the model under test writes
the rest, and the judge grades the completion for grammar, creativity and consistency with the
beginning (1-10 each) and guesses the writer's age group (A: 3 or under ... F: 13-16). Any
OpenAI-compatible `/chat/completions` endpoint works; only the standard library is used. Verdicts
are cached on disk by a hash of (judge model, prompt), so a rerun asks nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request
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
    timeout_s: float = 60.0
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


def judge_prompt(beginning: str, completion: str) -> str:
    """The grading request for one completion of a story beginning."""
    ages = "; ".join(f"{k}: {v}" for k, v in AGE_GROUPS.items())
    return PROMPT.format(sep=SEPARATOR, beginning=beginning.strip(),
                         completion=completion.strip(), ages=ages)


def parse_verdict(answer: str) -> dict | None:
    """The last JSON object in the answer with valid grades and age group, else None."""
    for text in reversed(re.findall(r"\{[^{}]*\}", answer)):
        try:
            v = json.loads(text)
        except json.JSONDecodeError:
            continue
        if not isinstance(v, dict):
            continue
        grades = [v.get(k) for k in SCORES]
        # bool is an int subclass, and a "true" grade is no grade
        if not all(isinstance(g, int) and not isinstance(g, bool) and 1 <= g <= 10
                   for g in grades):
            continue
        age = str(v.get("age_group", "")).strip().upper()[:1]
        if age in AGE_GROUPS:
            return {**dict(zip(SCORES, grades)), "age_group": age}
    return None


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
        self.cache_path = Path(config.cache_path)
        self.cache: dict[str, dict] = {}
        if self.cache_path.exists():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                try:  # a kill mid-append leaves at most one broken last line: skip it
                    entry = json.loads(line)
                    self.cache[entry["key"]] = entry["verdict"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

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
                req = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=c.timeout_s) as r:
                    reply = json.loads(r.read().decode("utf-8"))
                return reply["choices"][0]["message"]["content"] or ""
            except urllib.error.HTTPError as e:
                if e.code != 429 and e.code < 500:  # a bad key or model: retrying cannot help
                    msg = f"{url}: HTTP {e.code} {e.reason} (model {c.model!r})"
                    raise JudgeError(msg) from None
                reason = f"HTTP {e.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                reason = str(getattr(e, "reason", e))
            except (json.JSONDecodeError, KeyError, IndexError, TypeError, UnicodeDecodeError):
                reason = "a reply that is not a chat completion"
            if attempt < c.max_retries:
                self.sleep(delay)
                delay *= 2
        raise JudgeError(f"{url}: gave up after {c.max_retries + 1} tries: {reason}")

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


def summarize(verdicts: list[dict]) -> dict:
    """Mean grades over the parsed verdicts, the age-group counts, and how many did not parse."""
    ok = [v for v in verdicts if not v.get("unparseable")]
    out = {"n": len(ok), "unparseable": len(verdicts) - len(ok)}
    for k in SCORES:
        out[k] = sum(v[k] for v in ok) / len(ok) if ok else None
    out["age_groups"] = {g: sum(v["age_group"] == g for v in ok) for g in AGE_GROUPS}
    return out
