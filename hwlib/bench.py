"""Benchmarks that print figures (never timed unit tests).

    python -m hwlib.bench <name> [options]     # e.g. python -m hwlib.bench preprocess

Each stage adds one `bench_<name>(argv)` function and one entry in BENCHMARKS.
"""

from __future__ import annotations

import sys

BENCHMARKS: dict = {}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        names = ", ".join(sorted(BENCHMARKS)) or "(none yet)"
        sys.exit(f"usage: python -m hwlib.bench NAME [options]; NAME is one of: {names}")
    BENCHMARKS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
