"""hwlib.student: solution regions become TODO stubs, bad markers are refused, outputs cleared."""

import json
import subprocess
import sys

import pytest

from hwlib.student import (
    SolutionMarkerError,
    make_student_notebook,
    strip_solutions,
    write_student_version,
)


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
    out, n = strip_solutions(src)
    assert n == 1
    assert out == (
        "def f(x):\n"
        "    y = 2\n"
        "    # TODO: write your solution here\n"
        "    raise NotImplementedError\n"
        "\n"
        "print(f(1))"
    )
    ns = {}
    exec(out.split("\nprint")[0], ns)
    with pytest.raises(NotImplementedError):
        ns["f"](1)


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
    assert lines[:2] == ["# TODO: load the data", "raise NotImplementedError"]
    assert lines[4:6] == ["\t\t# TODO: write your solution here", "\t\traise NotImplementedError"]
    assert "data = [1, 2]" not in out and "return 3" not in out


def test_source_without_markers_is_unchanged():
    src = "x = 1\n# BEGIN SOLUTION is only a marker with three hashes\nprint(x)\n"
    assert strip_solutions(src) == (src, 0)


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
    assert "".join(student["cells"][1]["source"]) == (
        "def f():\n    # TODO: write your solution here\n    raise NotImplementedError"
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
