"""How long the demo takes here, idle and beside a CPU hog; and updates/s per thread count.

    python -m hwlib.bench_demo             # threads table, then the whole demo idle and busy
    python -m hwlib.bench_demo --quick     # seconds, not minutes: a smoke run (used by a test)

The hog is `--hog` busy Python processes (2 by default: as many as a 2-core laptop has cores),
started and stopped by this benchmark and bounded by a deadline, so none outlives it even if it is
killed. The machine's load average is printed beside every figure: on a shared machine "idle" is
only as idle as the others allow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A child that spins until its deadline: the hog can never outlive the benchmark by more than that.
_SPIN = "import time, sys\nend = time.time() + float(sys.argv[1])\nwhile time.time() < end: pass\n"


def load_average() -> float:
    """The last minute's load average (NaN where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


@contextlib.contextmanager
def cpu_hog(procs: int, max_seconds: float):
    """`procs` busy processes for the duration of the block (and at most `max_seconds`)."""
    children = [subprocess.Popen([sys.executable, "-c", _SPIN, str(max_seconds)])
                for _ in range(procs)]
    try:
        time.sleep(0.5)  # let them reach the busy loop before anything is timed
        yield children
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


def updates_per_s(threads: int, seconds: float, preset: str = "demo", batch: int = 32,
                  block: int = 64) -> float:
    """Training updates per second (forward, backward, AdamW) with `threads` torch threads."""
    import torch

    from hwlib.model import Llama, LlamaConfig

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset(preset)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, model.config.vocab_size, (batch, block + 1))
    x, y = x[:, :-1], x[:, 1:]

    def update() -> None:
        opt.zero_grad(set_to_none=True)
        model(x, y)[1].backward()
        opt.step()

    update()  # warm-up: allocates AdamW's state
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        update()
        n += 1
    return n / (time.perf_counter() - t0)


def thread_table(seconds: float, hog: int, thread_counts: list[int],
                 shape: tuple[str, int, int] = ("demo", 32, 128)) -> list[dict]:
    """updates/s for each thread count, idle then beside the hog; one row per measurement.

    `shape` is (model preset, batch, block): the demo's model by default."""
    import torch

    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    rows = []
    for busy in (False, True):
        with cpu_hog(hog if busy else 0, max_seconds=seconds * len(thread_counts) + 60):
            for n in thread_counts:
                rate = updates_per_s(n, seconds, *shape)
                rows.append({"hog": hog if busy else 0, "threads": n, "updates_per_s": rate,
                             "load": load_average()})
                where = f"beside a {hog}-process hog" if busy else "idle"
                print(f"  {where:>22}  {n} thread(s): {rate:6.2f} updates/s   "
                      f"(load average {rows[-1]['load']:.2f})", flush=True)
    return rows


def time_demo(steps: int, hog: int, threads: int | None, timeout: float) -> dict:
    """Run the demo in a fresh process (beside `hog` busy processes); return its stage timings."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        cmd = [sys.executable, "-m", "hwlib.demo", "--out", str(out), "--steps", str(steps),
               "--timings", str(Path(tmp) / "timings.json")]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        load = load_average()
        with cpu_hog(hog, max_seconds=timeout):
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"the demo failed: {done.stderr.strip().splitlines()[-1:]}")
        timings = json.loads((Path(tmp) / "timings.json").read_text())
    return {"hog": hog, "wall_s": wall, "load_before": load, "load_after": load_average(),
            **timings}


def _print_demo(result: dict) -> None:
    where = f"beside a {result['hog']}-process hog" if result["hog"] else "idle"
    print(f"  demo {where}: {result['wall_s']:.0f} s in all, {result['threads']} training "
          f"thread(s) (load average {result['load_before']:.2f} before, "
          f"{result['load_after']:.2f} after)")
    for stage, seconds in result["stages"].items():
        print(f"    {stage:<28} {seconds:7.1f} s")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hwlib.bench_demo",
                                description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds, not minutes (a smoke run)")
    p.add_argument("--hog", type=int, default=2, help="busy processes beside the busy runs")
    p.add_argument("--seconds", type=float, default=20.0, help="per thread-count measurement")
    p.add_argument("--steps", type=int, default=None, help="demo updates (default: the demo's)")
    p.add_argument("--threads", type=int, default=None,
                   help="the demo's training threads (default: its own rule)")
    p.add_argument("--skip-threads", action="store_true", help="only time the demo")
    p.add_argument("--skip-demo", action="store_true", help="only the threads table")
    p.add_argument("--runs", nargs="+", choices=("idle", "busy"), default=["idle", "busy"],
                   help="which demo runs (busy: beside the hog)")
    args = p.parse_args(argv)
    seconds = 0.2 if args.quick else args.seconds
    steps = 5 if args.quick and args.steps is None else args.steps
    cores = os.cpu_count() or 1
    print(f"{cores} CPU cores; load average {load_average():.2f} at the start")
    if not args.skip_threads:
        # --quick: a tiny model, so even a badly oversubscribed update takes well under a second
        shape = ("tiny", 4, 16) if args.quick else ("demo", 32, 128)
        print(f"== training updates/s, {shape[0]} model, batch {shape[1]} x {shape[2]}, "
              f"{seconds:g} s each")
        thread_table(seconds, args.hog, sorted({1, min(2, cores), cores}), shape)
    if args.skip_demo:
        return
    print("== the demo (python -m hwlib.demo), stage by stage")
    for hog in [{"idle": 0, "busy": args.hog}[run] for run in args.runs]:
        steps_arg = steps if steps is not None else _demo_default_steps()
        _print_demo(time_demo(steps_arg, hog, args.threads, timeout=3600))


def _demo_default_steps() -> int:
    from hwlib.demo import DEFAULT_STEPS

    return DEFAULT_STEPS


if __name__ == "__main__":
    main()
