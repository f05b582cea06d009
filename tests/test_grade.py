"""hwlib.grade on small synthetic notebooks and a homework .py: instructor version full marks,
student version not done, a crash fails the next exercise only, no solution printed."""

import json
import subprocess
import sys

import pytest

from hwlib.grade import grade, grade_file, table
from hwlib.student import write_student_version

pytest.importorskip("nbclient")

SCHEDULER = '''class WarmupLearningRateScheduler:
    def __init__(self, base_lr, warmup_steps):
        self.base_lr, self.warmup_steps = base_lr, warmup_steps

    def lr_at_step(self, step):
        ### BEGIN SOLUTION
        if step < self.warmup_steps:
            return self.base_lr * step / self.warmup_steps  # SECRET-SCHEDULER
        return self.base_lr
        ### END SOLUTION

    def __call__(self, step):
        return self.lr_at_step(step)
'''
SAMPLER = '''import torch

def sample_next(logits, temperature, top_k=None, generator=None):
    ### BEGIN SOLUTION
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)  # SECRET-SAMPLER
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, top_k).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)
    ### END SOLUTION
'''
PII = r'''import re

def replace_pii(text):
    ### BEGIN SOLUTION
    for pattern, mask in [(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", "|||EMAIL_ADDRESS|||"),
                          (r"\b\d{3}-\d{2}-\d{4}\b", "|||SSN|||"),
                          (r"(?:\(\d{3}\)\s?|\b\d{3}[-.\s])\d{3}[-.\s]\d{4}\b",
                           "|||PHONE_NUMBER|||"),
                          (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "|||IP_ADDRESS|||")]:
        text = re.sub(pattern, mask, text)
    return text
    ### END SOLUTION
'''
CLEAN = '''def clean_text(text):
    lines = (" ".join(line.split()) for line in text.split("\\n"))
    return "\\n".join(x for x in lines if x and any(c in ",.:;!?" for c in x)
                     and max(map(len, x.split())) <= 100)
'''
DEDUP = '''def deduplicate_texts(texts):
    kept = []
    for t in texts:
        words = set(t.lower().split())
        if all(len(words & set(k.lower().split())) / len(words | set(k.lower().split())) < 0.5
               for k in kept):
            kept.append(t)
    return kept
'''


def nb(*cells):
    def cell(src):
        if src.startswith("## "):
            return {"cell_type": "markdown", "metadata": {}, "source": src}
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": src}

    cells = [{**cell(c), "id": f"cell-{i}"} for i, c in enumerate(cells)]
    return {"cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}


def write(path, notebook):
    path.write_text(json.dumps(notebook))


def test_instructor_full_marks_student_not_done(tmp_path):
    # Two kernels in all (each imports torch): one instructor notebook, one student folder.
    inst, stud = tmp_path / "instructor", tmp_path / "student"
    inst.mkdir()
    write(inst / "03_lr_scheduler.ipynb", nb(
        "## Exercise: the warmup scheduler", SCHEDULER,
        "from hwlib.checks import check_scheduler\ncheck_scheduler(WarmupLearningRateScheduler)"))
    run = [sys.executable, "-m", "hwlib.grade", str(inst / "03_lr_scheduler.ipynb")]
    res = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [line for line in res.stdout.splitlines() if line.startswith("03_lr_scheduler")]
    assert len(rows) == 1 and "passed" in rows[0] and rows[0].endswith("10/10")
    assert "SECRET" not in res.stdout + res.stderr
    report = json.loads((tmp_path / "grade.json").read_text())
    assert report["points"] == report["max_points"] == 10
    assert report["results"][0]["result"] == "passed"

    write(inst / "06_generation.ipynb", nb("## Exercise: the next token", SAMPLER,
                                           "print(sample_next(torch.zeros(1, 3), 0.0))"))
    write_student_version(inst / "06_generation.ipynb", stud)
    results = {r.exercise: r for r in grade(stud)}
    sample = results["06_generation: sample_next"]
    assert sample.result == "not done" and sample.points == 0
    assert ("sample_next is not written yet: its steps are explained in 06_generation.ipynb, "
            "section 'Exercise: the next token'") in sample.message
    assert results["03_lr_scheduler: WarmupLearningRateScheduler"].message == \
        "03_lr_scheduler.ipynb not found"
    assert all(r.result == "not done" for r in results.values())
    assert "SECRET" not in table(list(results.values()))


def test_crash_fails_the_next_exercise_and_grading_goes_on(tmp_path):
    write(tmp_path / "01_web_data.ipynb", nb(
        PII, "import json\njson.loads('{broken')", CLEAN, "x = 1", DEDUP,
        "def is_english_text(text):\n    return True\n"))
    results = {r.exercise.split(": ")[1]: r for r in grade(tmp_path / "01_web_data.ipynb")}
    assert results["replace_pii"].result == "passed"
    assert results["clean_text"].result == "failed"
    assert results["clean_text"].message.startswith("cell 1 raised JSONDecodeError")
    assert results["deduplicate_texts"].result == "passed"
    assert results["is_english_text"].result == "failed"
    assert "every text is called English" in results["is_english_text"].message
    assert results["html_to_text"].result == "not done"
    text = table(list(results.values()))
    assert "failed: cell 1 raised JSONDecodeError" in text and text.count("\n") == 9


def test_homework_py_graded_without_printing_solutions(tmp_path, capsys):
    hw = tmp_path / "homework.py"
    solution = "".join(line for line in PII.splitlines(True) if "SOLUTION" not in line)
    hw.write_text(solution
                  + CLEAN.replace("<= 100", "< 100")
                  + "def deduplicate_texts(texts):\n    raise NotImplementedError\n"
                  + "print('homework imported')\n")
    results = {r.exercise.split(": ")[1]: r for r in grade_file(hw)}
    assert set(results) == {"html_to_text", "replace_pii", "clean_text",
                            "heuristic_quality_filter", "is_english_text", "deduplicate_texts"}
    assert results["replace_pii"].result == "passed"
    assert results["clean_text"].result == "failed"
    assert "off by one" in results["clean_text"].message
    assert results["deduplicate_texts"].result == "not done"
    assert results["html_to_text"].message == "html_to_text is not defined"
    assert capsys.readouterr().out == ""

    hw.write_text("def replace_pii(text):\nreturn text\n")
    results = grade_file(hw)
    assert results and all(r.result == "failed" for r in results)
    assert results[0].message.startswith("importing homework.py raised IndentationError")


def test_bad_path_is_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "hwlib.grade", str(tmp_path / "nope.txt")],
                         capture_output=True, text=True)
    assert res.returncode != 0 and res.stderr.strip().count("\n") == 0
    assert "not a notebooks folder, a .ipynb or a .py file" in res.stderr
