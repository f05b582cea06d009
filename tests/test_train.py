"""hwlib.train: flags, gradient accumulation, exact resume, learning, DDP, bad input, generate."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import hwlib.tokenizer
from conftest import tiny_run
from hwlib import train as T
from hwlib.bench_reliability import kill_trainer, resume_trainer
from hwlib.checkpoint import load_checkpoint, save_checkpoint
from hwlib.cli import config_to_flags
from hwlib.data import TokenBlocks, micro_batches
from hwlib.model import Llama, LlamaConfig
from hwlib.stories import write_story_splits
from hwlib.tokenizer import train_tokenizer
from hwlib.sample import GenerateConfig
from hwlib.train import StopTraining, TrainConfig, main, parse_config, parse_configs
from hwlib.train import train
from hwlib.utils import REPO_ROOT, CheckpointError

VOCAB = 512  # the tiny preset's vocabulary



@pytest.fixture(scope="module")
def stories(tmp_path_factory) -> Path:
    """A folder with stories.train/.val/.test (the bundled generator, fewer stories)."""
    out = tmp_path_factory.mktemp("stories")
    write_story_splits(out, n_train=500, n_val=40, n_test=40, seed=7)
    return out


@pytest.fixture(scope="module")
def tok(stories, tmp_path_factory) -> Path:
    prefix = tmp_path_factory.mktemp("tok") / "stories512"
    return Path(train_tokenizer([stories / "stories.train"], vocab_size=VOCAB, model_prefix=prefix))


def config(tmp_path: Path, stories: Path, tok: Path, **kw) -> TrainConfig:
    """conftest's tiny run, validated on the stories' .val file, six updates."""
    return tiny_run(tmp_path / "runs", stories, kw.pop("tokenizer", tok), **{
        "val_path": str(stories), "max_steps": 6, "seed": 0, "eval_batches": 4, **kw})


def losses(history: list[dict], key: str = "loss") -> list[float]:
    return [m[key] for m in history if key in m]


def test_flags_are_the_course_flags_and_build_the_same_config():
    course = ("--data_path d --tokenized_dir t --overwrite_tokenized --block_size 64"
              " --batch_size 32"
              " --micro_batch_size 8 --epochs 2 --lr 0.01 --warmup_steps 5 --warmup_ratio 0.1"
              " --val_path v --val_tokenized_dir vt --val_per_steps 7 --test_path s"
              " --test_tokenized_dir st --auto_resume --run_name r --use_gpu --wandb_project p"
              " --wandb_entity e --seed 3 --option pretrain --pretrained-model-path m.pt"
              " --generated_sentence_low_temp_out lo.txt --generated_sentence_high_temp_out hi.txt")
    ours = (" --model_config tiny --tokenizer k.model --max_steps 9 --dtype float16 --compile"
            " --out_dir o --tensorboard --top_k 5 --top_p 0.9 --prompt hi --max_new_tokens 3")
    cfg, gen = parse_configs((course + ours).split())
    assert cfg == TrainConfig(
        data_path="d", tokenized_dir="t", overwrite_tokenized=True, block_size=64, batch_size=32,
        micro_batch_size=8, epochs=2, lr=0.01, warmup_steps=5, warmup_ratio=0.1, val_path="v",
        val_tokenized_dir="vt", val_per_steps=7, test_path="s", test_tokenized_dir="st",
        auto_resume=True, run_name="r", use_gpu=True, wandb_project="p", wandb_entity="e", seed=3,
        option="pretrain", pretrained_model_path="m.pt", model_config="tiny", tokenizer="k.model",
        max_steps=9, dtype="float16", compile=True, out_dir="o", tensorboard=True,
    )
    assert gen == GenerateConfig(
        generated_sentence_low_temp_out="lo.txt", generated_sentence_high_temp_out="hi.txt",
        top_k=5, top_p=0.9, prompt="hi", max_new_tokens=3)
    assert parse_config((course + ours).split()) == cfg
    # Defaults are the course's; no flags at all gives TrainConfig() itself.
    d = parse_config([])
    assert d == TrainConfig()
    assert (d.block_size, d.batch_size, d.epochs, d.lr, d.seed, d.option) == (
        512, 8, 5, 1e-3, 1337, "generate")
    assert parse_config(["--pretrained_model_path", "x.pt"]).pretrained_model_path == "x.pt"


def test_processes_split_each_global_batch_without_overlap(tmp_path):
    bins = tmp_path / "a.bin"
    np.arange(10 * 5, dtype=np.uint16).tofile(bins)
    ds = TokenBlocks([bins], block_size=4)  # 10 blocks; block i starts with token 5 * i
    cfg = TrainConfig(batch_size=4, micro_batch_size=1)
    shards = [list(micro_batches(ds, 0, 0, cfg.batch_size, 1, rank=r, world=2)) for r in range(2)]
    order = ds.order(0)
    for u in range(2):  # two updates of 4 blocks; rank r gets micro-batches r and r + 2
        firsts = [[int(x[0, 0]) // 5 for x, _ in shards[r][u]] for r in range(2)]
        assert sorted(firsts[0] + firsts[1]) == sorted(order[4 * u : 4 * u + 4].tolist())
        assert firsts[0] == order[4 * u : 4 * u + 4][0::2].tolist()


def test_gradient_accumulation_equals_one_big_batch(tmp_path, stories, tok):
    """8 sequences as 4 micro-batches of 2 = one batch of 8: same losses, grad norms, weights."""
    # The whole val split (333 blocks): the last micro-batch of each run's validation is short.
    kw = {"max_steps": 3, "eval_batches": 0}
    big = train(config(tmp_path, stories, tok, micro_batch_size=8, run_name="big", **kw))
    acc = train(config(tmp_path, stories, tok, micro_batch_size=2, run_name="acc", **kw))
    # A gradient summed instead of averaged over micro-batches shows in the norm (AdamW itself
    # would hide it), and validation must not depend on the micro-batch size either.
    for key in ("loss", "grad_norm", "val_loss"):
        np.testing.assert_allclose(losses(acc["history"], key), losses(big["history"], key),
                                   rtol=1e-5)
    a, b = (load_checkpoint(s["checkpoint"]).state_dict() for s in (acc, big))
    for name in a:  # Adam divides by sqrt(v): float rounding in near-zero gradients moves a
        # weight by up to ~lr * 1e-2 (3e-5 here); a wrong accumulation moves them by ~lr.
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=3e-5)


def test_resume_after_a_crash_reproduces_the_uninterrupted_run(tmp_path, stories, tok):
    # Warmup + cosine and dropout: the lr schedule and the RNG must be restored too.
    kw = {"max_steps": 8, "save_every": 4, "warmup_steps": 3, "schedule": "cosine",
          "dropout": 0.1}
    straight = train(config(tmp_path / "a", stories, tok, **kw))

    def crash(m):
        if m["step"] == 6:  # after the resume checkpoint of step 4, before the one of step 8
            raise RuntimeError("simulated crash")

    cfg = config(tmp_path / "b", stories, tok, **kw)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, callbacks=[crash])
    resumed = train(dataclasses.replace(cfg, auto_resume=True))
    assert resumed["steps"] == 8
    for key in ("loss", "grad_norm", "lr", "val_loss"):
        assert losses(resumed["history"], key) == losses(straight["history"], key)  # exact
    # metrics.jsonl holds each step once: the lines logged after the step-4 save were dropped.
    lines = [json.loads(s) for s in Path(resumed["metrics"]).read_text().splitlines()]
    assert [m["step"] for m in lines] == list(range(1, 9))
    a, b = (load_checkpoint(s["checkpoint"]).state_dict() for s in (straight, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_after_sigkill_of_the_command_line_run(tmp_path, stories, tok):
    """Kill -9 `python -m hwlib.train` mid-run, rerun with --auto_resume: the same losses."""
    cfg = config(tmp_path, stories, tok, max_steps=150, save_every=10, val_path=None,
                 log_interval=1)
    straight = train(dataclasses.replace(cfg, run_name="straight"))
    assert parse_config(config_to_flags(cfg)) == cfg
    resume = T.run_paths(cfg)["resume_checkpoint"]
    kill_trainer(cfg, step=15)  # after the first save (step 10), before the next
    killed_at = torch.load(resume, weights_only=True)["step"]
    assert 10 <= killed_at < 150
    run = resume_trainer(cfg, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"at step {killed_at}" in run.stdout
    lines = [json.loads(s) for s in T.run_paths(cfg)["metrics"].open()]
    assert [m["step"] for m in lines] == list(range(1, 151))
    assert losses(lines) == losses(straight["history"])


def test_stop_from_a_callback_then_resume_matches(tmp_path, stories, tok):
    straight = train(config(tmp_path / "a", stories, tok, max_steps=6))

    def stop(m):
        if m["step"] == 3:
            raise StopTraining

    cfg = config(tmp_path / "b", stories, tok, max_steps=6)
    first = train(cfg, callbacks=[stop])
    assert first["stopped_early"] and first["steps"] == 3
    resumed = train(dataclasses.replace(cfg, auto_resume=True))
    assert losses(resumed["history"]) == losses(straight["history"])


def unigram_entropy(bin_path: Path) -> float:
    """Entropy (nats) of the token frequencies: the loss of the best context-free model."""
    counts = np.bincount(np.memmap(bin_path, dtype=np.uint16, mode="r"))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


@pytest.fixture(scope="module")
def trained(stories, tok, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    cfg = config(out, stories, tok, block_size=64, batch_size=16, micro_batch_size=16,
                 max_steps=80, val_per_steps=20, eval_batches=0, test_path=str(stories),
                 log_interval=10)
    return cfg, train(cfg)


def test_a_short_run_beats_the_unigram_baseline(trained, stories):
    cfg, summary = trained
    baseline = unigram_entropy(stories / "tokenized" / "stories.val.bin")  # about 5.0 nats
    assert summary["best_val_loss"] < baseline - 1.0, (summary["best_val_loss"], baseline)
    assert summary["test_loss"] < baseline - 1.0
    assert math.isclose(summary["test_perplexity"], math.exp(summary["test_loss"]))
    for key in ("checkpoint", "best_checkpoint", "resume_checkpoint", "metrics"):
        assert Path(summary[key]).exists()
    vals = losses(summary["history"], "val_loss")
    assert summary["best_val_loss"] == min(vals)
    best = torch.load(summary["best_checkpoint"], weights_only=True)
    assert best["val_loss"] == min(vals) and best["tokenizer"] == str(Path(cfg.tokenizer).resolve())


def test_generate_option_writes_both_files(trained, tmp_path, capsys):
    _, summary = trained
    low, high = tmp_path / "low.txt", tmp_path / "high.txt"
    main(["--option", "generate", "--pretrained-model-path", summary["best_checkpoint"],
          "--generated_sentence_low_temp_out", str(low),
          "--generated_sentence_high_temp_out", str(high), "--max_new_tokens", "20"])
    for path in (low, high):
        text = path.read_text()
        assert text.startswith("Once upon a time,") and len(text) > len("Once upon a time,") + 10
    assert "loaded" in capsys.readouterr().out


def test_generate_cuts_the_prompt_and_runs_the_learners_sampler(trained, tok, tmp_path, capsys):
    _, summary = trained
    impl = tmp_path / "sampler.py"  # the learner's next-token function: always token 42
    impl.write_text("import torch\n"
                    "def sample_next(logits, temperature, top_k=None, generator=None):\n"
                    "    return torch.full((logits.size(0), 1), 42, dtype=torch.long)\n")
    low, high = tmp_path / "low.txt", tmp_path / "high.txt"
    main(["--option", "generate", "--pretrained-model-path", summary["best_checkpoint"],
          "--generated_sentence_low_temp_out", str(low), "--impl", str(impl),
          "--generated_sentence_high_temp_out", str(high), "--max_new_tokens", "5",
          "--max_sentence_len", "3", "--tokenizer", str(tok)])
    out = capsys.readouterr().out
    t = hwlib.tokenizer.Tokenizer(tok)
    cut = t.decode(t.encode(GenerateConfig().prompt)[:3])  # BOS and two pieces
    assert f"prompt cut to 3 tokens (--max_sentence_len): {cut!r}" in out
    assert "using your sample_next; the kit's compute_query_key_value_scores" in out
    want = t.decode(t.encode(cut)[1:] + [42] * 5)
    assert low.read_text().strip() == want.strip() and high.read_text().strip() == want.strip()


def test_ddp_two_processes_match_one_process(tmp_path, stories, tok):
    cfg = config(tmp_path, stories, tok, micro_batch_size=2, max_steps=3, run_name="one",
                 prefetch=0)
    one = train(cfg)
    flags = ["--option", "pretrain", "--data_path", str(stories), "--val_path", str(stories),
             "--model_config", "tiny", "--tokenizer", str(tok), "--block_size", "32",
             "--batch_size", "8", "--micro_batch_size", "2", "--epochs", "1", "--lr", "0.003",
             "--max_steps", "3", "--log_interval", "1", "--out_dir", str(tmp_path / "runs"),
             "--seed", "0", "--eval_batches", "4", "--run_name", "two"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "hwlib.train", *flags],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    two = [json.loads(s) for s in (tmp_path / "runs" / "two" / "metrics.jsonl").open()]
    for key in ("loss", "grad_norm", "val_loss"):
        np.testing.assert_allclose(losses(two, key), losses(one["history"], key), rtol=1e-5)


# ------------------------------------------------------------------------------- bad input
def one_line_exit(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    msg = str(e.value.code)
    assert msg.startswith("error: ") and "\n" not in msg
    return msg


def test_batch_size_not_divisible(tmp_path, stories, tok):
    with pytest.raises(ValueError, match="batch_size 10 is not divisible by --micro_batch_size 4"):
        train(config(tmp_path, stories, tok, batch_size=10))
    msg = one_line_exit(["--option", "pretrain", "--batch_size", "10", "--micro_batch_size", "4",
                         "--data_path", str(stories), "--tokenizer", str(tok)])
    assert "not divisible" in msg


def test_unknown_preset(tmp_path, stories, tok):
    msg = one_line_exit(["--option", "pretrain", "--model_config", "7B",
                         "--data_path", str(stories), "--tokenizer", str(tok)])
    assert "'7B'" in msg and "42M" in msg


def test_empty_data_dir(tmp_path, tok):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no \*.train"):
        train(config(tmp_path, tmp_path / "empty", tok))


def test_block_size_larger_than_the_data(tmp_path, tok):
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "a.train").write_text("Once upon a time there was a cat.\n")
    with pytest.raises(ValueError, match="No pretraining sequences available"):
        train(config(tmp_path, tmp_path / "small", tok, val_path=None))


def test_missing_default_tokenizer_names_the_download(tmp_path, stories, monkeypatch):
    missing = tmp_path / "llama2" / "tokenizer.model"
    monkeypatch.setattr(hwlib.tokenizer, "LLAMA2_TOKENIZER", missing)
    with pytest.raises(FileNotFoundError, match=r"download_data.sh tokenizer"):
        train(config(tmp_path, stories, tok, tokenizer=None))


def test_corrupt_and_foreign_checkpoints(tmp_path, stories, tok):
    corrupt, foreign = tmp_path / "corrupt.pt", tmp_path / "foreign.pt"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    torch.save({"weights": torch.zeros(2)}, foreign)
    for path in (corrupt, foreign):
        with pytest.raises(CheckpointError, match=str(path.name)):
            train(config(tmp_path, stories, tok, pretrained_model_path=str(path)))
        assert path.exists()  # nothing saved is lost


def test_vocab_mismatch_is_refused_up_front(tmp_path, stories, tok):
    other = tmp_path / "vocab600.pt"
    save_checkpoint(other, Llama(LlamaConfig.preset("tiny", vocab_size=600)))
    with pytest.raises(ValueError, match="600 tokens but the tokenizer's has 512"):
        train(config(tmp_path, stories, tok, pretrained_model_path=str(other)))
    msg = one_line_exit(["--option", "generate", "--pretrained-model-path", str(other),
                         "--tokenizer", str(tok)])
    assert "vocabulary" in msg


def test_pretrained_model_path_is_the_starting_point(tmp_path, stories, tok, capsys):
    start = tmp_path / "start.pt"
    save_checkpoint(start, Llama(LlamaConfig.preset("tiny")))
    s = train(config(tmp_path, stories, tok, pretrained_model_path=str(start), max_steps=1,
                     lr=1e-30, grad_clip=0.0))
    assert f"starting from the pretrained model {start}" in capsys.readouterr().out
    a, b = load_checkpoint(start).state_dict(), load_checkpoint(s["checkpoint"]).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # lr 1e-30: below float32's resolution


def test_wandb_and_tensorboard_are_skipped_quietly_when_missing(tmp_path, stories, tok,
                                                               monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    s = train(config(tmp_path, stories, tok, wandb_project="p", max_steps=1))
    assert s["steps"] == 1 and "skipping wandb logging: it is not" in capsys.readouterr().out
    s = train(config(tmp_path, stories, tok, tensorboard=True, max_steps=1))
    assert s["steps"] == 1 and "skipping torch.utils.tensorboard logging" in capsys.readouterr().out


def test_nan_loss_stops_at_that_step_and_keeps_checkpoints(tmp_path, stories, tok):
    # lr 1e30 blows the weights up in the first update, so the second loss is not finite.
    cfg = config(tmp_path, stories, tok, lr=1e30, grad_clip=0.0, save_every=1)
    with pytest.raises(FloatingPointError, match="at step 2"):
        train(cfg)
    resume = Path(T.run_paths(cfg)["resume_checkpoint"])
    assert torch.load(resume, weights_only=True)["step"] == 1  # the last good state, kept


def test_resume_with_other_flags_or_a_corrupt_file(tmp_path, stories, tok):
    cfg = config(tmp_path, stories, tok, max_steps=2)
    train(cfg)
    with pytest.raises(ValueError, match="written with --lr 0.003, now 0.001"):
        train(dataclasses.replace(cfg, auto_resume=True, lr=1e-3))
    resume = T.run_paths(cfg)["resume_checkpoint"]
    resume.write_bytes(resume.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="run-resume.pt"):
        train(dataclasses.replace(cfg, auto_resume=True))
    assert resume.stat().st_size == 100  # left for the user to inspect


# --- a learner's scheduler, update step and attention are the code that runs (issue 15) -------
def learner_step(model, optimizer, scheduler, micro_batches, grad_clip):
    """The contract written differently from the kit's: sum of scaled losses, zero first."""
    optimizer.zero_grad()
    total = 0.0
    for x, y in micro_batches:
        loss = model(x, targets=y)[1] / len(micro_batches)
        loss.backward()
        total += loss.item()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return total


