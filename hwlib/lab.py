"""Open the notebooks in JupyterLab from a working copy, so running them never dirties git.

    make lab                       # = python -m hwlib.lab: lab/instructor/, solutions included
    make lab STUDENT=1             # = python -m hwlib.lab --student: lab/student/, with TODOs
    python -m hwlib.lab --reset    # fresh copies (asks first: your edits there would be lost)

The tracked notebooks/ hold the instructor version with its stored outputs, which `make test`
compares against; JupyterLab autosaves whatever it runs. So the lab opens a copy under lab/
(git-ignored), made on first use. Later calls reuse it and only add notebooks it lacks (say, after
a `git pull`); an existing notebook is replaced only with --reset, after a yes. The notebooks find
the data and write their runs through hwlib.utils.REPO_ROOT, not the folder they sit in.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from hwlib.student import SolutionMarkerError, write_student_version
from hwlib.utils import REPO_ROOT

LAB_DIR = "lab"  # under the repository root; listed in .gitignore
VERSIONS = ("instructor", "student")


def _tracked_notebooks(root: Path) -> list[Path]:
    src = root / "notebooks"
    paths = sorted(p for p in src.glob("*.ipynb") if not p.name.startswith("."))
    if not paths:
        raise FileNotFoundError(f"{src}: no notebooks to copy")
    return paths


def _write_version(paths: list[Path], version: str, dst: Path) -> list[Path]:
    """Write `version` of each notebook in `paths` into `dst`; return what was written."""
    dst.mkdir(parents=True, exist_ok=True)
    if version == "instructor":
        for p in paths:
            shutil.copyfile(p, dst / p.name)
        return [dst / p.name for p in paths]
    written = []
    with tempfile.TemporaryDirectory() as tmp:  # write_student_version takes a folder
        for p in paths:
            shutil.copyfile(p, Path(tmp) / p.name)
        for path, _ in write_student_version(tmp, dst):
            written.append(path)
    return written


def working_copy(version: str = "instructor", root: Path | None = None, reset: bool = False,
                 ask: Callable[[str], str] = input) -> Path:
    """The lab's copy of the notebooks: made on first use, then reused and never overwritten
    unless `reset` and `ask` answers yes. Returns its folder."""
    if version not in VERSIONS:
        raise ValueError(f"version {version!r}: choose one of {', '.join(VERSIONS)}")
    root = Path(REPO_ROOT if root is None else root)
    paths = _tracked_notebooks(root)
    dst = root / LAB_DIR / version
    existing = [p for p in paths if (dst / p.name).exists()]
    if reset and existing:
        question = (f"replace {len(existing)} notebook(s) in {dst} with fresh {version} copies? "
                    "Your edits and outputs there are lost. [y/N] ")
        try:
            answer = ask(question)
        except EOFError:  # no terminal to ask on: the safe answer
            answer = ""
        if answer.strip().lower() in ("y", "yes"):
            existing = []
        else:
            print(f"kept {dst} as it is")
    missing = [p for p in paths if p not in existing]
    if missing:
        written = _write_version(missing, version, dst)
        print(f"{dst}: wrote {len(written)} {version} notebook(s)")
    return dst


def open_lab(folder: Path) -> None:
    """Replace this process with JupyterLab serving `folder` (Ctrl-C stops it as usual)."""
    if importlib.util.find_spec("jupyterlab") is None:
        sys.exit("error: JupyterLab is not installed here; `make lab` installs it, or run "
                 "pip install -e '.[notebooks]'")
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}"]
    os.execv(sys.executable, argv)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hwlib.lab", description=__doc__.splitlines()[0])
    p.add_argument("--student", action="store_true",
                   help="the student version: each exercise's solution replaced by a TODO")
    p.add_argument("--reset", action="store_true",
                   help="replace the copies with fresh ones (asks first)")
    p.add_argument("--no-open", action="store_true", help="only make the working copy")
    args = p.parse_args(argv)
    try:
        folder = working_copy("student" if args.student else "instructor", reset=args.reset)
    except (FileNotFoundError, SolutionMarkerError) as e:
        sys.exit(f"error: {e}")
    print(f"open the notebooks in {os.path.relpath(folder)}/ (git-ignored: run them freely)")
    if not args.no_open:
        open_lab(folder)


if __name__ == "__main__":
    main()
