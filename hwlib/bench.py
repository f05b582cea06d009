"""Benchmarks that print figures (never timed unit tests).

    python -m hwlib.bench <name> [options]     # e.g. python -m hwlib.bench preprocess

Each benchmark is a `main(argv)`-style function in a themed module (bench_model, bench_data,
bench_reliability); a new one is one entry in BENCHMARKS.
"""

from __future__ import annotations

import sys

from hwlib import bench_data, bench_model, bench_reliability

BENCHMARKS = {
    "generate": bench_model.bench_generate,
    "train-step": bench_model.bench_train_step,
    "train": bench_model.bench_train,
    "tokenize": bench_data.bench_tokenize,
    "preprocess": bench_data.bench_preprocess,
    "scale": bench_data.bench_scale,
    "reliability": bench_reliability.bench_reliability,
}


def bench_gpu(argv: list[str]) -> None:
    """Every GPU figure and check in one command (hwlib/bench_gpu.py): gpu-report.json + .md."""
    from hwlib.bench_gpu import main as gpu_main

    gpu_main(argv)


BENCHMARKS["gpu"] = bench_gpu


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        names = ", ".join(sorted(BENCHMARKS)) or "(none yet)"
        sys.exit(f"usage: python -m hwlib.bench NAME [options]; NAME is one of: {names}")
    BENCHMARKS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
