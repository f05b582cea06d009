"""Write the student version of the notebooks: solutions stripped, outputs cleared.

    python -m hwlib.student notebooks/ student/

The checked-in notebooks are the instructor version. Inside an exercise cell the reference code sits
between nbgrader's markers (no cell metadata needed):

    def f(x):
        ### BEGIN SOLUTION
        return x + 1
        ### END SOLUTION

and the student version gets, at the indentation of the BEGIN marker, a TODO that raises
hwlib.checks.ExerciseNotDone (a NotImplementedError shown as one line) naming the exercise and the
notebook section that explains its steps. `### BEGIN SOLUTION: compute the scores` puts that hint
in the TODO line. Markdown and raw cells may hold regions too (sample answers to the "Questions"):
they become "*Your answer here.*". Marker variants (`# begin solution`, `##BEGIN SOLUTION`,
`<!-- END SOLUTION -->`) are handled; a line that looks like a marker but is not one, and nested or
unclosed regions, are refused with a one-line error naming the notebook and the cell. Cells tagged
`instructor` in their metadata are dropped from the student version.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path

MARKER_RE = re.compile(
    r"^(?P<indent>[ \t]*)(?:#+|<!--)?[ \t]*(?P<kind>begin|end)[ \t_-]*solution\b"
    r"(?:[ \t]*:[ \t]*(?P<hint>.*?))?[ \t]*(?:-->)?[ \t]*$",
    re.IGNORECASE,
)
# What a marker might look like when it is not one: the start of a line in any cell, or a
# comment anywhere in a code line. Such a line is refused rather than guessed at.
SUSPECT_LINE_RE = re.compile(r"^[ \t]*(?:#+|<!--)?[ \t]*(?:begin|end)[ \t_-]*solution", re.I)
SUSPECT_CODE_RE = re.compile(r"#+[ \t]*(?:begin|end)[ \t_-]*solution", re.I)
DEFINITION_RE = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?:def|class)[ \t]+(?P<name>\w+)")
DEFAULT_HINT = "write your solution here"
ANSWER_PLACEHOLDER = "*Your answer here.*"
INSTRUCTOR_TAG = "instructor"  # cells tagged so (cell metadata "tags") never reach students
TOOLING_WORDS = ("hwlib.student", "BEGIN SOLUTION", "END SOLUTION", "instructor version")
# Front-end state that must not travel into a student's copy (widget models, Colab's per-user data).
STRIPPED_NOTEBOOK_METADATA = ("widgets", "colab", "accelerator")
STRIPPED_CELL_METADATA = ("colab", "executionInfo", "outputId", "collapsed", "scrolled")


class SolutionMarkerError(ValueError):
    """A notebook that cannot be stripped safely (bad marker or region, or not a notebook)."""


def _exercise_name(lines: list[str], indent: str) -> str:
    """Dotted name of the def/class enclosing a marker at `indent` (e.g. Attention.forward)."""
    names, limit = [], len(indent.expandtabs(4))
    for line in reversed(lines):
        m = DEFINITION_RE.match(line)
        if m and len(m.group("indent").expandtabs(4)) < limit:
            names.insert(0, m.group("name"))
            limit = len(m.group("indent").expandtabs(4))
    return ".".join(names) or "this exercise"


def _todo(indent: str, hint: str, exercise: str, explained: str) -> list[str]:
    message = f"{exercise} is not written yet: its steps are explained in {explained}"
    return [
        f"{indent}# TODO: {hint}",
        f"{indent}from hwlib.checks import ExerciseNotDone",
        f"{indent}raise ExerciseNotDone({message!r})",
    ]


def strip_solutions(
    source: str, where: str = "cell", kind: str = "code", explained: str = "the notebook"
) -> tuple[str, int]:
    """Replace each BEGIN/END SOLUTION region of one cell's source; return (source, n_regions).

    `kind` is the cell type (code regions become a raising TODO, others a placeholder answer);
    `explained` names where the exercise's steps are, for the TODO's message.
    """
    out: list[str] = []
    open_at: int | None = None  # 1-based line of the BEGIN marker of the region being skipped
    regions = 0
    for lineno, line in enumerate(source.split("\n"), start=1):
        marker = MARKER_RE.match(line)
        if marker is None and (
            SUSPECT_LINE_RE.match(line) or (kind == "code" and SUSPECT_CODE_RE.search(line))
        ):
            raise SolutionMarkerError(
                f"{where}: line {lineno} looks like a solution marker but is not one "
                f"({line.strip()[:40]!r}); put '### BEGIN SOLUTION' on a line of its own"
            )
        begin = marker is not None and marker.group("kind").lower() == "begin"
        if begin:
            if open_at is not None:
                raise SolutionMarkerError(
                    f"{where}: nested ### BEGIN SOLUTION at line {lineno} "
                    f"(the region opened at line {open_at} is not closed)"
                )
            open_at = lineno
            indent = marker.group("indent")
            if kind == "code":
                hint = marker.group("hint") or DEFAULT_HINT
                out += _todo(indent, hint, _exercise_name(out, indent), explained)
            else:
                out.append(f"{indent}{ANSWER_PLACEHOLDER}")
        elif marker is not None:
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


def _heading(source: str) -> str | None:
    """The last markdown heading of a cell, without its #s (where an exercise is explained)."""
    titles = [line.lstrip("#").strip() for line in source.splitlines()
              if re.match(r"^#{1,6}\s+\S", line) and not MARKER_RE.match(line)]
    return titles[-1] if titles else None