def scheduler_per_micro_batch(model, optimizer, scheduler, micro_batches, grad_clip):
    """A classic mistake: the scheduler stepped per micro-batch (AdamW would hide a missing
    loss scale: it is invariant to the gradient's size)."""
    losses = []
    for x, y in micro_batches:
        loss = model(x, targets=y)[1]
        (loss / len(micro_batches)).backward()
        losses.append(loss.item())
        scheduler.step()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad()
    return sum(losses) / len(losses)


class CourseScheduler:  # the course's natural answer, written by a learner
    def __init__(self, base_lr, warmup_steps):
        self.base_lr, self.warmup_steps = base_lr, warmup_steps

    def lr_at_step(self, step):
        return self.base_lr * min(1.0, step / self.warmup_steps) if self.warmup_steps else \
            self.base_lr

    def __call__(self, step):
        return self.lr_at_step(step)


class LateScheduler(CourseScheduler):  # off by one: (step - 1) / W
    def lr_at_step(self, step):
        return super().lr_at_step(max(step - 1, 0))


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
def test_learner_scheduler_and_train_step_run_in_the_trainer(tmp_path, stories, tok):
    kw = {"max_steps": 4, "warmup_steps": 3, "grad_clip": 0.5, "val_path": None}
    ref = train(config(tmp_path, stories, tok, run_name="ref", **kw))
    lr = [m["lr"] for m in ref["history"]]
    assert lr[:3] == pytest.approx([1e-3, 2e-3, 3e-3])  # update k at scheduler(k): base k/W
    same = train(config(tmp_path, stories, tok, run_name="same", **kw), scheduler=CourseScheduler,
                 train_step=learner_step)
    # Right code: the same run (weights bit for bit; the mean loss up to float summation order).
    assert losses(same["history"]) == pytest.approx(losses(ref["history"]), rel=1e-6)
    a, b = (load_checkpoint(r["checkpoint"]).state_dict() for r in (same, ref))
    assert all(torch.equal(a[k], b[k]) for k in a)
    late = train(config(tmp_path, stories, tok, run_name="late", **kw), scheduler=LateScheduler)
    assert late["history"][0]["lr"] == 0.0
    assert losses(late["history"])[1:] != pytest.approx(losses(ref["history"])[1:], rel=1e-4)
    wrong = train(config(tmp_path, stories, tok, run_name="wrong", **kw),
                  train_step=scheduler_per_micro_batch)
    assert losses(wrong["history"])[0] == pytest.approx(losses(ref["history"])[0])
    assert losses(wrong["history"])[1:] != pytest.approx(losses(ref["history"])[1:], rel=1e-4)
    # The learner's attention runs in every layer: a mask forgotten changes the very first loss.
    unmasked = train(config(tmp_path, stories, tok, run_name="unmasked", **kw),
                     attention_fn=no_mask_attention)
    assert losses(unmasked["history"])[0] != pytest.approx(losses(ref["history"])[0], rel=1e-4)


