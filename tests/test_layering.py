"""The import graph of hwlib, read with ast: stages in order, no circles, no tool imported.

Data flows one way (web text -> tokens -> batches -> model -> training -> samples -> evaluation ->
report), so a module may import its own stage and earlier ones, never a later one. Imports inside
functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hwlib

PACKAGE = Path(hwlib.__file__).parent

# Earliest first; a module may import modules of its own row or of an earlier row.
STAGES = [
    ("utils", "cli", "distributed"),  # shared helpers every stage may use
    ("story_words", "stories", "sample_pages", "sample_data"),  # the bundled data's writers
    ("warc", "extract", "quality", "dedup"),
    ("preprocess",),
    ("scale",),
    ("tokenizer",),
    ("data",),
    ("kernels", "model", "schedule", "metrics", "step"),
    ("checkpoint",),
    ("sample",),
    ("train", "plot"),
    ("recipe",),
    ("judge",),
    ("standins", "evaluate"),
    ("report",),
]
WEB = {"warc", "extract", "quality", "dedup", "preprocess", "scale"}
SAMPLING_AND_EVALUATION = {"sample", "evaluate", "judge", "standins", "report"}
TOOLS = {"student", "grade", "demo", "lab", "publish"}  # and bench*, checks*: never imported
# by the core
RANK = {m: i for i, row in enumerate(STAGES) for m in row}


def is_tool(name: str) -> bool:
    return name in TOOLS or name.startswith(("bench", "checks"))


def imports(path: Path) -> set[str]:
    """Top-level names a module imports: "torch", and "hwlib.<module>" for the package's own."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "hwlib":  # from hwlib import train
                names = [f"hwlib.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            parts = n.split(".")
            found.add(".".join(parts[:2]) if parts[0] == "hwlib" else parts[0])
    return found


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the hwlib modules it imports (itself left out)."""
    g = {}
    for path in sorted(package.glob("*.py")):
        if path.stem != "__init__":
            deps = {n.split(".")[1] for n in imports(path) if n.startswith("hwlib.")}
            g[path.stem] = deps - {path.stem}
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle found by a depth-first walk, as the list of modules around it."""
    found, state = [], {}  # state: 1 = on the current path, 2 = done

    def walk(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                found.append(path[path.index(d):] + [d])
            elif d not in state:
                walk(d, path + [d])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            walk(m, [m])
    return found


def test_every_module_has_a_place():
    unplaced = [m for m in graph() if m not in RANK and not is_tool(m)]
    assert not unplaced, f"add {unplaced} to a row of STAGES (or make them tools)"


def test_no_module_imports_a_later_stage():
    g = graph()
    later = [f"{m} imports {d}" for m, deps in g.items() if m in RANK
             for d in deps if d in RANK and RANK[d] > RANK[m]]
    assert not later, later


def test_web_stages_never_import_torch_or_a_later_stage():
    for m in WEB:
        names = imports(PACKAGE / f"{m}.py")
        assert "torch" not in names, f"{m} imports torch"
        deps = {n.split(".")[1] for n in names if n.startswith("hwlib.")}
        assert deps <= WEB | {"utils", "cli"}, f"{m} imports {deps - WEB - {'utils', 'cli'}}"


def test_sampling_and_evaluation_never_import_the_trainer():
    g = graph()
    for m in SAMPLING_AND_EVALUATION:
        assert not g[m] & {"train", "recipe"}, f"{m} imports {g[m] & {'train', 'recipe'}}"
    assert g["sample"] <= {"model", "checkpoint", "tokenizer", "utils", "cli"}, g["sample"]


def test_nothing_imports_the_tools():
    g = graph()
    bad = [f"{m} imports {d}" for m, deps in g.items() for d in deps
           if is_tool(d) and not is_tool(m)]  # tools may use each other; the core never
    assert not bad, bad


def test_no_import_cycles():
    assert not cycles(graph())


@pytest.mark.parametrize("edges,circle", [
    ({"sample": {"train"}, "train": {"sample"}}, ["sample", "train", "sample"]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
])
def test_the_cycle_finder_finds_circles(edges, circle):
    """The check itself: main once had sample -> train -> sample."""
    assert cycles(edges) == [circle]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_reads_lazy_and_from_package_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import torch.nn as nn\nfrom hwlib import train as T\n"
                   "def f():\n    from hwlib.sample import sample\n")
    assert imports(src) == {"torch", "hwlib.train", "hwlib.sample"}
