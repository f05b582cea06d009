"""Benchmarks that print figures (never timed unit tests).

    python -m hwlib.bench <name> [options]     # e.g. python -m hwlib.bench preprocess

Each stage adds one `bench_<name>(argv)` function and one entry in BENCHMARKS.
"""

from __future__ import annotations

import sys

BENCHMARKS: dict = {}


def bench_tokenize(argv: list[str]) -> None:
    """tokenize_directory throughput with 1 and N pool workers on the bundled stories, repeated."""
    import argparse
    import os
    import tempfile
    import time
    from pathlib import Path

    from hwlib.tokenizer import Tokenizer, tokenize_directory, train_tokenizer
    from hwlib.utils import DATA_DIR

    p = argparse.ArgumentParser(prog="python -m hwlib.bench tokenize")
    p.add_argument("--mb", type=float, default=8.0, help="corpus size (the stories repeated)")
    p.add_argument("--files", type=int, default=4, help="the corpus is split over this many files")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--tokenizer", default=None, help=".model (default: 4096-piece BPE on stories)")
    a = p.parse_args(argv)
    stories_dir = DATA_DIR / "stories"
    text = "".join((stories_dir / f"stories.{s}").read_text("utf-8") for s in ("train", "val"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok_path = a.tokenizer or train_tokenizer(stories_dir / "stories.train", 4096, tmp / "t")
        tok = Tokenizer(tok_path)
        corpus = tmp / "corpus"
        corpus.mkdir()
        copies = max(1, round(a.mb * 1e6 / a.files / len(text)))
        for i in range(a.files):
            (corpus / f"part{i}.txt").write_text(text * copies, encoding="utf-8")
        size = sum(f.stat().st_size for f in corpus.iterdir())
        print(f"tokenize: {a.files} files, {size / 1e6:.1f} MB, {tok}, {os.cpu_count()} cores")
        for w in sorted({1, a.workers}):
            t0 = time.perf_counter()
            bins = tokenize_directory(corpus, tmp / f"out{w}", tok, True, w, progress=False)
            dt = time.perf_counter() - t0
            n = sum(b.stat().st_size for b in bins) // 2
            print(f"  workers {w:2d}: {n / dt:12,.0f} tokens/s  {size / dt / 1e6:6.1f} MB/s  "
                  f"({n:,} tokens in {dt:.2f} s)")
        t0 = time.perf_counter()
        tokenize_directory(corpus, tmp / f"out{w}", tok, workers=w, progress=False)
        print(f"  cache hit (unchanged sources): {1e3 * (time.perf_counter() - t0):.1f} ms")


BENCHMARKS["tokenize"] = bench_tokenize


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        names = ", ".join(sorted(BENCHMARKS)) or "(none yet)"
        sys.exit(f"usage: python -m hwlib.bench NAME [options]; NAME is one of: {names}")
    BENCHMARKS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
