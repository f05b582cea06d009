"""Autograder: run the learner's notebooks (or homework .py file), call every exercise's checker.

    python -m hwlib.grade notebooks/        # a folder of notebooks, one notebook, or a .py file
    python -m hwlib.grade homework.py

Notebooks run cell by cell with nbclient in quick mode (HWLIB_QUICK=1); right after the cell that
defines an exercise, its checker runs in the same kernel. An unfinished exercise (its TODO raises
NotImplementedError) is "not done"; a cell that crashes before an exercise makes that exercise
"failed" with the error, and grading goes on. Prints one table, writes grade.json, and exits 0 only
when every exercise passes. Only the checkers' messages are shown, never a reference answer.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import runpy
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Exercise:
    notebook: str  # the notebook's file stem
    names: tuple[str, ...]  # where the learner's code lives in the namespace; the first found wins
    checker: str  # a function of hwlib.checks
    points: int  # the homework gives no weights to copy: every exercise counts the same


EXERCISES = (
    Exercise("01_web_data", ("html_to_text",), "check_html_to_text", 10),
    Exercise("01_web_data", ("replace_pii",), "check_replace_pii", 10),
    Exercise("01_web_data", ("clean_text",), "check_clean_text", 10),
    Exercise("01_web_data", ("heuristic_quality_filter",), "check_heuristic_quality_filter", 10),
    Exercise("01_web_data", ("is_english_text",), "check_is_english_text", 10),
    Exercise("01_web_data", ("deduplicate_texts",), "check_deduplicate_texts", 10),
    Exercise("02_attention", ("compute_query_key_value_scores",
                              "Attention.compute_query_key_value_scores"), "check_attention", 10),
    Exercise("02_attention", ("attention_forward", "Attention.forward"),
             "check_attention_forward", 10),
    Exercise("03_lr_scheduler", ("WarmupLearningRateScheduler",), "check_scheduler", 10),
    Exercise("05_pretraining", ("train_step",), "check_train_step", 10),
    Exercise("06_generation", ("sample_next",), "check_sample_next", 10),
)
MARK = "@@hwlib-grade@@"
CHECKER_CELL = re.compile(r"\bcheck_\w+\s*\(")  # the notebook's own checker calls
NOT_DONE = ("NotImplementedError", "ExerciseNotDone")


@dataclass
class Result:
    exercise: str
    result: str  # "passed", "failed" or "not done"
    message: str
    points: int
    max_points: int


def exercises() -> list[Exercise]:
    """The registry, less exercises whose checker this version of hwlib.checks lacks."""
    from hwlib import checks

    return [e for e in EXERCISES if hasattr(checks, e.checker)]


def _label(ex: Exercise) -> str:
    return f"{ex.notebook}: {ex.names[0]}"


def _result(ex: Exercise, result: str, message: str = "") -> Result:
    message = " ".join(str(message).split())  # one line, whatever the learner's error held
    return Result(_label(ex), result, message, ex.points if result == "passed" else 0, ex.points)


def _run_checker(ex: Exercise, namespace: dict) -> Result:
    """Look the learner's code up in `namespace` and run its checker, output swallowed."""
    from hwlib import checks

    target = None
    for name in ex.names:
        head, *rest = name.split(".")
        obj = namespace.get(head)
        for part in rest:
            obj = getattr(obj, part, None)
        if obj is not None:
            target = obj
            break
    if target is None:
        return _result(ex, "not done", f"{ex.names[0]} is not defined")
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            getattr(checks, ex.checker)(target)
    except NotImplementedError as e:
        return _result(ex, "not done", str(e))
    except AssertionError as e:
        return _result(ex, "failed", str(e))
    except Exception as e:  # a checker must never stop the grading of the others
        return _result(ex, "failed", f"{type(e).__name__}: {e}")
    return _result(ex, "passed")


# Sent to the kernel after an exercise's cell: the same lookup and checker run, one JSON line.
_KERNEL_CODE = """
def _hwlib_grade_one(notebook, names, checker, points):
    import json
    from hwlib.grade import Exercise, _run_checker
    from dataclasses import asdict
    ex = Exercise(notebook, tuple(names), checker, points)
    print({mark!r} + json.dumps(asdict(_run_checker(ex, globals()))))
_hwlib_grade_one({notebook!r}, {names!r}, {checker!r}, {points!r})
"""


def _defines(source: str, name: str) -> bool:
    head = re.escape(name.split(".")[0])
    pattern = rf"^(?:(?:async\s+)?def|class)\s+{head}\b|^{head}\s*="
    return re.search(pattern, source, re.M) is not None


def _error_line(cell) -> tuple[str, str] | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), out.get("evalue", "")
    return None


