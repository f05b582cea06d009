"""hwlib.student: solution regions become TODO stubs, bad markers are refused, outputs cleared."""

import json
import subprocess
import sys

import pytest

from hwlib.checks import ExerciseNotDone
from hwlib.utils import REPO_ROOT
from hwlib.student import (
    SolutionMarkerError,
    main,
    make_student_notebook,
    strip_solutions,
    tooling_mentions,
    write_student_version,
)

TODO_RAISE = "from hwlib.checks import ExerciseNotDone"


def code_cell(source, outputs=None, count=1):
    return {
        "cell_type": "code",
        "execution_count": count,
        "metadata": {"colab": {"base_uri": "x"}, "tags": ["exercise"]},
        "outputs": outputs or [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}],
        "source": source,
    }


def notebook(*cells):
    return {
        "cells": list(cells),
        "metadata": {"kernelspec": {"name": "python3"}, "widgets": {"state": {}}, "colab": {}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_region_replaced_with_todo_at_marker_indentation():
    src = (
        "def f(x):\n"
        "    y = 2\n"
        "    ### BEGIN SOLUTION\n"
        "    z = x * y\n"
        "    return z\n"
        "    ### END SOLUTION\n"
        "\n"
        "print(f(1))"
    )
    out, n = strip_solutions(src, explained="02_attention.ipynb, section 'Scores'")
    assert n == 1
    assert out == (
        "def f(x):\n"
        "    y = 2\n"
        "    # TODO: write your solution here\n"
        f"    {TODO_RAISE}\n"
        "    raise ExerciseNotDone(\"f is not written yet: its steps are explained in "
        "02_attention.ipynb, section 'Scores'\")\n"
        "\n"
        "print(f(1))"
    )
    ns = {}
    exec(out.split("\nprint")[0], ns)
    with pytest.raises(NotImplementedError) as err:  # ExerciseNotDone is one
        ns["f"](1)
    assert isinstance(err.value, ExerciseNotDone)
    assert err.value._render_traceback_() == [
        "ExerciseNotDone: f is not written yet: its steps are explained in 02_attention.ipynb, "
        "section 'Scores'"
    ]


def test_hint_and_several_regions_and_top_level():
    src = (
        "### BEGIN SOLUTION: load the data\n"
        "data = [1, 2]\n"
        "### END SOLUTION\n"
        "class A:\n"
        "    def g(self):\n"
        "\t\t### BEGIN SOLUTION\n"
        "\t\treturn 3\n"
        "\t\t### END SOLUTION   \n"
    )
    out, n = strip_solutions(src)
    assert n == 2
    lines = out.split("\n")
    assert lines[:2] == ["# TODO: load the data", TODO_RAISE]
    assert lines[2].startswith("raise ExerciseNotDone('this exercise is not written yet")
    assert lines[5:7] == ["\t\t# TODO: write your solution here", f"\t\t{TODO_RAISE}"]
    assert lines[7].startswith("\t\traise ExerciseNotDone('A.g is not written yet")
    assert "data = [1, 2]" not in out and "return 3" not in out


def test_source_without_markers_is_unchanged():
    src = "x = 1\n# the solution begins below\nprint(x)\n"
    assert strip_solutions(src) == (src, 0)


@pytest.mark.parametrize("begin, end", [
    ("# BEGIN SOLUTION", "# END SOLUTION"),
    ("## begin solution", "## end solution"),
    ("###BEGIN SOLUTION", "###END SOLUTION"),
    ("#### Begin Solution: hint", "### END_SOLUTION"),
])
def test_marker_variants_are_handled(begin, end):
    out, n = strip_solutions(f"def f():\n    {begin}\n    return 42\n    {end}\n")
    assert n == 1 and "42" not in out and TODO_RAISE in out


@pytest.mark.parametrize("line", [
    "# BEGIN SOLUTION is only a marker with three hashes",
    "x = 1  ### BEGIN SOLUTION",
    "### BEGIN SOLUTION here x = 1",
])
def test_lookalike_markers_refused(line):
    nb = notebook(code_cell(f"{line}\nx = 1\n### END SOLUTION\n"))
    with pytest.raises(SolutionMarkerError, match=r"^nb\.ipynb, cell 0: line 1 looks like a "):
        make_student_notebook(nb, name="nb.ipynb")


def md_cell(source, tags=()):
    return {"cell_type": "markdown", "metadata": {"tags": list(tags)}, "source": source}


def test_markdown_and_raw_regions_stripped_and_headings_name_the_section():
    nb = notebook(
        md_cell("## Exercise: scores\nWrite the scores."),
        code_cell("def scores():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"),
        md_cell(["## Questions\n", "Which temperature reads better?\n", "### BEGIN SOLUTION\n",
                 "Temperature 0.5: greedy repeats itself.\n", "### END SOLUTION\n"]),
        {"cell_type": "raw", "metadata": {}, "source": "<!-- BEGIN SOLUTION -->\nsecret\n"
                                                        "<!-- END SOLUTION -->"},
    )
    student, n = make_student_notebook(nb, name="nbs/06_generation.ipynb")
    assert n == 3
    code = "".join(student["cells"][1]["source"])
    assert ("scores is not written yet: its steps are explained in 06_generation.ipynb, "
            "section 'Exercise: scores'") in code
    answers = "".join(student["cells"][2]["source"])
    assert "greedy repeats" not in answers and "*Your answer here.*" in answers
    assert "Which temperature" in answers
    assert "secret" not in "".join(student["cells"][3]["source"])


def test_instructor_cells_dropped_and_tooling_mentions_reported():
    nb = notebook(
        md_cell("Run `python -m hwlib.student` to strip solutions.", tags=["instructor"]),
        code_cell("print(1)"),
        md_cell("The instructor version uses hwlib.student."),
    )
    student, _ = make_student_notebook(nb, name="00_setup.ipynb")
    assert len(student["cells"]) == 2
    assert "hwlib.student" not in json.dumps(student["cells"][0])
    assert tooling_mentions(student, "00_setup.ipynb") == [
        "00_setup.ipynb, cell 1: mentions 'hwlib.student'; tag the cell 'instructor' to drop it "
        "from the student version"
    ]


@pytest.mark.parametrize("nb, problem", [
    ([1, 2], "not a notebook (not a JSON object with a 'cells' list)"),
    ({"cells": "x"}, "not a notebook"),
    ({"cells": [3]}, "cell 0: not a JSON object"),
    ({"cells": [{"cell_type": "code", "source": 3}]}, "cell 0: source is int, not a string"),
    ({"cells": [{"cell_type": "code", "source": ["a", 1]}]}, "cell 0: source is list, not a"),
])
def test_malformed_notebooks_refused_in_one_line(nb, problem, tmp_path):
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(SolutionMarkerError) as err:
        write_student_version(path, tmp_path / "out")
    assert str(err.value).startswith(str(path)) and problem in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()


def test_a_published_student_copy_points_at_the_repository(tmp_path):
    from hwlib.publish import main as publish

    src = REPO_ROOT / "notebooks" / "03_lr_scheduler.ipynb"
    main([str(src), str(tmp_path / "student")])
    publish(["--repo-url", "https://github.com/org/course", str(tmp_path / "student")])
    nb = json.loads((tmp_path / "student" / src.name).read_text())
    badge, setup = "".join(nb["cells"][0]["source"]), "".join(nb["cells"][1]["source"])
    assert "colab.research.google.com/github/org/course/blob/main/student/03_lr_scheduler" in badge
    assert 'url = "https://github.com/org/course.git"' in setup


@pytest.mark.parametrize(
    "src, problem",
    [
        ("### BEGIN SOLUTION\nx = 1\n", "unclosed ### BEGIN SOLUTION at line 1"),
        ("x = 1\n### END SOLUTION\n", "### END SOLUTION at line 2 without a BEGIN"),
        (
            "### BEGIN SOLUTION\n  ### BEGIN SOLUTION\nx\n### END SOLUTION\n### END SOLUTION",
            "nested ### BEGIN SOLUTION at line 2",
        ),
    ],
)
def test_bad_regions_refused_naming_notebook_and_cell(src, problem):
    nb = notebook(code_cell("print(0)"), code_cell(src))
    with pytest.raises(SolutionMarkerError) as err:
        make_student_notebook(nb, name="nb/02_attention.ipynb")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("nb/02_attention.ipynb, cell 1: ")
    assert problem in msg


def test_outputs_counts_and_front_end_state_cleared():
    nb = notebook(
        {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
        code_cell(
            ["def f():\n", "    ### BEGIN SOLUTION\n", "    return 1\n", "    ### END SOLUTION"]
        ),
        code_cell("print(2)"),
    )
    student, n = make_student_notebook(nb)
    assert n == 1
    assert nb["cells"][1]["outputs"], "the instructor notebook must not be modified"
    assert "widgets" not in student["metadata"] and "colab" not in student["metadata"]
    assert student["metadata"]["kernelspec"] == {"name": "python3"}
    for cell in student["cells"][1:]:
        assert cell["outputs"] == [] and cell["execution_count"] is None
        assert "colab" not in cell["metadata"]
        assert cell["metadata"]["tags"] == ["exercise"]
    assert "".join(student["cells"][1]["source"]).startswith(
        f"def f():\n    # TODO: write your solution here\n    {TODO_RAISE}\n"
        "    raise ExerciseNotDone"
    )
    assert student["cells"][0]["source"] == "# Title"


def test_cli_writes_folder_and_refuses_bad_notebook(tmp_path):
    src, dst = tmp_path / "nbs", tmp_path / "student"
    src.mkdir()
    good = notebook(code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n"))
    (src / "01_a.ipynb").write_text(json.dumps(good))
    (src / "02_b.ipynb").write_text(json.dumps(notebook(code_cell("print(1)"))))
    run = [sys.executable, "-m", "hwlib.student", str(src), str(dst)]
    res = subprocess.run(run, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "2 notebook(s) written" in res.stdout
    written = json.loads((dst / "01_a.ipynb").read_text())
    assert "".join(written["cells"][0]["source"]).startswith("# TODO: write your solution here\n")
    assert written["cells"][0]["outputs"] == []

    (src / "03_bad.ipynb").write_text(json.dumps(notebook(code_cell("### BEGIN SOLUTION\n"))))
    res = subprocess.run(run[:-1] + [str(tmp_path / "other")], capture_output=True, text=True)
    assert res.returncode != 0
    assert res.stderr.strip().count("\n") == 0
    assert "03_bad.ipynb, cell 0: unclosed" in res.stderr
    assert not (tmp_path / "other").exists(), "nothing is written when one notebook is bad"


def test_refuses_non_notebook_and_same_folder(tmp_path):
    (tmp_path / "x.ipynb").write_text("not json")
    with pytest.raises(SolutionMarkerError, match=r"x\.ipynb: not a readable notebook"):
        write_student_version(tmp_path, tmp_path / "out")
    (tmp_path / "x.ipynb").write_text(json.dumps(notebook()))
    with pytest.raises(SolutionMarkerError, match="refusing to overwrite"):
        write_student_version(tmp_path, tmp_path)
