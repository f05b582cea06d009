"""Benchmarks that print figures (never timed unit tests).

    python -m hwlib.bench <name> [options]     # e.g. python -m hwlib.bench preprocess

Each benchmark is a `main(argv)`-style function in a themed module (bench_model, bench_data,
bench_reliability, bench_gpu, bench_demo); a new one is one entry in BENCHMARKS.
"""

from __future__ import annotations

import sys

from hwlib import bench_data, bench_demo, bench_gpu, bench_model, bench_reliability

BENCHMARKS = {
    "generate": bench_model.bench_generate,
    "train-step": bench_model.bench_train_step,
    "train": bench_model.bench_train,
    "tokenize": bench_data.bench_tokenize,
    "preprocess": bench_data.bench_preprocess,
    "scale": bench_data.bench_scale,
    "reliability": bench_reliability.bench_reliability,
    "gpu": bench_gpu.main,  # every GPU figure and check: gpu-report.json + .md
    "demo": bench_demo.main,  # the demo's stages and 1 vs 2 threads, idle and beside a CPU hog
}




def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        names = ", ".join(sorted(BENCHMARKS)) or "(none yet)"
        sys.exit(f"usage: python -m hwlib.bench NAME [options]; NAME is one of: {names}")
    BENCHMARKS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