def grade_notebook(path: Path, chosen: list[Exercise], timeout: int = 600) -> list[Result]:
    """Run one notebook cell by cell; check each exercise right after the cell defining it.

    A crash (an error outside the notebook's own checker calls and TODOs) fails the next
    exercise with that error, unless an earlier exercise of the notebook is already not done
    or failing: the crash then most likely follows from it, and is not charged twice.
    """
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        raise FileNotFoundError("grading notebooks needs nbclient and ipykernel: "
                                "pip install nbclient ipykernel") from None
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as e:
        return [_result(ex, "failed", f"{path.name}: not a readable notebook ({e})")
                for ex in chosen]
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    where = {}
    for ex in chosen or exercises():  # a notebook named otherwise: whatever it defines
        found = [i for i, c in code if any(_defines(c.source, n) for n in ex.names)]
        if found:
            where[ex] = found[0]
    chosen = chosen or list(where)
    results = {ex: _result(ex, "not done", f"{ex.names[0]} is not defined in {path.name}")
               for ex in chosen if ex not in where}
    if not where:
        return [results[ex] for ex in chosen]
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    crash, clean = None, True  # clean: every exercise graded so far passed
    with client.setup_kernel():
        for index, cell in code:
            if index > max(where.values()):
                break  # nothing left to grade in this notebook
            client.execute_cell(cell, index)
            error = _error_line(cell)
            expected = "raises-exception" in cell.metadata.get("tags", []) or bool(
                CHECKER_CELL.search(cell.source))
            if error and error[0] not in NOT_DONE and not expected and clean and not crash:
                crash = f"cell {index} raised {error[0]}: {error[1]}"
            for ex in [e for e, i in where.items() if i == index]:
                if crash:
                    results[ex] = _result(ex, "failed", crash)
                else:
                    probe = nbformat.v4.new_code_cell(_KERNEL_CODE.format(
                        mark=MARK, notebook=ex.notebook, names=list(ex.names),
                        checker=ex.checker, points=ex.points))
                    client.execute_cell(probe, index, store_history=False)
                    results[ex] = _parse_probe(ex, probe)
                clean = clean and results[ex].result == "passed"
            if index in where.values():
                crash = None  # charged to this exercise; the next one starts afresh
    return [results[ex] for ex in chosen]


def _parse_probe(ex: Exercise, probe) -> Result:
    text = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
    for line in text.splitlines():
        if line.startswith(MARK):
            return Result(**json.loads(line[len(MARK):]))
    error = _error_line(probe)
    why = f"{error[0]}: {error[1]}" if error else "the checker gave no verdict"
    return _result(ex, "failed", f"could not run {ex.checker} ({why})")


def grade_file(path: Path) -> list[Result]:
    """A learner's .py (e.g. the course's homework.py): import it, check what it defines.

    Every exercise of a notebook counts once the file defines one of them, so a homework.py
    missing a function gets "not done" for it."""
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            namespace = runpy.run_path(str(path), run_name="__hwlib_grade__")
    except Exception as e:
        return [_result(ex, "failed", f"importing {path.name} raised {type(e).__name__}: {e}")
                for ex in exercises()]
    finally:
        sys.path.remove(str(path.parent.resolve()))
    found = {ex.notebook for ex in exercises() for n in ex.names
             if n.split(".")[0] in namespace}
    return [_run_checker(ex, namespace) for ex in exercises() if ex.notebook in found]


def grade(path: str | os.PathLike, timeout: int = 600) -> list[Result]:
    """Grade a notebooks folder, one notebook or a .py file."""
    path = Path(path)
    os.environ["HWLIB_QUICK"] = "1"  # the kernels inherit it: bundled data, small models
    root = str(Path(__file__).resolve().parent.parent)  # the kernels import this hwlib
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH"))
                                               if p)
    if path.is_dir():
        results = []
        for notebook in dict.fromkeys(ex.notebook for ex in exercises()):
            chosen = [ex for ex in exercises() if ex.notebook == notebook]
            nb_path = path / f"{notebook}.ipynb"
            if nb_path.exists():
                results += grade_notebook(nb_path, chosen, timeout)
            else:
                results += [_result(ex, "not done", f"{nb_path.name} not found") for ex in chosen]
        return results
    if path.suffix == ".ipynb" and path.exists():
        chosen = [ex for ex in exercises() if ex.notebook == path.stem]
        return grade_notebook(path, chosen, timeout)
    if path.suffix == ".py" and path.exists():
        return grade_file(path)
    raise FileNotFoundError(f"{path}: not a notebooks folder, a .ipynb or a .py file")


def table(results: list[Result], width: int = 160) -> str:
    """exercise | result | points, one row each, and the total."""
    rows = [(r.exercise, r.result + (f": {r.message}" if r.result == "failed" else ""),
             f"{r.points}/{r.max_points}") for r in results]
    rows = [(a, b if len(b) <= width else b[: width - 3] + "...", c) for a, b, c in rows]
    w1 = max([len("exercise")] + [len(a) for a, _, _ in rows])
    w2 = max([len("result")] + [len(b) for _, b, _ in rows])
    total = f"{sum(r.points for r in results)}/{sum(r.max_points for r in results)}"
    lines = [f"{'exercise':<{w1}}  {'result':<{w2}}  points", "-" * (w1 + w2 + 10)]
    lines += [f"{a:<{w1}}  {b:<{w2}}  {c}" for a, b, c in rows]
    lines += ["-" * (w1 + w2 + 10), f"{'total':<{w1}}  {'':<{w2}}  {total}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hwlib.grade",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a folder of notebooks, one .ipynb, or a .py file")
    parser.add_argument("--output", default="grade.json", help="where the JSON report goes")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    try:
        results = grade(args.path, args.timeout)
    except FileNotFoundError as e:  # a bad path, or nbclient missing
        sys.exit(f"error: {e}")
    if not results:
        sys.exit(f"error: {args.path}: no exercise found")
    print(table(results))
    report = {"path": str(args.path), "results": [asdict(r) for r in results],
              "points": sum(r.points for r in results),
              "max_points": sum(r.max_points for r in results)}
    Path(args.output).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    sys.exit(0 if all(r.result == "passed" for r in results) else 1)


if __name__ == "__main__":
    main()