def no_mask_attention(self, query, key, value):
    """A classic mistake: no causal mask (each position sees the tokens it must predict)."""
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))
    return self.attn_dropout(torch.softmax(scores, dim=-1)) @ value


def test_impl_file_plugs_the_learners_code_in(tmp_path, stories, tok, capsys):
    impl = tmp_path / "mine.py"
    impl.write_text("class WarmupLearningRateScheduler:\n"
                    "    def __init__(self, base_lr, warmup_steps):\n"
                    "        self.base_lr = base_lr\n"
                    "    def lr_at_step(self, step):\n"
                    "        return self.base_lr / 2\n"
                    "    def __call__(self, step):\n"
                    "        return self.lr_at_step(step)\n")
    cfg = config(tmp_path, stories, tok, max_steps=2, val_path=None, impl=str(impl))
    main(["--option", "pretrain", *config_to_flags(cfg)])
    out = capsys.readouterr().out
    assert "using your WarmupLearningRateScheduler; the kit's train_step, " \
           "compute_query_key_value_scores" in out
    lines = [json.loads(s) for s in T.run_paths(cfg)["metrics"].open()]
    assert [m["lr"] for m in lines] == [cfg.lr / 2] * 2
    impl.write_text("import nothing_here\n")
    assert "cannot import it: ModuleNotFoundError" in one_line_exit(
        ["--option", "pretrain", *config_to_flags(cfg)])


