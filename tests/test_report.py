"""hwlib.report, and the whole boutique-LM track at toy scale on CPU (issue 7's "done when")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hwlib import evaluate as E
from hwlib import report as R
from hwlib.evaluate import EvalConfig, evaluate
from hwlib.judge import JudgeConfig, judge_prompt
from hwlib.standins import StandInJudge, made_up_verdict, tiny_gpt2
from hwlib.stories import generate_stories, write_story_splits
from hwlib.tokenizer import train_tokenizer
from hwlib.train import TrainConfig, train


def _train_tiny(tmp_path: Path) -> dict:
    """Stories, a 512-piece tokenizer and a few hundred updates of the tiny model."""
    stories = tmp_path / "stories"
    write_story_splits(stories, n_train=400, n_val=30, n_test=30, seed=11)
    tok = train_tokenizer([stories / "stories.train"], vocab_size=512,
                          model_prefix=tmp_path / "tok512")
    cfg = TrainConfig(option="pretrain", data_path=str(stories), val_path=str(stories),
                      test_path=str(stories), model_config="tiny", tokenizer=str(tok),
                      block_size=32, batch_size=8, micro_batch_size=4, epochs=100, lr=5e-3,
                      warmup_steps=20, schedule="cosine", max_steps=200, val_per_steps=100,
                      eval_batches=2, log_interval=20, save_every=1000, prefetch=0,
                      out_dir=str(tmp_path / "runs"), run_name="toy", seed=0, num_workers=1)
    return {"summary": train(cfg), "stories": stories, "tokenizer": tok}


def test_the_whole_track_at_toy_scale_produces_the_report(tmp_path):
    run = _train_tiny(tmp_path)
    run_dir = Path(run["summary"]["run_dir"])
    gpt2 = tiny_gpt2(tmp_path / "gpt2-standin", generate_stories(300, seed=5), vocab_size=400)
    with StandInJudge() as server:
        jc = JudgeConfig(base_url=server.base_url, model="loopback-judge", requests_per_s=0,
                         cache_path=str(run_dir / "eval" / "judge_cache.jsonl"))
        cfg = EvalConfig(checkpoint=run["summary"]["best_checkpoint"], baseline=str(gpt2),
                         val_file=str(run["stories"] / "stories.test"),
                         out=str(run_dir / "eval"), max_stories=10, judge_stories=3,
                         max_new_tokens=24, use_gpu=False)
        ev = evaluate(cfg, jc)  # the tokenizer comes from the checkpoint's record
        sent = len(server.requests)
        assert sent == ev["judge"]["requests"] == 6  # 3 beginnings x 2 models
        items = ev["judge"]["items"]  # judging the same completions again costs nothing
        again = E._judge(cfg, jc, [i["beginning"] for i in items],
                         {n: [i[n]["completion"] for i in items] for n in ev["judge"]["summary"]})
        assert again["requests"] == 0 and len(server.requests) == sent
        assert again["summary"] == ev["judge"]["summary"]
    ours, theirs = (m["name"] for m in ev["models"])
    # toy-scale evidence: a few hundred updates beat a random GPT-2 on held-out stories
    bpb = ev["bits_per_byte"]
    assert bpb[ours]["bits_per_byte"] < 0.8 * bpb[theirs]["bits_per_byte"]
    for item in ev["judge"]["items"]:  # each verdict is the judge's answer for that completion
        v = made_up_verdict(judge_prompt(item["beginning"], item[ours]["completion"]))
        assert {k: item[ours][k] for k in v} == v

    out = R.build_report(run_dir)
    md = out["markdown"].read_text()
    for heading in ("## Training", "## Configuration", "## Evaluation", "Bits per byte",
                    "LLM judge", "Diversity", "Samples"):
        assert heading in md
    assert "loopback-judge" in md and "Missing" not in md
    g = ev["judge"]["summary"][ours]["grammar"]
    assert re.search(rf"\| {re.escape(ours)} \| {g:.4g} \|", md)  # the judge row, exact means
    assert f"{bpb[ours]['bits_per_byte']:.4g}" in md
    assert "| model_config | tiny |" in md and "| block_size | 32 |" in md
    for png in ("loss.png", "throughput.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in md
    page = out["html"].read_text()
    assert page.count("src='data:image/png;base64,") == 2 and ".png'" not in page
    assert "Once upon a time, there was a little girl named Lily." in page


@pytest.fixture
def bare_run(tmp_path) -> Path:
    """A run folder with metrics only: no checkpoint, no summary, no evaluation."""
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": s, "epoch": 0, "loss": 5.0 - s / 100, "lr": 1e-3, "tokens_per_s": 1000.0,
             "grad_norm": 1.0} for s in range(10, 110, 10)]
    rows[-1].update(val_loss=4.2, val_perplexity=66.7)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def test_missing_pieces_are_stated_and_the_report_still_builds(bare_run):
    md = R.build_report(bare_run)["markdown"].read_text()
    assert "No evaluation yet" in md and "python -m hwlib.evaluate" in md
    assert "No checkpoint found" in md and "No MFU" in md
    eval_dir = bare_run / "eval"
    eval_dir.mkdir()
    ev = {"config": {"temperature": 0.8, "top_k": None, "top_p": 0.95, "max_new_tokens": 9},
          "models": [{"name": "a", "params": 1e6, "context": 8}],
          "bits_per_byte": {"a": {"bits_per_byte": 1.5, "bytes_per_token": 3.0, "stories": 2}},
          "diversity": {"a": {"distinct_1": 0.5}},
          "samples": [{"prompt": "Hi | there", "a": "line one\nline two"}],
          "judge": {"missing": "no judge configured: set HWLIB_JUDGE_BASE_URL"}}
    (eval_dir / "eval.json").write_text(json.dumps(ev))
    md = R.build_report(bare_run)["markdown"].read_text()
    assert "Missing: no judge configured" in md
    assert "| Hi \\| there | line one<br>line two |" in md  # cells stay one table row


def test_mfu_is_plotted_and_summarised_when_present(bare_run):
    rows = [json.loads(line) for line in (bare_run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r["mfu"] = 0.4
    (bare_run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    md = R.build_report(bare_run)["markdown"].read_text()
    assert "mean 40.0%, last 40.0%" in md


def test_html_escapes_text():
    doc = R.Doc()
    doc.p("<script>alert(1)</script>")
    doc.table(["a"], [["<b>"]])
    page = doc.html("t")
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;b&gt;" in page


def test_bad_input_is_one_line(tmp_path, bare_run, capsys):
    with pytest.raises(SystemExit) as e:
        R.main([str(tmp_path / "nope")])
    assert "nope: run folder not found" in str(e.value)
    lines = (bare_run / "metrics.jsonl").read_text().splitlines()
    (bare_run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 1')  # killed mid-line
    R.build_report(bare_run)  # a torn last line is skipped
    (bare_run / "metrics.jsonl").write_text("oops\n" + "\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as e:
        R.main([str(bare_run)])
    assert "metrics.jsonl: line 1 is not JSON" in str(e.value)
    (bare_run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (bare_run / "summary.json").write_text("{")
    with pytest.raises(SystemExit) as e:
        R.main([str(bare_run)])
    assert "summary.json: not valid JSON" in str(e.value)


def test_table_cells_keep_sampled_control_characters_inside_their_row():
    from hwlib.report import _md_cell

    row = "| " + " | ".join(map(_md_cell, ["a|b\r\nc\rd", "x\x00y\u2028z\tw"])) + " |"
    assert "\r" not in row and "\n" not in row and "\x00" not in row and "\u2028" not in row
    assert row == "| a\\|b<br>c<br>d | xy<br>z w |"


def _eval_json(names=("a",), sample="line one") -> dict:
    return {"config": {"temperature": 0.8, "top_k": None, "top_p": 0.95, "max_new_tokens": 9},
            "models": [{"name": n, "params": 1e6, "context": 8} for n in names],
            "bits_per_byte": {n: {"bits_per_byte": 1.5, "bytes_per_token": 3.0, "stories": 2}
                              for n in names},
            "diversity": {n: {"distinct_1": 0.5} for n in names},
            "samples": [{"prompt": "Hi", **{n: sample for n in names}}],
            "judge": {"judge_model": "<img src=x onerror=alert(2)>", "requests": 1,
                      "summary": {n: {"n": 1, "unparseable": 0, "grammar": 5.0,
                                      "creativity": 5.0, "consistency": 5.0,
                                      "age_groups": {"A": 1}} for n in names}}}


def test_markdown_escapes_html_and_links_from_model_names_samples_and_judge(bare_run):
    evil = bare_run.parent / "<b onmouseover=alert(4)>run"
    bare_run.rename(evil)
    (evil / "eval").mkdir()
    ev = _eval_json(names=["<script>alert(1)</script>"],
                    sample="<img src=x onerror=alert(3)> ![pixel](http://t.example/x.png) a\\|b")
    (evil / "eval" / "eval.json").write_text(json.dumps(ev))
    md = R.build_report(evil)["markdown"].read_text()
    for raw in ("<script", "<img", "<b ", "![pixel]", "[pixel](http"):
        assert raw not in md, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md  # shown as text, not dropped
    assert "&lt;img src=x onerror=alert(2)&gt;" in md and "!\\[pixel\\](http" in md
    assert "a\\\\\\|b" in md  # a sampled backslash cannot un-escape the cell's pipe
    assert "# hwlib run &lt;b onmouseover=alert(4)&gt;run\n" in md


@pytest.mark.parametrize("metrics, problem", [
    ('[1, 2]\n', "line 1 is not a metrics row"),
    ('{"step": 1, "loss": 2.0}\n', "line 1 is not a metrics row"),
    ('{"step": "1", "loss": 2.0, "lr": 1, "tokens_per_s": 1}\n', "line 1 is not a metrics row"),
    (b'\xff\xfe{"step"\n', "not UTF-8"),
])
def test_malformed_metrics_is_one_line_naming_the_file(bare_run, metrics, problem):
    path = bare_run / "metrics.jsonl"
    path.write_bytes(metrics if isinstance(metrics, bytes) else metrics.encode())
    with pytest.raises(SystemExit) as e:
        R.main([str(bare_run)])
    assert str(path) in str(e.value) and problem in str(e.value)
    assert len(str(e.value).splitlines()) == 1


@pytest.mark.parametrize("ev", [
    [1, 2], "text", {}, {"models": "a"}, {**_eval_json(), "bits_per_byte": {}},
    {**_eval_json(), "samples": [{"prompt": "Hi"}]}, {**_eval_json(), "judge": []},
    {**_eval_json(), "models": [{"name": "a", "params": "big"}]},
])
def test_malformed_eval_json_is_one_line_naming_the_file(bare_run, ev):
    (bare_run / "eval").mkdir()
    path = bare_run / "eval" / "eval.json"
    path.write_text(json.dumps(ev))
    with pytest.raises(SystemExit) as e:
        R.main([str(bare_run)])
    assert str(path) in str(e.value) and len(str(e.value).splitlines()) == 1
    (bare_run / "summary.json").write_text("[]")
    path.write_text(json.dumps(_eval_json()))
    with pytest.raises(SystemExit) as e:
        R.main([str(bare_run)])
    assert "summary.json: not a JSON object" in str(e.value)