def _is_instructor(cell: dict) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return isinstance(tags, list) and INSTRUCTOR_TAG in tags


def validate_notebook(nb, name: str = "notebook") -> None:
    """A notebook is a JSON object with a list of cells, each source a string or list of strings."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SolutionMarkerError(f"{name}: not a notebook (not a JSON object with a 'cells' list)")
    for index, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            raise SolutionMarkerError(f"{name}, cell {index}: not a JSON object")
        src = cell.get("source", "")
        if not (isinstance(src, str) or (isinstance(src, list)
                                         and all(isinstance(x, str) for x in src))):
            raise SolutionMarkerError(
                f"{name}, cell {index}: source is {type(src).__name__}, not a string or a list "
                "of strings"
            )


def make_student_notebook(nb: dict, name: str = "notebook") -> tuple[dict, int]:
    """Return (student copy of a notebook dict, number of solution regions stripped)."""
    validate_notebook(nb, name)
    nb = copy.deepcopy(nb)
    for key in STRIPPED_NOTEBOOK_METADATA:
        nb.get("metadata", {}).pop(key, None)
    total, section, kept = 0, None, []
    for index, cell in enumerate(nb["cells"]):
        if _is_instructor(cell):
            continue
        kept.append(cell)
        for key in STRIPPED_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
        kind = cell.get("cell_type", "code")
        text = _source_text(cell)
        if kind == "markdown":
            section = _heading(text) or section
        explained = f"{Path(name).name}, section '{section}'" if section else Path(name).name
        source, regions = strip_solutions(text, f"{name}, cell {index}", kind, explained)
        if regions:
            cell["source"] = source.splitlines(keepends=True)  # nbformat's on-disk form
        if kind == "code":
            cell["source"] = source.splitlines(keepends=True)
            cell["outputs"] = []
            cell["execution_count"] = None
        total += regions
    nb["cells"] = kept
    return nb, total


def tooling_mentions(nb: dict, name: str = "notebook") -> list[str]:
    """'NAME, cell i: mentions X' for each student cell that still talks about instructor
    tooling (tag such cells 'instructor')."""
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        text = _source_text(cell)
        words = [w for w in TOOLING_WORDS if w.lower() in text.lower()]
        if words:
            found.append(f"{name}, cell {index}: mentions {words[0]!r}; tag the cell "
                         f"'{INSTRUCTOR_TAG}' to drop it from the student version")
    return found


def read_notebook(path: str | os.PathLike) -> dict:
    """Load an .ipynb as a plain dict; a file that is not one fails in one line naming it."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SolutionMarkerError(f"{path}: not a readable notebook ({e})") from None
    validate_notebook(nb, str(path))
    return nb


def write_notebook(nb: dict, path: str | os.PathLike) -> None:
    """Write in nbformat's on-disk layout (indent 1, sorted keys) so diffs stay small."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def notebook_paths(src: str | os.PathLike) -> list[Path]:
    """The notebooks of `src`, a folder (sorted, hidden ones left out) or one .ipynb file."""
    src = Path(src)
    if src.is_dir():
        paths = sorted(p for p in src.glob("*.ipynb") if not p.name.startswith("."))
    elif src.suffix == ".ipynb" and src.is_file():
        paths = [src]
    else:
        raise SolutionMarkerError(f"{src}: no such notebook or folder")
    if not paths:
        raise SolutionMarkerError(f"{src}: no .ipynb files found")
    return paths


def write_student_version(
    src: str | os.PathLike, dst: str | os.PathLike
) -> list[tuple[Path, int]]:
    """Strip every notebook in `src` (a folder or one .ipynb) into `dst`; return (path, regions).

    All notebooks are checked before anything is written, so a bad marker leaves `dst` untouched.
    (`python -m hwlib.publish --repo-url URL DST` then points their Colab links at a repository.)
    """
    src, dst = Path(src), Path(dst)
    paths = notebook_paths(src)
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
        for line in tooling_mentions(read_notebook(path), str(path)):
            print(f"warning: {line}", file=sys.stderr)
    print(f"{len(written)} notebook(s) written to {args.dst}")


if __name__ == "__main__":
    main()
