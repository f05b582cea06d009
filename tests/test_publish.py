"""hwlib.publish, the notebooks' Colab setup cell, and what a Colab install needs from pyproject."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from hwlib import publish
from hwlib.publish import PublishError
from hwlib.utils import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
OLD_BADGE = "https://colab.research.google.com/github/hwlib/hwlib/blob/main/notebooks/"
OLD_CLONE = "https://github.com/hwlib/hwlib.git"
URL = "https://github.com/course-org/llm-kit"


def _copy_notebooks(dst: Path) -> Path:
    dst.mkdir(parents=True)
    for p in NOTEBOOKS:
        shutil.copyfile(p, dst / p.name)
    return dst


def _expected(p: Path, folder: str, branch: str = "main") -> str:
    text = p.read_text(encoding="utf-8")
    assert text.count(OLD_BADGE) == 1 and text.count(OLD_CLONE) == 1, p.name
    return (text.replace(OLD_BADGE, f"https://colab.research.google.com/github/course-org/llm-kit/"
                                     f"blob/{branch}/{folder}/")
                .replace(OLD_CLONE, "https://github.com/course-org/llm-kit.git"))


def test_all_nine_notebooks_change_only_badge_and_clone_url(tmp_path):
    assert len(NOTEBOOKS) == 9
    src = _copy_notebooks(tmp_path / "src")
    written = publish.publish(src, tmp_path / "student", URL + ".git", branch="fall")
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for p in NOTEBOOKS:  # byte for byte: every other character of the file is unchanged
        assert (tmp_path / "student" / p.name).read_text() == _expected(p, "student", "fall")
        assert (src / p.name).read_bytes() == p.read_bytes(), "the source is left alone"


def test_in_place_keeps_the_folder_and_is_idempotent(tmp_path, capsys):
    folder = _copy_notebooks(tmp_path / "notebooks")
    publish.main(["--repo-url", URL, str(folder)])
    assert "9 notebook(s)" in capsys.readouterr().out
    for p in NOTEBOOKS:
        assert (folder / p.name).read_text() == _expected(p, "notebooks")
    publish.main(["--repo-url", URL, str(folder)])  # publishing twice changes nothing more
    for p in NOTEBOOKS:
        assert (folder / p.name).read_text() == _expected(p, "notebooks")


@pytest.mark.parametrize("url", ["https://gitlab.com/a/b", "github.com/a/b",
                                 "https://github.com/a"])
def test_only_github_repository_urls(tmp_path, url):
    with pytest.raises(PublishError, match="expected https://github.com/OWNER/REPO"):
        publish.publish(_copy_notebooks(tmp_path / "nb"), None, url)


def test_a_notebook_without_a_badge_stops_everything_before_writing(tmp_path, capsys):
    folder = _copy_notebooks(tmp_path / "nb")
    bad = folder / "03_lr_scheduler.ipynb"
    bad.write_text(bad.read_text().replace(OLD_BADGE, "https://example.org/"))
    with pytest.raises(SystemExit) as e:
        publish.main(["--repo-url", URL, str(folder)])
    assert "03_lr_scheduler.ipynb: expected one Colab badge link, found 0" in str(e.value)
    assert (folder / "00_setup.ipynb").read_bytes() == NOTEBOOKS[0].read_bytes()


# --- the Colab setup cell -------------------------------------------------------------------

def _setup_cell(p: Path) -> str:
    return "".join(json.loads(p.read_text())["cells"][1]["source"])


PIP_RECORDER = """import json, os, sys
with open(os.environ["PIP_RECORD"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def test_colab_setup_clones_the_published_url_and_pins_colab_packages(tmp_path):
    cells = {_setup_cell(p) for p in NOTEBOOKS}
    assert len(cells) == 1, "every notebook opens with the same setup cell"
    # The remote: a local git repository holding the kit, reached through the published URL.
    remote = tmp_path / "github" / "llm-kit.git"
    shutil.copytree(REPO_ROOT / "hwlib", remote / "hwlib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO_ROOT / "pyproject.toml", remote / "pyproject.toml")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "kit"]):
        subprocess.run([*git, *args], cwd=remote, check=True)
    nb = publish.publish_notebook(json.loads(NOTEBOOKS[5].read_text()), "course-org/llm-kit",
                                  "notebooks")
    kit = tmp_path / "content" / "hwlib"
    cell = "".join(nb["cells"][1]["source"]).replace("/content/hwlib", str(kit))
    # `python -m pip` finds this recorder first; `google.colab` is an empty stand-in module.
    fakes = tmp_path / "fakes"
    (fakes / "pip").mkdir(parents=True)
    (fakes / "pip" / "__init__.py").write_text("")
    (fakes / "pip" / "__main__.py").write_text(PIP_RECORDER)
    (fakes / "google" / "colab").mkdir(parents=True)
    (fakes / "google" / "colab" / "__init__.py").write_text("")
    (fakes / "google" / "__init__.py").write_text("")
    # Run twice, as a learner rerunning the cell: the second run finds the clone, installs nothing.
    run = (f"import sys, google.colab\n"
           f"for _ in range(2): exec(compile({cell!r}, 'setup', 'exec'))\n"
           "import hwlib\nprint('HWLIB', hwlib.__file__)\n")
    env = {**os.environ, "PYTHONPATH": str(fakes), "PIP_RECORD": str(tmp_path / "pip.jsonl"),
           "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.file://{remote.parent}/.insteadOf",
           "GIT_CONFIG_VALUE_0": "https://github.com/course-org/"}
    out = subprocess.run([sys.executable, "-c", run], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"HWLIB {kit / 'hwlib' / '__init__.py'}" in out.stdout, "imports the clone"
    (call,) = [json.loads(line) for line in (tmp_path / "pip.jsonl").read_text().splitlines()]
    assert call[:4] == ["install", "-q", "-e", str(kit)]
    assert sorted(call[4:]) == sorted(f"{n}=={version(n)}"
                                      for n in ("ipywidgets", "matplotlib", "torch"))
    assert not any(a.startswith(("-U", "--upgrade", "--force")) for a in call)


# --- pyproject: what Colab has must satisfy it; a clean install ------------------------------

def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(r).name: Requirement(r) for r in project["dependencies"]}


def test_colabs_ipywidgets_7_and_current_8_both_satisfy_the_requirement():
    spec = _requirements()["ipywidgets"].specifier
    assert spec.contains("7.7.1") and spec.contains("8.1.5")


def test_license_is_an_spdx_string_without_setuptools_warnings(tmp_path):
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT"
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "hwlib").mkdir()
    (tmp_path / "hwlib" / "__init__.py").write_text("")
    (tmp_path / "meta").mkdir()
    code = "from setuptools import build_meta as b; b.prepare_metadata_for_build_wheel('meta')"
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr, out.stderr
    metadata = next((tmp_path / "meta").glob("*.dist-info")) / "METADATA"
    assert "License-Expression: MIT" in metadata.read_text()


# --- ipywidgets: only API that 7.7.1 (Colab) and 8 share -------------------------------------

# Checked by hand in both ipywidgets 7.7.1 and 8.1: these widgets exist, and each accepts these
# keyword arguments (their class_trait_names()). Extend it only after checking both versions.
SHARED_WIDGETS = {
    "Text": {"value", "description", "style", "layout", "continuous_update", "disabled"},
    "IntText": {"value", "description", "style", "layout", "continuous_update", "step", "disabled"},
    "FloatSlider": {"value", "min", "max", "step", "description", "style", "layout",
                    "continuous_update", "readout", "readout_format", "orientation", "disabled"},
    "IntSlider": {"value", "min", "max", "step", "description", "style", "layout",
                  "continuous_update", "readout", "readout_format", "orientation", "disabled"},
    "Layout": {"width", "height"},
}
SHARED_FUNCTIONS = {"interact", "interact_manual", "interactive"}


def _widget_uses(tree: ast.AST) -> list[tuple[str, set[str]]]:
    """(name, keyword names) for each use of `ipywidgets.<name>` under any import alias."""
    aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
               for a in n.names if a.name == "ipywidgets"}
    uses = [(a.name, set()) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
            and n.module == "ipywidgets" for a in n.names]
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases:
            uses.append((n.attr, set()))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(
                n.func.value, ast.Name) and n.func.value.id in aliases:
            uses.append((n.func.attr, {k.arg for k in n.keywords if k.arg}))
    return uses


def _code_in_kit() -> dict[str, ast.AST]:
    trees = {str(p): ast.parse(p.read_text()) for p in (REPO_ROOT / "hwlib").glob("*.py")}
    for p in NOTEBOOKS:
        for i, cell in enumerate(json.loads(p.read_text())["cells"]):
            if cell["cell_type"] == "code":
                src = "".join(line for line in cell["source"] if not line.lstrip()[:1] in "%!")
                trees[f"{p.name} cell {i}"] = ast.parse(src)
    return trees


def test_widget_code_uses_only_api_shared_by_ipywidgets_7_and_8():
    seen = set()
    for where, tree in _code_in_kit().items():
        for name, keywords in _widget_uses(tree):
            seen.add(name)
            assert name in SHARED_WIDGETS or name in SHARED_FUNCTIONS, f"{where}: {name}"
            if name in SHARED_WIDGETS:
                assert keywords <= SHARED_WIDGETS[name], f"{where}: {name}({keywords})"
    assert {"FloatSlider", "interact_manual"} <= seen, "notebook 06's sliders were found"


def test_the_scan_catches_ipywidgets_8_only_api():
    tree = ast.parse("import ipywidgets as w\nw.Text(tooltip='x')\nw.TagsInput()\n")
    uses = {name: keywords for name, keywords in _widget_uses(tree) if keywords or name != "Text"}
    assert "TagsInput" in uses and "TagsInput" not in SHARED_WIDGETS
    assert uses["Text"] == {"tooltip"} and not uses["Text"] <= SHARED_WIDGETS["Text"]