# --- issue 16: the model file is named after what it holds --------------------------------------
def test_model_file_is_named_after_the_epochs_it_holds(tmp_path, tok):
    small = tmp_path / "small"
    write_story_splits(small, n_train=12, n_val=2, n_test=2, seed=3)
    cfg = config(tmp_path, small, tok, max_steps=0, epochs=10, val_path=None, log_interval=100)
    per_epoch = len(T.load_split(str(small), None, "train", 32, 0, tokenizer=hwlib.tokenizer
                                 .Tokenizer(tok), progress=False)) // cfg.batch_size
    s = train(dataclasses.replace(cfg, max_steps=per_epoch + 1))
    assert Path(s["checkpoint"]).name == f"run-pretrain-1-0.003-step{per_epoch + 1}.pt"
    files = [p.name for p in T.run_paths(cfg)["run_dir"].glob("run-pretrain-*")]
    assert files == [Path(s["checkpoint"]).name]  # the epoch-1 file was replaced: one model file
    assert T.latest_model_file(cfg) == Path(s["checkpoint"])
    s = train(dataclasses.replace(cfg, max_steps=2 * per_epoch, run_name="two"))
    assert Path(s["checkpoint"]).name == "two-pretrain-2-0.003.pt"  # two epochs done, not 10
    s = train(dataclasses.replace(cfg, epochs=1, run_name="one"))
    assert s["checkpoint"] == str(T.run_paths(dataclasses.replace(cfg, epochs=1, run_name="one"))
                                  ["checkpoint"])  # a complete run: the course's name


def test_threads_flag_sets_torchs_threads(tmp_path, stories, tok):
    before = torch.get_num_threads()
    try:
        cfg = config(tmp_path, stories, tok, max_steps=1, val_path=None, threads=1)
        main(["--option", "pretrain", *config_to_flags(cfg)])
        assert torch.get_num_threads() == 1
        assert "threads must be at least 1" in one_line_exit(
            ["--option", "pretrain", *config_to_flags(cfg), "--threads", "0"])
    finally:
        torch.set_num_threads(before)
