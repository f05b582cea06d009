"""Write the student version of the notebooks: solutions stripped, outputs cleared.

    python -m hwlib.student notebooks/ student/

The checked-in notebooks are the instructor version. Inside an exercise cell the reference code sits
between nbgrader's markers (no cell metadata needed):

    def f(x):
        ### BEGIN SOLUTION
        return x + 1
        ### END SOLUTION

and the student version gets, at the indentation of the BEGIN marker,

    def f(x):
        # TODO: write your solution here
        raise NotImplementedError

`### BEGIN SOLUTION: compute the scores` puts that hint in the TODO line instead. Nested or unclosed
regions are refused with a one-line error naming the notebook and the cell.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path

BEGIN_RE = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?::\s*(?P<hint>.*?))?\s*$")
END_RE = re.compile(r"^[ \t]*### END SOLUTION\s*$")
DEFAULT_HINT = "write your solution here"
# Front-end state that must not travel into a student's copy (widget models, Colab's per-user data).
STRIPPED_NOTEBOOK_METADATA = ("widgets", "colab", "accelerator")
STRIPPED_CELL_METADATA = ("colab", "executionInfo", "outputId", "collapsed", "scrolled")


class SolutionMarkerError(ValueError):
    """A solution region that cannot be stripped safely (nested, unclosed or stray END)."""


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Replace each BEGIN/END SOLUTION region of one cell's source; return (source, n_regions)."""
    out: list[str] = []
    open_at: int | None = None  # 1-based line of the BEGIN marker of the region being skipped
    regions = 0
    for lineno, line in enumerate(source.split("\n"), start=1):
        begin, end = BEGIN_RE.match(line), END_RE.match(line)
        if begin:
            if open_at is not None:
                raise SolutionMarkerError(
                    f"{where}: nested ### BEGIN SOLUTION at line {lineno} "
                    f"(the region opened at line {open_at} is not closed)"
                )
            open_at = lineno
            indent = begin.group("indent")
            hint = begin.group("hint") or DEFAULT_HINT
            out += [f"{indent}# TODO: {hint}", f"{indent}raise NotImplementedError"]
        elif end:
            if open_at is None:
                raise SolutionMarkerError(
                    f"{where}: ### END SOLUTION at line {lineno} without a BEGIN"
                )
            open_at = None
            regions += 1
        elif open_at is None:
            out.append(line)
    if open_at is not None:
        raise SolutionMarkerError(
            f"{where}: unclosed ### BEGIN SOLUTION at line {open_at} (no ### END SOLUTION)"
        )
    return "\n".join(out), regions


def _source_text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def make_student_notebook(nb: dict, name: str = "notebook") -> tuple[dict, int]:
    """Return (student copy of a notebook dict, number of solution regions stripped)."""
    nb = copy.deepcopy(nb)
    for key in STRIPPED_NOTEBOOK_METADATA:
        nb.get("metadata", {}).pop(key, None)
    total = 0
    for index, cell in enumerate(nb.get("cells", [])):
        for key in STRIPPED_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
        if cell.get("cell_type") != "code":
            continue
        source, regions = strip_solutions(_source_text(cell), where=f"{name}, cell {index}")
        cell["source"] = source.splitlines(keepends=True)  # nbformat's on-disk form
        cell["outputs"] = []
        cell["execution_count"] = None
        total += regions
    return nb, total


def read_notebook(path: str | os.PathLike) -> dict:
    """Load an .ipynb as a plain dict; a file that is not one fails in one line naming it."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SolutionMarkerError(f"{path}: not a readable notebook ({e})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SolutionMarkerError(f"{path}: not a notebook (no 'cells' list)")
    return nb


def write_notebook(nb: dict, path: str | os.PathLike) -> None:
    """Write in nbformat's on-disk layout (indent 1, sorted keys) so diffs stay small."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def write_student_version(
    src: str | os.PathLike, dst: str | os.PathLike
) -> list[tuple[Path, int]]:
    """Strip every notebook in `src` (a folder or one .ipynb) into `dst`; return (path, regions).

    All notebooks are checked before anything is written, so a bad marker leaves `dst` untouched.
    """
    src, dst = Path(src), Path(dst)
    if src.is_dir():
        paths = sorted(p for p in src.glob("*.ipynb") if not p.name.startswith("."))
    elif src.suffix == ".ipynb" and src.exists():
        paths = [src]
    else:
        raise SolutionMarkerError(f"{src}: no such notebook or folder")
    if not paths:
        raise SolutionMarkerError(f"{src}: no .ipynb files found")
    if dst.resolve() == (src if src.is_dir() else src.parent).resolve():
        raise SolutionMarkerError(f"{dst}: refusing to overwrite the instructor notebooks")
    converted = [(p, *make_student_notebook(read_notebook(p), name=str(p))) for p in paths]
    written = []
    for path, nb, regions in converted:
        write_notebook(nb, dst / path.name)
        written.append((dst / path.name, regions))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m hwlib.student", description=__doc__.splitlines()[0]
    )
    parser.add_argument("src", help="folder of instructor notebooks (or one .ipynb)")
    parser.add_argument("dst", help="output folder for the student notebooks")
    args = parser.parse_args(argv)
    try:
        written = write_student_version(args.src, args.dst)
    except SolutionMarkerError as e:
        sys.exit(f"error: {e}")
    for path, regions in written:
        print(f"{path}: {regions} solution region(s) stripped")
    print(f"{len(written)} notebook(s) written to {args.dst}")


if __name__ == "__main__":
    main()
