"""Benchmark of faults at speed: a SIGKILLed trainer resumed, hostile text, a damaged WARC.

    python -m hwlib.bench reliability [options]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from hwlib.cli import config_to_flags
from hwlib.utils import REPO_ROOT

# Run as `python -c`: the trainer, with its n-th torch.save writing half the file, then hanging.
_PAUSE_IN_SAVE = """
import io, os, runpy, sys, time, torch
left, real_save = int(os.environ["PAUSE_AT_SAVE"]), torch.save
def save(obj, f, *args, **kw):
    global left
    left -= 1
    if left == 0:
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kw)
        f.write(buf.getvalue()[: buf.tell() // 2])
        f.flush()
        print("PAUSED IN SAVE", flush=True)
        time.sleep(600)
    return real_save(obj, f, *args, **kw)
torch.save = save
runpy.run_module("hwlib.train", run_name="__main__", alter_sys=True)
"""


def trainer_command(cfg) -> list[str]:
    """`python -m hwlib.train` with a TrainConfig's flags and --auto_resume."""
    return [sys.executable, "-m", "hwlib.train", *config_to_flags(cfg), "--auto_resume"]


def kill_trainer(cfg, step: int | None = None, save: int | None = None,
                 timeout: float = 240.0) -> tuple[str, float | None]:
    """Run the trainer and SIGKILL it right after the metric line of `step`, or in the middle of
    its `save`-th checkpoint write; returns (that line, seconds to its first metric line)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = trainer_command(cfg)
    if save is not None:
        env["PAUSE_AT_SAVE"] = str(save)
        cmd[1:3] = ["-c", _PAUSE_IN_SAVE]
    t0, first, line = time.perf_counter(), None, ""
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(timeout, proc.kill)  # a hung trainer fails, never hangs
    watchdog.start()
    try:
        want = "PAUSED IN SAVE" if save is not None else f"step {step}:"
        for x in proc.stdout:
            if first is None and x.startswith("step "):
                first = time.perf_counter() - t0
            if x.startswith(want):
                line = x
                break
        proc.send_signal(signal.SIGKILL)
        if proc.wait() != -signal.SIGKILL or not line:
            raise RuntimeError(f"the trainer ended before {want!r}")
        return line, first
    finally:
        watchdog.cancel()
        proc.stdout.close()


def resume_trainer(cfg, timeout: float = 240.0) -> subprocess.CompletedProcess:
    """Run the trainer with --auto_resume to its end (one thread, as the tests' own runs)."""
    return subprocess.run(trainer_command(cfg), cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=timeout)


def bench_reliability(argv: list[str]) -> None:
    """Faults at speed: a SIGKILLed trainer resumed, hostile text fuzzed, a damaged WARC read.

    Prints kill points survived (and what a restart costs), inputs fuzzed (and each stage's
    slowest call), WARC records skipped vs kept, and whether anything finished was lost. The
    proofs, including a kill in the middle of a checkpoint write, are tests/test_reliability.py.
    """
    import argparse
    import random
    import tempfile
    from pathlib import Path

    p = argparse.ArgumentParser(prog="python -m hwlib.bench reliability")
    p.add_argument("--seed", type=int, default=8, help="picks kill points, inputs and damage")
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--fuzz", type=int, default=200, help="random inputs per text stage")
    p.add_argument("--damage", type=int, default=8, help="damaged members added to the WARC")
    a = p.parse_args(argv)
    rng = random.Random(a.seed)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        lost = _kill_and_resume(Path(tmp), a.kills, a.seed, rng)
        lost += _damaged_warc(Path(tmp), a.damage, rng)
    _fuzz_text_stages(a.fuzz, rng)
    failed = _hostile_input_cases()
    print("nothing lost" if not lost else f"LOST: {lost} finished items (see above)")
    if failed:
        sys.exit(f"{failed} hostile-input case file(s) failed (see above)")


def _hostile_input_cases() -> int:
    """The hostile-input cases of tests/test_reliability_*.py (web stages, judge, report,
    downloads, training flags), run by pytest; prints their reliability summary."""
    files = sorted(str(p) for p in (REPO_ROOT / "tests").glob("test_reliability_*.py"))
    if not files:
        print("hostile-input cases: tests/ not found (they ship with a clone)")
        return 0
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    out = done.stdout
    summary = out[out.find("reliability summary"):] if "reliability summary" in out else out
    print("hostile-input cases (" + ", ".join(Path(f).name for f in files) + "):")
    print("\n".join("  " + line for line in summary.strip().splitlines()[:60]))
    return int(done.returncode != 0)


def _kill_and_resume(tmp, kills: int, seed: int, rng) -> int:
    import contextlib
    import io
    import json

    import torch

    from hwlib import train as T
    from hwlib.checkpoint import load_checkpoint
    from hwlib.stories import generate_stories
    from hwlib.tokenizer import Tokenizer, tokenize_directory, train_tokenizer
    from hwlib.utils import safe_torch_load

    data = tmp / "stories"
    data.mkdir()
    (data / "stories.train").write_text("\n".join(generate_stories(300, seed=seed)) + "\n")
    tok = train_tokenizer([data / "stories.train"], vocab_size=512, model_prefix=tmp / "tok")
    tokenize_directory(data, tokenizer=Tokenizer(tok), workers=1, progress=False)
    steps, every = 40, 5
    kw = dict(option="pretrain", data_path=str(data), tokenizer=str(tok), model_config="tiny",
              block_size=32, batch_size=8, epochs=1, lr=3e-3, warmup_steps=4, schedule="cosine",
              dropout=0.1, max_steps=steps, save_every=every, log_interval=1, seed=seed,
              num_workers=1, progress=False)
    torch.set_num_threads(1)  # the subprocesses' OMP_NUM_THREADS=1: the same numbers
    with contextlib.redirect_stdout(io.StringIO()):  # its metric lines are not the figures
        straight = T.train(T.TrainConfig(**kw, out_dir=str(tmp / "straight")))
    cfg = T.TrainConfig(**kw, out_dir=str(tmp / "killed"))
    resume, points, redone, startup = T.run_paths(cfg)["resume_checkpoint"], [], 0, []
    for target in sorted(rng.sample(range(2, steps - 1), kills)):
        _, first = kill_trainer(cfg, step=target)
        startup.append(first)
        saved = safe_torch_load(resume)["step"] if resume.exists() else 0  # always loadable
        points.append(target)
        redone += target - saved
    done = resume_trainer(cfg)
    lines = [json.loads(x) for x in T.run_paths(cfg)["metrics"].open()]
    same_losses = [m["loss"] for m in lines] == [m["loss"] for m in straight["history"]]
    same_weights = done.returncode == 0
    if same_weights:
        a, b = (load_checkpoint(s).state_dict()
                for s in (T.latest_model_file(cfg), straight["checkpoint"]))
        same_weights = all(torch.equal(a[k], b[k]) for k in a)
    print(f"kill points survived: {len(points)} SIGKILLs (after the metric lines of steps "
          f"{points}) then --auto_resume, checkpoints every {every} of {steps} steps")
    print(f"  {redone} steps redone from the last checkpoints; a restart takes "
          f"{sum(startup) / len(startup):.1f} s to its first step; final losses identical: "
          f"{same_losses}, final weights identical: {same_weights}")
    return 0 if same_losses and same_weights else 1


def _damaged_warc(tmp, damage: int, rng) -> int:
    """The bundled WARC with garbage, truncated and giant members slipped between its records."""
    import contextlib
    import gzip
    import io
    import re

    from warcio.warcwriter import WARCWriter

    from hwlib import preprocess as pp
    from hwlib.utils import DATA_DIR

    raw = (DATA_DIR / "sample.warc.gz").read_bytes()
    starts = [m.start() for m in re.finditer(rb"\x1f\x8b\x08", raw)] + [len(raw)]
    members = [raw[s:e] for s, e in zip(starts, starts[1:])]
    giant = io.BytesIO()
    w = WARCWriter(giant, gzip=True)
    page = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + b"<p>Big words.</p>" * 9000
    w.write_record(w.create_warc_record("http://giant/", "response",
                                        payload=io.BytesIO(page), length=len(page)))
    make = {"garbage": lambda: gzip.compress(rng.randbytes(rng.randrange(1, 4000)), mtime=0),
            "truncated": lambda: (m := rng.choice(members))[: rng.randrange(10, len(m))],
            "giant": giant.getvalue}
    mixed, kinds = list(members), [rng.choice(sorted(make)) for _ in range(damage)]
    for kind in kinds:
        mixed.insert(rng.randrange(1, len(mixed) + 1), make[kind]())
    runs = {}
    for name, parts in (("clean", members), ("damaged", mixed)):
        (tmp / f"{name}.warc.gz").write_bytes(b"".join(parts))
        with contextlib.redirect_stderr(io.StringIO()):  # one warning per skipped record
            stats = pp.run_pipeline(fname=str(tmp / f"{name}.warc.gz"), output=str(tmp / name),
                                    dfname=None, num_records=None, progress=False,
                                    max_page_bytes=64 * 1024)
        runs[name] = (stats, (tmp / name).read_text().splitlines())
    stats, docs = runs["damaged"]
    lost = len(set(runs["clean"][1]) - set(docs))
    skips = ", ".join(f"{k} {stats[k]} ({runs['clean'][0][k]} in the clean file)"
                      for k in pp.SKIP_KINDS if stats[k])
    print(f"WARC: the bundled {len(members)} gzip members + {damage} damaged ones "
          f"({', '.join(f'{kinds.count(k)} {k}' for k in sorted(make))}): records skipped "
          f"{skips}; kept {len(docs)} documents, {lost} of the clean run's {len(runs['clean'][1])}"
          " lost")
    return lost


def _fuzz_text_stages(n: int, rng) -> None:
    import time

    from hwlib import extract, quality

    stages = {"html_to_text": extract.html_to_text, "clean_text": quality.clean_text,
              "replace_pii": quality.replace_pii, "is_english_text": quality.is_english_text,
              "heuristic_quality_filter": quality.heuristic_quality_filter}
    quality.is_english_text("warm up")  # langid's model loads once (~1 s), not per input
    chars = "0123456789.-@()+ \n\t#…•*<>/!?'\"&;:=abcXYZ"
    chars += "".join(map(chr, range(161, 9000, 7)))  # Latin-1 to CJK punctuation, a sample
    texts = ["".join(rng.choices(chars, k=rng.randrange(3000))) for _ in range(n)]
    units = ["1", ".", "-", "@", "1.", "a@", "555 ", "1.1.1.", "<!--", "<script ", "<div>", "#"]
    texts += [u * 50_000 for u in units]
    errors = 0
    print(f"fuzz: {len(texts)} inputs x {len(stages)} stages ({n} random, up to 3k characters; "
          f"{len(units)} adversarial 50k-repeat strings)")
    for name, fn in stages.items():
        slowest = 0.0
        for text in texts:
            t0 = time.perf_counter()
            try:
                fn(text)
            except Exception:
                errors += 1
            slowest = max(slowest, time.perf_counter() - t0)
        print(f"  {name:<26} slowest call {1000 * slowest:8.1f} ms")
    print(f"  exceptions: {errors}")
