"""hwlib.lab: the lab's git-ignored working copy of the notebooks, and `make lab`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hwlib import lab
from hwlib.utils import REPO_ROOT

FASTEST = "02_attention.ipynb"  # the quickest notebook to run end to end in quick mode


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def root(tmp_path) -> Path:
    """A throwaway repository: notebooks/ with three small notebooks, committed."""
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    for name in ("00_a.ipynb", "01_b.ipynb", "02_c.ipynb"):
        shutil.copyfile(REPO_ROOT / "notebooks" / "03_lr_scheduler.ipynb",
                        root / "notebooks" / name)
    return root


def test_first_use_copies_the_instructor_notebooks(root):
    folder = lab.working_copy("instructor", root=root)
    assert folder == root / "lab" / "instructor"
    for p in (root / "notebooks").glob("*.ipynb"):
        assert (folder / p.name).read_bytes() == p.read_bytes()


def test_student_version_has_todos_and_no_solutions(root):
    folder = lab.working_copy("student", root=root)
    text = (folder / "00_a.ipynb").read_text()
    assert "raise ExerciseNotDone(" in text and "### BEGIN SOLUTION" not in text
    assert "### BEGIN SOLUTION" in (root / "notebooks" / "00_a.ipynb").read_text()


def test_reuse_keeps_edits_and_adds_only_missing_notebooks(root):
    folder = lab.working_copy(root=root)
    (folder / "00_a.ipynb").write_text("my edits")
    (folder / "01_b.ipynb").unlink()
    never = lambda q: pytest.fail("asked without --reset")  # noqa: E731
    assert lab.working_copy(root=root, ask=never) == folder
    assert (folder / "00_a.ipynb").read_text() == "my edits"
    assert (folder / "01_b.ipynb").read_bytes() == (root / "notebooks/01_b.ipynb").read_bytes()


@pytest.mark.parametrize("answer, replaced", [("n", False), ("", False), ("y", True)])
def test_reset_asks_before_overwriting(root, answer, replaced):
    folder = lab.working_copy(root=root)
    (folder / "00_a.ipynb").write_text("my edits")
    questions = []
    lab.working_copy(root=root, reset=True, ask=lambda q: questions.append(q) or answer)
    assert len(questions) == 1 and "lost" in questions[0]
    assert ((folder / "00_a.ipynb").read_text() != "my edits") == replaced


def test_reset_without_a_terminal_keeps_the_copy(root):
    folder = lab.working_copy(root=root)
    (folder / "00_a.ipynb").write_text("my edits")

    def no_terminal(question):
        raise EOFError

    lab.working_copy(root=root, reset=True, ask=no_terminal)
    assert (folder / "00_a.ipynb").read_text() == "my edits"


def test_the_working_copy_is_git_ignored(tmp_path):
    _git(tmp_path, "init", "-q")  # the kit's .gitignore, also where the kit is not a git clone
    shutil.copyfile(REPO_ROOT / ".gitignore", tmp_path / ".gitignore")
    for name in ("lab/instructor/05_pretraining.ipynb", "lab/student/06_generation.ipynb"):
        out = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=tmp_path)
        assert out.returncode == 0, f"{name} must be git-ignored"
    out = subprocess.run(["git", "check-ignore", "-q", "--no-index", "notebooks/lab.ipynb"],
                         cwd=tmp_path)
    assert out.returncode == 1, "only the top-level lab/ is ignored"


def test_make_lab_installs_the_notebooks_extra_and_opens_the_copy():
    # --no-print-directory: under `make test` this make is a sub-make, which would say so last
    dry = subprocess.run(["make", "-n", "--no-print-directory", "lab", "STUDENT=1"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert 'pip install -q -e ".[notebooks]"' in dry
    assert dry.strip().splitlines()[-1].endswith("-m hwlib.lab --student")


def test_running_a_notebook_in_the_lab_leaves_git_status_clean(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # A clean repository holding this working tree's tracked files, as a learner's clone would.
    clone = tmp_path / "clone"
    files = _git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, files.split("\0")):
        if (REPO_ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, clone / name)
    _git(clone, "init", "-q")
    _git(clone, "add", "-A")
    _git(clone, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone")
    assert _git(clone, "status", "--porcelain") == ""

    folder = subprocess.run(  # the lab's own code path, importing hwlib from the clone
        [sys.executable, "-c", "from hwlib.lab import working_copy; print(working_copy())"],
        cwd=clone, env={**os.environ, "PYTHONPATH": str(clone)}, capture_output=True,
        text=True, check=True).stdout.strip().splitlines()[-1]
    path = Path(folder) / FASTEST
    assert path.parent == clone / "lab" / "instructor"
    monkeypatch.setenv("PYTHONPATH", str(clone))  # the kernel imports hwlib from the clone
    monkeypatch.setenv("HWLIB_QUICK", "1")
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(path.parent)}}
                            ).execute()
    nbformat.write(nb, path)  # what JupyterLab's autosave does
    (path.parent / ".ipynb_checkpoints").mkdir()
    assert any(c.get("outputs") for c in json.loads(path.read_text())["cells"])
    assert _git(clone, "status", "--porcelain", "--untracked-files=all") == ""


def test_open_lab_serves_the_copy_or_says_how_to_install(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(lab.os, "execv", lambda exe, argv: calls.append(argv))
    monkeypatch.setattr(lab.importlib.util, "find_spec", lambda name: object())
    lab.open_lab(tmp_path)
    assert calls == [[sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={tmp_path}"]]
    monkeypatch.setattr(lab.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit, match=r"make lab. installs it"):
        lab.open_lab(tmp_path)


def test_main_makes_the_student_copy_without_opening(monkeypatch, root, capsys):
    monkeypatch.setattr(lab, "REPO_ROOT", root)
    monkeypatch.setattr(lab, "open_lab", lambda folder: pytest.fail("--no-open opened the lab"))
    lab.main(["--student", "--no-open"])
    assert (root / "lab" / "student" / "00_a.ipynb").exists()
    assert "lab/student" in capsys.readouterr().out
