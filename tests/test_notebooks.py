"""The stored notebooks: executed top to bottom, Colab-ready, clean; the student version works.

Running them and comparing outputs is nbval's job (`make test`); these tests check what nbval
does not: how each notebook was stored, and that the student version stops at its exercises and
passes the checkers once the reference is pasted back in.
"""

import json
import os
import re

import pytest

from hwlib.student import write_student_version
from hwlib.utils import REPO_ROOT

NB_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
QUICK_LINE = 'QUICK = os.environ.get("HWLIB_QUICK", "1") == "1"'
CHECKER_CALL = re.compile(r"\bcheck_\w+\(")
DEFINITION = re.compile(r"^\s*(def|class) ", re.MULTILINE)


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def has_solution(cell) -> bool:
    return cell["cell_type"] == "code" and "### BEGIN SOLUTION" in text(cell["source"])


def test_the_numbered_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    expected = {"00_setup", "01_web_data", "02_attention", "03_lr_scheduler", "04_tokenizer",
                "05_pretraining", "06_generation"}
    assert expected <= names, expected - names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_executed_and_clean(path):
    nb = load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb["metadata"] and "colab" not in nb["metadata"]
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "execute top to bottom on a fresh kernel"
    for i, cell in enumerate(nb["cells"]):
        assert not {"colab", "executionInfo", "outputId", "execution"} & set(cell["metadata"]), i
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"cell {i} stored an error"
            shown = text(out.get("text", "")) + text(out.get("data", {}).get("text/plain", ""))
            assert str(REPO_ROOT) not in shown, f"cell {i} prints an absolute path"
            assert not re.search(r"0x[0-9a-f]{8,}", shown), f"cell {i} prints a memory address"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbval_markers_are_exact(path):
    # nbval only honours a marker alone on its comment line; "# NBVAL_SKIP because" is ignored.
    for i, cell in enumerate(load(path)["cells"]):
        for line in text(cell["source"]).splitlines():
            if "NBVAL_" in line:
                assert line.strip() in ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP"), (i, line)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_and_parameters_cell(path):
    cells = load(path)["cells"]
    badge = text(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown"
    assert "colab-badge.svg" in badge
    assert re.search(r"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/main/"
                     rf"notebooks/{re.escape(path.name)}\)", badge), "badge must open this file"
    setup = cells[1]
    assert setup["cell_type"] == "code" and "parameters" in setup["metadata"].get("tags", [])
    source = text(setup["source"])
    assert QUICK_LINE in source
    # Colab installs before anything imports hwlib, and never reinstalls torch.
    assert source.index("pip") < source.index("from hwlib")
    assert "install" in source and not re.search(r"pip.*install.*torch", source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_only_exercise_cells_define_functions(path):
    # Logic lives in hwlib. The one other kind of definition a notebook may show is a train()
    # callback (tagged "callback"): writing one is how a learner uses that API.
    for i, cell in enumerate(load(path)["cells"]):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code" and not has_solution(cell) and "callback" not in tags:
            assert not DEFINITION.search(text(cell["source"])), (
                f"cell {i} defines a function or class: import it from hwlib instead"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_notebooks_end_with_questions_and_sample_answers(path):
    # The homework's report questions close every notebook with an exercise; the instructor
    # version answers each inside a solution region, which the student version replaces.
    cells = load(path)["cells"]
    if not any(has_solution(c) for c in cells):
        return
    heads = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
             and re.search(r"^## Questions\b", text(c["source"]), re.M)]
    assert heads, "a notebook with exercises ends with a '## Questions' section"
    start = heads[-1]
    answers = "".join(text(c["source"]) for c in cells[start:] if c["cell_type"] == "markdown")
    questions = re.findall(r"^\*\*\d+\.\*\*", answers, re.M)
    assert questions, "the Questions section holds numbered questions (**1.** ...)"
    assert answers.count("### BEGIN SOLUTION") == len(questions), "one sample answer each"
    assert all(c["cell_type"] == "markdown" for c in cells[start:]), "questions come last"


def test_student_versions_say_nothing_of_instructor_tooling(tmp_path):
    from hwlib.student import read_notebook, tooling_mentions

    for dst, _ in write_student_version(NB_DIR, tmp_path):
        assert tooling_mentions(read_notebook(dst), dst.name) == []


def exercise_notebooks():
    return [p for p in NOTEBOOKS if any(has_solution(c) for c in load(p)["cells"])]


def run_cells(nb, cwd):
    """Execute a notebook dict with nbclient in quick mode; return (cells, error or None)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    node = nbformat.reads(json.dumps(nb), as_version=4)  # joins list-of-lines sources
    client = nbclient.NotebookClient(
        node, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        return node.cells, e
    return node.cells, None


@pytest.fixture
def quick_env(monkeypatch):
    monkeypatch.setenv("HWLIB_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def up_to_first_checker_after(cells, start):
    """Cells up to and including the first checker call at or after `start`."""
    for i in range(start, len(cells)):
        if cells[i]["cell_type"] == "code" and CHECKER_CALL.search(text(cells[i]["source"])):
            return cells[: i + 1], i
    raise AssertionError(f"no checker call after the exercise in cell {start}")


@pytest.mark.parametrize("path", exercise_notebooks(), ids=lambda p: p.stem)
def test_student_version_stops_at_first_exercise_and_reference_passes(path, tmp_path, quick_env):
    student_dir = tmp_path / "student"
    write_student_version(path, student_dir)
    student = load(student_dir / path.name)
    instructor = load(path)
    exercises = [i for i, c in enumerate(instructor["cells"]) if has_solution(c)]
    first = exercises[0]
    assert "raise ExerciseNotDone(" in text(student["cells"][first]["source"])
    assert all(c.get("outputs", []) == [] for c in student["cells"])

    # The student version stops with ExerciseNotDone (a NotImplementedError shown in one line)
    # at the first exercise: the exercise cell itself, or the checker that calls its function.
    cells, checker = up_to_first_checker_after(student["cells"], first)
    ran, error = run_cells({**student, "cells": cells}, student_dir)
    assert error is not None and error.ename == "ExerciseNotDone", error
    assert "is not written yet" in error.evalue and path.name in error.evalue, error.evalue
    failed = [i for i, c in enumerate(ran)
              if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and first <= failed[0] <= checker, failed

    # The reference pasted back into every exercise cell passes the checker that follows it.
    pasted = [dict(c) for c in student["cells"]]
    for i in exercises:
        pasted[i] = {**pasted[i], "source": instructor["cells"][i]["source"]}
    checkers = [up_to_first_checker_after(pasted, i)[1] for i in exercises]
    ran, error = run_cells({**student, "cells": pasted[: max(checkers) + 1]}, student_dir)
    assert error is None, error
    for j in checkers:
        verdict = "".join(text(o.get("text", "")) for o in ran[j].get("outputs", []))
        assert "passed" in verdict, (j, verdict)
