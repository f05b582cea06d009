"""hwlib.scale: the preprocess stages on datatrove's executors (local runs, a Slurm dry run)."""

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from warcio.warcwriter import WARCWriter

from hwlib import scale  # importing needs no datatrove; running does
from hwlib.dedup import exact_key
from hwlib.preprocess import StageOptions, process_record, run_pipeline
from hwlib.quality import QualityRules, load_bad_words
from hwlib.warc import iter_records
from hwlib.sample_data import article_html, html, page
from hwlib.utils import DATA_DIR, REPO_ROOT

pytest.importorskip("datatrove")  # the scale extra: pip install -e .[scale]

SAMPLE = DATA_DIR / "sample.warc.gz"
# Planted near duplicates of two sample articles (a few words changed, another site) and one
# page found nowhere else.
PLANTED = {
    "https://coast.example.net/why-tides": article_html("tides", edits={
        "Twice a day": "Two times a day", "beach": "shore", "slips away": "slides away"}),
    "https://bakery.example.com/starter": article_html("sourdough", edits={
        "simple mixture": "plain mixture", "flour and water": "water and flour"}),
    "https://birds.example.org/owls": page("How Owls Hunt", "<article><h1>How Owls Hunt</h1>" + (
        "<p>An owl can hunt in the dark because its ears are set at different heights on its "
        "head, so a sound from below reaches one ear a moment before the other. The bird turns "
        "its face until the sound arrives at both ears together, and then it knows where the "
        "mouse is hiding under the snow.</p><p>The soft edges of its feathers break up the "
        "rush of air over the wings, which is why the mouse never hears the owl coming until "
        "it is far too late to run back to the safety of its burrow.</p>") + "</article>"),
}
NEAR_PAIRS = [("https://tides.example.org/articles/tides", "https://coast.example.net/why-tides"),
              ("https://sourdough.example.org/articles/sourdough",
               "https://bakery.example.com/starter")]


