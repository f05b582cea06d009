"""hwlib.judge: verdict parsing, cutting stories, rate limit, retries, the cache, a loopback API."""

from __future__ import annotations

import json

import pytest

from hwlib.judge import (AGE_GROUPS, Judge, JudgeConfig, JudgeError, RateLimiter,
                         cut_mid_sentence, judge_prompt, parse_verdict, summarize)
from hwlib.standins import StandInJudge, default_answer, made_up_verdict

STORY = ("Tom had a red ball. He liked to throw it high in the sky. One day the ball went over "
         "the fence and Tom was sad. His friend Sue came to help him.")


def config(url: str, tmp_path, **kw) -> JudgeConfig:
    base = dict(base_url=url, model="judge-1", api_key="sk-test",
                cache_path=str(tmp_path / "cache.jsonl"), backoff_s=0.01, requests_per_s=0)
    return JudgeConfig(**{**base, **kw})


class Sleeps(list):
    """Records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_parse_verdict_takes_the_last_valid_json_line():
    good = {"grammar": 7, "creativity": 4, "consistency": 9, "age_group": "C"}
    answer = ("For example {\"grammar\": 1} is a bad answer.\nAssessment: fine.\n"
              + json.dumps(good))
    assert parse_verdict(answer) == good
    assert parse_verdict(json.dumps({**good, "age_group": "c: 6-7"}))["age_group"] == "C"
    for bad in ({**good, "grammar": 0}, {**good, "creativity": 11}, {**good, "grammar": True},
                {**good, "consistency": 7.5}, {**good, "age_group": "G"},
                {k: v for k, v in good.items() if k != "age_group"}):
        assert parse_verdict("ok " + json.dumps(bad)) is None, bad
    assert parse_verdict("no json here") is None
    assert parse_verdict("{not json}") is None


def test_prompt_follows_the_paper_protocol():
    p = judge_prompt("Tom had a red", "ball. He played.")
    assert "Tom had a red *** ball. He played." in p
    for word in ("grammar", "creativity", "consistency", "age group"):
        assert word in p
    for group, ages in AGE_GROUPS.items():
        assert f"{group}: {ages}" in p


def test_cut_mid_sentence():
    cut = cut_mid_sentence(STORY)
    assert STORY.startswith(cut) and len(cut) < len(STORY)
    assert cut[-1] not in ".!?\"'"  # the judge must see a sentence that the model finishes
    assert len(cut.split()) >= round(0.4 * len(STORY.split()))


def test_rate_limiter_spaces_calls():
    now = [0.0]
    sleeps = Sleeps()

    def sleep(s):
        sleeps.append(s)
        now[0] += s

    rl = RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        rl.wait()
    assert sleeps == [0.5, 0.5]
    now[0] += 5.0  # a long pause: the next call goes straight through
    rl.wait()
    assert sleeps == [0.5, 0.5]
    unlimited = RateLimiter(0, clock=lambda: 0.0, sleep=sleep)
    unlimited.wait(), unlimited.wait()
    assert sleeps == [0.5, 0.5]


def test_malformed_answer_is_retried_then_cached_so_a_rerun_costs_nothing(tmp_path):
    def answer(prompt, seen):  # the first answer to each prompt has no verdict
        return (200, "I think it is good.") if seen == 0 else default_answer(prompt, seen)

    with StandInJudge(answer) as server:
        judge = Judge(config(server.base_url, tmp_path))
        v = judge.grade("Tom had a red", "ball and he played with it.")
        expected = made_up_verdict(judge_prompt("Tom had a red", "ball and he played with it."))
        assert v == {**expected, "cached": False}
        assert judge.requests == 2 == len(server.requests)
        req = server.requests[0]
        assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
        assert req["body"]["model"] == "judge-1" and "Tom had a red ***" in (
            req["body"]["messages"][0]["content"])
        assert judge.grade("Tom had a red", "ball and he played with it.")["cached"]
        again = Judge(config(server.base_url, tmp_path))  # a rerun reads the cache file
        assert again.grade("Tom had a red", "ball and he played with it.") == {**expected,
                                                                                "cached": True}
        assert again.requests == 0 and len(server.requests) == 2
        other = Judge(config(server.base_url, tmp_path, model="judge-2"))  # the key has the model
        other.grade("Tom had a red", "ball and he played with it.")
        assert other.requests == 1  # asked again (the server now answers well at once)


def test_unparseable_answers_are_recorded_never_scored(tmp_path):
    with StandInJudge(lambda p, seen: (200, "Grammar: 8/10. Lovely!")) as server:
        judge = Judge(config(server.base_url, tmp_path, parse_retries=2))
        v = judge.grade("Tom had a red", "ball.")
        assert v["unparseable"] and "Lovely" in v["answer"]
        assert judge.requests == 3  # the first try and two retries
        judge.grade("Tom had a red", "ball.")  # not cached: a later run asks again
        assert judge.requests == 6
    good = {"grammar": 4, "creativity": 6, "consistency": 8, "age_group": "B"}
    s = summarize([v, good, {**good, "grammar": 6, "age_group": "D"}])
    assert (s["n"], s["unparseable"], s["grammar"], s["creativity"]) == (2, 1, 5.0, 6.0)
    assert s["age_groups"]["B"] == 1 and s["age_groups"]["D"] == 1


def test_server_errors_are_retried_with_backoff(tmp_path):
    def answer(prompt, seen):
        return [(500, ""), (429, "")][seen] if seen < 2 else default_answer(prompt, seen)

    with StandInJudge(answer) as server:
        sleeps = Sleeps()
        judge = Judge(config(server.base_url, tmp_path, backoff_s=0.5), sleep=sleeps)
        assert not judge.grade("Tom had a red", "ball.").get("unparseable")
        assert judge.requests == 3 and sleeps == [0.5, 1.0]


def test_client_errors_fail_at_once_and_a_dead_server_gives_up(tmp_path):
    with StandInJudge(lambda p, seen: (401, "")) as server:
        judge = Judge(config(server.base_url, tmp_path))
        with pytest.raises(JudgeError, match="HTTP 401.*judge-1"):
            judge.grade("Tom had a red", "ball.")
        assert judge.requests == 1
        url = server.base_url
    sleeps = Sleeps()  # the server is gone now: connection refused every time
    judge = Judge(config(url, tmp_path, max_retries=3, backoff_s=0.25), sleep=sleeps)
    with pytest.raises(JudgeError, match="gave up after 4 tries"):
        judge.grade("Tom had a red", "ball.")
    assert sleeps == [0.25, 0.5, 1.0]


def test_config_from_environment(monkeypatch):
    for k in ("HWLIB_JUDGE_BASE_URL", "HWLIB_JUDGE_MODEL", "HWLIB_JUDGE_API_KEY"):
        monkeypatch.delenv(k, raising=False)
    assert JudgeConfig.from_env() is None
    monkeypatch.setenv("HWLIB_JUDGE_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("HWLIB_JUDGE_MODEL", "m")
    c = JudgeConfig.from_env(cache_path="c.jsonl")
    assert (c.base_url, c.model, c.api_key, c.cache_path) == ("http://127.0.0.1:9/v1", "m", None,
                                                              "c.jsonl")


def test_a_broken_cache_line_is_skipped(tmp_path):
    with StandInJudge() as server:
        judge = Judge(config(server.base_url, tmp_path))
        judge.grade("Tom had a red", "ball.")
        with open(tmp_path / "cache.jsonl", "a") as f:
            f.write('{"key": "abc", "verd')  # a kill in the middle of an append
        again = Judge(config(server.base_url, tmp_path))
        assert again.grade("Tom had a red", "ball.")["cached"] and again.requests == 0


def test_try_grade_records_failures_keeps_cached_verdicts_and_stops_asking(tmp_path):
    with StandInJudge() as server:
        Judge(config(server.base_url, tmp_path)).grade("Tom had a red", "ball.")  # cached now
    with StandInJudge(lambda p, seen: (401, "")) as server:
        judge = Judge(config(server.base_url, tmp_path))
        first = judge.try_grade("Tom had a red", "kite.")
        assert "HTTP 401" in first["failed"] and judge.failure == first["failed"]
        assert judge.try_grade("Tom had a red", "boat.") == {"failed": judge.failure,
                                                              "cached": False}
        assert judge.try_grade("Tom had a red", "ball.")["cached"]  # the cache still answers
        assert len(server.requests) == 1  # asked once, not once per item
    good = {"grammar": 4, "creativity": 6, "consistency": 8, "age_group": "B"}
    s = summarize([first, good, {"unparseable": True, "answer": "?"}])
    assert (s["n"], s["unparseable"], s["failed"], s["grammar"]) == (1, 1, 1, 4.0)