def write_warc(path: Path, pages: dict) -> None:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for url, doc in pages.items():
        body = html(doc)
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), length=len(body)))
    path.write_bytes(buf.getvalue())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Two copies of the bundled WARC under other names and one file of planted pages."""
    d = tmp_path_factory.mktemp("warcs")
    for name in ("a.warc.gz", "b.warc.gz"):
        (d / name).write_bytes(SAMPLE.read_bytes())
    write_warc(d / "c.warc.gz", PLANTED)
    return d


@pytest.fixture(scope="module")
def expected(inputs) -> dict:
    """Per file, the texts hwlib.preprocess keeps before dedup, in record order."""
    opts = StageOptions(QualityRules(bad_word_list=load_bad_words()))
    kept = {}
    for f in sorted(inputs.iterdir()):
        results = (process_record(r, opts) for r in iter_records(f))
        kept[f.name] = [detail[0] for outcome, _, detail, _ in results if outcome == "kept"]
    return kept


def documents(out: Path, folder: str = "documents") -> list[dict]:
    docs = []
    for f in sorted((out / folder).glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            docs += [json.loads(line) for line in fh]
    return docs


def by_file(docs: list[dict]) -> dict:
    grouped = defaultdict(list)
    for d in docs:
        grouped[d["metadata"]["file"]].append((d["metadata"]["record"], d["text"]))
    return {name: [text for _, text in sorted(recs)] for name, recs in grouped.items()}


@pytest.fixture(scope="module")
def plain_run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("plain") / "out"
    funnel = scale.run_scale(input=str(inputs), output=str(out), tasks=2, workers=2, dedup=False)
    return out, funnel


def test_no_dedup_keeps_what_preprocess_keeps(plain_run, expected, inputs):
    out, funnel = plain_run
    docs = documents(out)
    assert by_file(docs) == expected
    assert sorted(p.name for p in (out / "documents").iterdir()) == ["00000.jsonl.gz",
                                                                     "00001.jsonl.gz"]
    meta = next(d["metadata"] for d in docs if "library.example.net" in d["metadata"]["url"])
    assert meta["pii_masks"] > 0 and meta["english"] >= 0.5 and meta["extractor"] == "bs4"
    # The funnel summed over tasks is hwlib.preprocess's funnel summed over the files.
    want = Counter()
    quality = Counter()
    for f in sorted(inputs.iterdir()):
        stats = run_pipeline(fname=str(f), output=None, dfname=None, progress=False,
                             num_records=None)
        quality.update(stats.pop("quality_failures"))
        want.update({k: v for k, v in stats.items() if isinstance(v, int)})
    for key in ("records_read", "non_html", "http_status", "broken", "undecodable", "html",
                "extracted", "cleaned", "quality", "english", "pii_documents", "pii_masks"):
        assert funnel[key] == want[key], key
    assert funnel["quality_failures"] == dict(quality)
    assert funnel["deduplicated"] == funnel["english"] == len(docs)
    assert funnel["tasks"] == {"clean": (2, 2)}


def test_dedup_removes_near_duplicates_across_files(inputs, expected, tmp_path):
    out = tmp_path / "out"
    funnel = scale.run_scale(input=str(inputs), output=str(out), tasks=2, workers=2,
                             keep_rejected=True)
    docs = documents(out)
    before = [t for texts in expected.values() for t in texts]
    assert Counter(d["text"] for d in docs) <= Counter(before)
    urls = Counter(d["metadata"]["url"] for d in docs)
    assert len({exact_key(d["text"]) for d in docs}) == len(docs)  # the copies of a in b went
    for original, planted in NEAR_PAIRS:  # one page of each near-duplicate group survives
        assert urls[original] + urls[planted] == 1
    assert urls["https://birds.example.org/owls"] == 1
    # the sample's 10 distinct pages (its exact copy, print view and near copy removed) + owls
    assert len(docs) == 11 == funnel["deduplicated"]
    assert funnel["near_duplicates"] == len(before) - len(docs)
    assert funnel["tasks"] == {"clean": (2, 2), "buckets": (14, 14), "clusters": (1, 1),
                               "dedup": (2, 2)}
    # Each stage's rejects, with its decision in the metadata (--keep_rejected).
    rejected = {stage: documents(out / "rejected", stage) for stage in
                ("extract", "clean", "quality", "english", "dedup")}
    assert len(rejected["quality"]) == funnel["cleaned"] - funnel["quality"] > 0
    assert all(d["metadata"]["failed_rules"] for d in rejected["quality"])
    assert len(rejected["english"]) == funnel["quality"] - funnel["english"] > 0
    assert all(d["metadata"]["english"] < 0.5 for d in rejected["english"])
    assert len(rejected["dedup"]) == funnel["near_duplicates"]
    assert {d["metadata"]["filter_reason"] for d in rejected["extract"]} == {"extract"}


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hwlib.scale", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_killed_run_resumes_to_the_same_output(inputs, expected, tmp_path):
    out = tmp_path / "out"
    args = ["--input", str(inputs / "*.warc.gz"), "--output", str(out), "--tasks", "3",
            "--no_dedup"]
    proc = cli(*args, "--workers", "1", start_new_session=True)  # tasks one after another
    marker = out / "logs" / "clean" / "completions" / "00000"
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and the manager process it started
    proc.communicate()
    done = list(marker.parent.iterdir())
    assert marker.exists() and len(done) < 3, "the kill must land between tasks"
    first = out / "documents" / "00000.jsonl.gz"
    stamp = first.stat().st_mtime_ns
    resumed = cli(*args, "--workers", "2")
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr[-2000:]
    assert "Skipping" in stderr and first.stat().st_mtime_ns == stamp  # task 0 was not redone
    assert by_file(documents(out)) == expected
    n = sum(map(len, expected.values()))
    assert stdout.startswith(f"{n} passed out of {26 * 2 + len(PLANTED)} records processed.")
    assert "records read" in stdout and f"wrote {n} documents" in stdout


def test_slurm_dry_run_prints_the_job_scripts(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    scale.main(["--input", str(inputs), "--output", str(out), "--tasks", "2", "--executor",
                "slurm", "--partition", "cpu", "--time", "01:30:00", "--cpus_per_task", "3",
                "--mem_per_cpu_gb", "4", "--dry_run"])
    text = capsys.readouterr().out
    scripts = text.split("#!/bin/bash")[1:]
    assert len(scripts) == 4  # clean, MinHash buckets, MinHash clusters, dedup filter
    for script, stage, array in zip(scripts, ("clean", "buckets", "clusters", "dedup"),
                                    ("0-1", "0-13", "0-0", "0-1")):
        assert f"#SBATCH --array={array}\n" in script
        assert f"#SBATCH --job-name=hwlib-{stage}\n" in script
        for line in ("--cpus-per-task=3", "--mem-per-cpu=4G", "--partition=cpu",
                     "--time=01:30:00"):
            assert f"#SBATCH {line}\n" in script
        pik = out.resolve() / "logs" / stage / "executor.pik"
        assert f"srun -l -n 1 launch_pickled_pipeline {pik}\n" in script
        assert f"source {sys.prefix}/bin/activate" in script or sys.prefix == sys.base_prefix
    assert "2 of 2 tasks to run" in text and "after stage 3 succeeds" in text
    assert not [f for f in out.rglob("*") if f.is_file()]  # nothing written, nothing submitted


FAKE_SLURM = {  # stand-ins that record what would be submitted and run it as Slurm would
    "sbatch": 'n=$(ls "$JOBS" | grep -c "sh$"); cp "${@: -1}" "$JOBS/job$n.sh"; '
              'echo "$@" > "$JOBS/job$n.args"; echo "Submitted batch job $((n + 100))"',
    "scontrol": "echo localhost",  # `scontrol show hostnames $SLURM_NODELIST`
    "srun": 'while [[ $1 == -* ]]; do [[ $1 == -n ]] && shift; shift; done; exec "$@"',
}


def test_slurm_job_script_runs_as_submitted(inputs, expected, tmp_path):
    fake, jobs, out = tmp_path / "bin", tmp_path / "jobs", tmp_path / "out"
    fake.mkdir(), jobs.mkdir()
    for name, body in FAKE_SLURM.items():
        (fake / name).write_text(f"#!/bin/bash\n{body}\n")
        (fake / name).chmod(0o755)
    path = f"{fake}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "JOBS": str(jobs)}
    submit = subprocess.run(  # the CLI itself: steps must pickle by name, not as __main__
        [sys.executable, "-m", "hwlib.scale", "--input", str(inputs), "--output", str(out),
         "--tasks", "2", "--executor", "slurm", "--partition", "cpu", "--no_dedup"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert submit.returncode == 0, submit.stderr[-2000:]
    assert submit.stdout.startswith("submitted; logs in")
    script = (jobs / "job0.sh").read_text()  # job1 is datatrove's merge-stats job
    assert "#SBATCH --array=0-1\n" in script and "launch_pickled_pipeline" in script
    for task in ("0", "1"):  # each array task runs the script on "its node"
        node = {**env, "SLURM_ARRAY_TASK_ID": task, "SLURM_NODELIST": "n1", "SLURM_JOB_ID": "1"}
        run = subprocess.run(["bash", str(jobs / "job0.sh")], env=node, capture_output=True,
                             text=True, timeout=120, check=False)
        assert run.returncode == 0, run.stderr[-2000:]
    assert by_file(documents(out)) == expected
    assert scale.collect_funnel(out)["tasks"] == {"clean": (2, 2)}


def test_bad_input_is_one_line(inputs, plain_run, tmp_path):
    with pytest.raises(scale.ScaleError, match=r"nothing\*\.warc\.gz: .*matches no files"):
        scale.run_scale(input=str(tmp_path / "nothing*.warc.gz"), output=str(tmp_path / "o"))
    out, _ = plain_run
    with pytest.raises(scale.ScaleError, match=r"another run's outputs \(tasks=2, not 3\)"):
        scale.run_scale(input=str(inputs), output=str(out), tasks=3, dedup=False)
    with pytest.raises(scale.ScaleError, match=r"another run's outputs \(dedup=False"):
        scale.run_scale(input=str(inputs), output=str(out), tasks=2)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match=r"^error: .*used: holds files that are not a hwlib"):
        scale.main(["--input", str(inputs), "--output", str(tmp_path / "used")])
    with pytest.raises(SystemExit, match=r"^error: .*--partition"):
        scale.main(["--input", str(inputs), "--output", str(tmp_path / "s"), "--executor",
                    "slurm", "--dry_run"])


def test_without_datatrove_import_works_and_use_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['datatrove'] = None; import hwlib.scale as s; "
            "print('imported', 'datatrove' in sys.modules and sys.modules['datatrove'] is not "
            f"None); s.main(['--input', {str(SAMPLE)!r}, '--output', {str(tmp_path)!r}])")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.stdout == "imported False\n"
    assert res.returncode == 1
    assert res.stderr == "error: hwlib.scale needs datatrove: pip install -e .[scale]\n"
