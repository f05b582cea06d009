"""Scale-out: hwlib.preprocess's stages as datatrove pipeline steps, from a laptop to a cluster.

    pip install -e .[scale]
    python -m hwlib.scale --input 'data/cc/*.warc.gz' --output out/scale --tasks 4 --workers 2
    python -m hwlib.scale --input /shared/CC-MAIN-2024-22 --output /shared/clean --tasks 9000 \\
        --executor slurm --partition cpu --time 04:00:00 --cpus_per_task 1 --dry_run

Each stage (extract, clean, PII, quality, English) is a datatrove step calling hwlib.preprocess's
pure functions, so a page gives the same text here as there. datatrove shards the files over
tasks, runs them on its local, Slurm or Ray executor, marks finished tasks (a rerun skips them)
and saves per-task stats, which `collect_funnel` sums into hwlib.preprocess's funnel. Near
duplicates across the run go through datatrove's four MinHash stages, which stream sorted
signature files, so no machine holds an index of the whole crawl. Output:
OUTPUT/documents/NNNNN.jsonl.gz, {"text", "id", "metadata"} per line, each stage's decision in
the metadata. datatrove is imported on first use: the rest of hwlib never needs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import json
import os
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from hwlib.cli import config_parser, flag, from_namespace
from hwlib.dedup import NGRAM, normalize_text
from hwlib.preprocess import (
    PAGE_STAGES,
    SKIP_KINDS,
    StageOptions,
    decode_page,
    format_funnel,
    run_stage,
)
from hwlib.quality import (
    ENGLISH_THRESHOLD,
    RULE_NAMES,
    QualityRules,
    english_probability,
    load_bad_words,
)
from hwlib.warc import WarcError, iter_records

MISSING_DATATROVE = "hwlib.scale needs datatrove: pip install -e .[scale]"
RUN_FILE = "hwlib_scale.json"  # what this output folder holds; a rerun must match it to resume
INPUT_NAME = re.compile(r"\.(warc|wet)(\.gz)?$")
# datatrove's (FineWeb's) LSH layout: 14 bands of 8 hashes catch pairs above ~0.72 Jaccard
# with high probability; the shingles are hwlib.dedup's word n-grams.
MINHASH_BANDS, MINHASH_ROWS = 14, 8


class ScaleError(ValueError):
    """Bad input for a scale-out run: no input files, or an output folder of another run."""


EXECUTORS = ("local", "slurm", "ray")


@dataclass
class ScaleConfig:
    """One scale-out run; the CLI flags are these field names."""

    input: str = flag("", "a folder of .warc[.gz]/.wet[.gz] files (searched recursively) or a glob",
                      required=True)
    output: str = flag("out/scale", "folder for the kept text, stats and logs")
    tasks: int = flag(1, "shards of the input files; one task reads every tasks-th file")
    workers: int = flag(0, "tasks run at once; 0 = the CPU count (local), no limit (slurm, ray)")
    executor: str = flag("local", "local, slurm or ray", choices=EXECUTORS)
    dedup: bool = flag(True, "MinHash near-duplicate removal across all tasks")
    extractor: str = flag("bs4", "HTML extractor (resiliparse: pip install -e .[fast])",
                          choices=("bs4", "resiliparse"))
    wet: bool = flag(False, "the inputs are WET files: text already extracted")
    bad_words: str | None = flag(None, "one word per line; default data/bad_word_list.txt")
    skip_rules: tuple[str, ...] = flag((), "quality rules to switch off, e.g. stop_words")
    english_threshold: float = flag(ENGLISH_THRESHOLD, "langid English probability")
    keep_rejected: bool = flag(
        False, "also write rejected pages, with the reason, to OUTPUT/rejected")
    # Slurm (and Ray) resources
    partition: str | None = flag(None, "Slurm partition")
    time: str = flag(
        "04:00:00", "Slurm limit per task; one CC WARC (~30k pages) is ~5 core-minutes")
    cpus_per_task: int = flag(1, "CPUs per task")
    mem_per_cpu_gb: int = flag(2, "memory per CPU, GB")
    qos: str | None = flag(None, "Slurm quality of service")
    env_command: str | None = flag(None, "job-script line activating the env; default this venv")
    dry_run: bool = flag(False, "print the plan (Slurm: the job scripts) and submit nothing")


def _datatrove():
    """The datatrove module, or a one-line ImportError naming the extra to install."""
    try:
        import datatrove
    except ImportError:
        raise ImportError(MISSING_DATATROVE) from None
    return datatrove


# ---------------------------------------------------------------------------------------------
# The steps. Their base classes are datatrove's, so they are built on first use (PEP 562
# __getattr__ below) and are then plain module attributes: pickle finds them by name, as
# datatrove's executors need when they ship a pipeline to another process or node.

STEP_NAMES = ("WarcRecords", "PageStage", "RankJsonlReader", "HwlibWords")


def _build_steps() -> dict:
    _datatrove()
    from datatrove.data import Document
    from datatrove.pipeline.filters.base_filter import BaseFilter
    from datatrove.pipeline.readers.base import BaseDiskReader
    from datatrove.pipeline.readers.jsonl import JsonlReader
    from datatrove.utils.logging import logger
    from datatrove.utils.word_tokenizers import WordTokenizer

    class WarcRecords(BaseDiskReader):
        """hwlib.warc's record reader over datatrove's file sharding: a document per HTML page
        (decoded as hwlib.preprocess.decode_page does) or WET record, the skip kinds as stats.
        (datatrove's WarcReader guesses charsets with cchardet and trusts the crawler's payload
        type: other pages.)"""

        name = "hwlib WARC records"

        def __init__(self, data_folder, paths_file, wet: bool = False):
            super().__init__(data_folder, paths_file=paths_file)
            self.wet = wet

        def read_file(self, filepath: str):
            path = self.data_folder.resolve_paths(filepath)
            try:  # WarcError comes before the first record: an empty file or not a WARC
                for i, (kind, url, payload, charset) in enumerate(iter_records(path, wet=self.wet)):
                    try:
                        kind, text, replaced = decode_page(kind, payload, charset)
                    except Exception:  # as in process_record: a hostile page is "broken"
                        kind, replaced = "broken", False
                    self.stat_update("records_read", kind, *(["replaced_chars"] * replaced))
                    if kind in ("html", "text"):
                        yield Document(text=text, id=f"{filepath}/{i}",
                                       metadata={"url": url, "file": filepath, "record": i})
            except WarcError as e:  # one bad file must not fail the task forever
                logger.warning(str(e))
                self.stat_update("bad_files")

    class PageStage(BaseFilter):
        """One of hwlib.preprocess.PAGE_STAGES through its `run_stage`, so a page gives the same
        text here as there; a stage that raises drops the page as "broken", as there."""

        type = "hwlib"

        def __init__(self, stage: str, opts: StageOptions, exclusion_writer=None):
            self.name = stage  # before the base class names this step's stats after it
            super().__init__(exclusion_writer)
            self.stage, self.opts = stage, opts

        def filter(self, doc):
            try:
                doc.text, ok, detail = run_stage(self.stage, doc.text, self.opts)
            except Exception as e:
                doc.metadata["error"] = f"{type(e).__name__}: {str(e)[:100]}"
                return False, "broken"
            if self.stage == "extract" and not self.opts.wet:
                doc.metadata["extractor"] = self.opts.extractor
            elif self.stage == "pii":
                doc.metadata["pii_masks"] = detail
            elif self.stage == "quality" and not ok:
                self.stat_update(*(f"rule_{rule}" for rule in detail))
                doc.metadata["failed_rules"] = detail
            elif self.stage == "english" and detail is not None:
                doc.metadata["english"] = round(detail, 4)
            if ok and self.stage == PAGE_STAGES[-1]:  # the funnel counts PII in pages kept
                masks = doc.metadata.get("pii_masks", 0)
                self.stat_update("pii_masks", value=masks)
                self.stat_update("pii_documents", value=int(masks > 0))
            return ok or (False, self.stage)

    class RankJsonlReader(JsonlReader):
        """Reads back exactly the file its own rank wrote: MinHash's filter names documents by
        their index in their rank's stream, so stage 4 must see stage 1's order."""

        name = "hwlib rank reader"

        def run(self, data=None, rank: int = 0, world_size: int = 1):
            name = f"{rank:05d}.jsonl.gz"
            if self.data_folder.exists(name):
                yield from self.read_file(name)

    class HwlibWords(WordTokenizer):
        """Words as hwlib.dedup sees them (letters and digits, lower case), so datatrove's
        MinHash needs no spaCy or NLTK model. Sentences are lines."""

        def word_tokenize(self, text: str) -> list[str]:
            return normalize_text(text).split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [m.group() for m in re.finditer(r"[^\n]+", text)]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [m.span() for m in re.finditer(r"[^\n]+", text)]

    return {c.__name__: c for c in (WarcRecords, PageStage, RankJsonlReader, HwlibWords)}


def __getattr__(name: str):
    if name not in STEP_NAMES:
        raise AttributeError(f"module 'hwlib.scale' has no attribute {name!r}")
    for cls in _build_steps().values():
        cls.__qualname__ = cls.__name__
        globals()[cls.__name__] = cls
    return globals()[name]


# ---------------------------------------------------------------------------------------------
# Inputs, the output folder, the stages and their executors



def resolve_inputs(spec: str) -> list[Path]:
    """The input files: a folder's .warc/.wet[.gz] files (recursively), one file, or a glob."""
    path = Path(spec).expanduser()
    if path.is_dir():
        files = [f for f in path.rglob("*") if f.is_file() and INPUT_NAME.search(f.name)]
        if not files:
            raise ScaleError(f"{spec}: folder holds no .warc, .warc.gz, .wet or .wet.gz files")
    elif path.is_file():
        files = [path]
    else:
        files = [Path(f) for f in glob.glob(str(path), recursive=True) if Path(f).is_file()]
        if not files:
            raise ScaleError(f"{spec}: no such file or folder, and as a glob it matches no files")
    return sorted(f.resolve() for f in files)


def claim_output(cfg: ScaleConfig, files: list[Path]) -> str:
    """Refuse a folder holding another run's outputs; record this run in it. Returns the
    folder the input paths are relative to."""
    out = Path(cfg.output)
    words = sorted(load_bad_words(cfg.bad_words) if cfg.bad_words else load_bad_words())
    # What makes two runs one run, so one may resume the other (executor, workers and
    # resources may change between them).
    ident = {"inputs": [str(f) for f in files], "tasks": cfg.tasks, "dedup": cfg.dedup,
             "extractor": cfg.extractor, "wet": cfg.wet, "skip_rules": sorted(cfg.skip_rules),
             "english_threshold": cfg.english_threshold, "keep_rejected": cfg.keep_rejected,
             "bad_words": hashlib.sha1("\n".join(words).encode()).hexdigest()[:16],
             "minhash": f"{NGRAM}-gram shingles, {MINHASH_BANDS}x{MINHASH_ROWS} bands"}
    manifest = out / RUN_FILE
    if manifest.is_file():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        for key, value in ident.items():
            if old.get(key) != value:
                what = ("other input files" if key == "inputs" else
                        f"{key}={old.get(key)!r}, not {value!r}")
                raise ScaleError(f"{out}: holds another run's outputs ({what}); use a new "
                                 "--output or delete that folder")
        return old["base"]
    if out.exists() and not out.is_dir():
        raise ScaleError(f"{out}: is a file, not an output folder")
    # Empty folders are fine: a Slurm dry run leaves its (empty) log folders.
    stray = next((f for f in out.rglob("*") if f.is_file()), None) if out.is_dir() else None
    if stray is not None:
        raise ScaleError(f"{out}: holds files that are not a hwlib.scale run "
                         f"({stray.relative_to(out)}); use a new or empty --output")
    base = os.path.commonpath([str(f.parent) for f in files])
    if not cfg.dry_run:
        out.mkdir(parents=True, exist_ok=True)
        paths = "".join(f"{os.path.relpath(f, base)}\n" for f in files)
        (out / "inputs.txt").write_text(paths, encoding="utf-8")
        manifest.write_text(json.dumps({**ident, "base": base}, indent=1), encoding="utf-8")
    return base


def build_stages(cfg: ScaleConfig, base: str) -> list[tuple[str, list, int]]:
    """(name, datatrove pipeline, number of tasks) of each stage, in the order they run."""
    from datatrove.pipeline.dedup import minhash
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    steps = sys.modules[__name__]  # the step classes, built on first use
    out = Path(cfg.output).resolve()

    def rejected(stage: str):
        return JsonlWriter(str(out / "rejected" / stage)) if cfg.keep_rejected else None

    words = load_bad_words(cfg.bad_words) if cfg.bad_words else load_bad_words()
    rules = QualityRules(bad_word_list=words).without(cfg.skip_rules)
    opts = StageOptions(rules, cfg.extractor, cfg.english_threshold, cfg.wet)
    clean = [
        steps.WarcRecords(base, str(out / "inputs.txt"), wet=cfg.wet),
        *(steps.PageStage(stage, opts, rejected(stage)) for stage in PAGE_STAGES),
        JsonlWriter(str(out / ("clean" if cfg.dedup else "documents"))),
    ]
    if not cfg.dedup:
        return [("clean", clean, cfg.tasks)]
    mh = minhash.MinhashConfig(n_grams=NGRAM, num_buckets=MINHASH_BANDS,
                               hashes_per_bucket=MINHASH_ROWS)
    sigs, buckets, remove = (str(out / "minhash" / d) for d in ("signatures", "buckets", "remove"))
    clean.append(minhash.MinhashDedupSignature(sigs, mh, language=steps.HwlibWords()))
    return [
        ("clean", clean, cfg.tasks),
        ("buckets", [minhash.MinhashDedupBuckets(sigs, buckets, config=mh)], MINHASH_BANDS),
        ("clusters", [minhash.MinhashDedupCluster(buckets, remove, config=mh)], 1),  # union-find
        ("dedup", [steps.RankJsonlReader(str(out / "clean"), add_file_path=False),
                   minhash.MinhashDedupFilter(remove, exclusion_writer=rejected("dedup")),
                   JsonlWriter(str(out / "documents"))], cfg.tasks),
    ]


def make_executors(cfg: ScaleConfig, stages: list[tuple[str, list, int]]) -> list:
    """One datatrove executor per stage, each depending on the one before it."""
    logs = Path(cfg.output).resolve() / "logs"
    executors: list = []
    for name, pipeline, tasks in stages:
        common = {"pipeline": pipeline, "tasks": tasks, "logging_dir": str(logs / name),
                  "depends": executors[-1] if executors else None}
        if cfg.executor == "local":
            from datatrove.executor.local import LocalPipelineExecutor

            workers = min(cfg.workers or os.cpu_count() or 1, tasks)
            # Forked workers inherit the imported modules (torch via hwlib.utils, bs4, langid),
            # which a forkserver worker re-imports for seconds; the parent runs no threads.
            start = "fork" if sys.platform == "linux" else "forkserver"
            executors.append(LocalPipelineExecutor(workers=workers, start_method=start, **common))
        elif cfg.executor == "slurm":
            from datatrove.executor.slurm import SlurmPipelineExecutor

            in_venv = sys.prefix != sys.base_prefix
            env = cfg.env_command or (f"source {sys.prefix}/bin/activate" if in_venv else None)
            executors.append(SlurmPipelineExecutor(
                time=cfg.time, partition=cfg.partition, cpus_per_task=cfg.cpus_per_task,
                mem_per_cpu_gb=cfg.mem_per_cpu_gb, workers=cfg.workers or -1, qos=cfg.qos,
                job_name=f"hwlib-{name}", env_command=env, **common))
        else:
            from datatrove.executor.ray import RayPipelineExecutor

            executors.append(RayPipelineExecutor(
                workers=cfg.workers or -1, cpus_per_task=cfg.cpus_per_task,
                mem_per_cpu_gb=cfg.mem_per_cpu_gb, **common))
    return executors


def describe(cfg: ScaleConfig, executors: list) -> str:
    """The plan of a dry run; for Slurm, the job script each stage would submit."""
    lines = []
    for i, ex in enumerate(executors):
        todo = ex.get_incomplete_ranks()
        name = Path(ex.logging_dir.path).name
        after = f", after stage {i} succeeds" if i else ""
        lines.append(f"# stage {i + 1}/{len(executors)} {name}: {len(todo)} of {ex.world_size} "
                     f"tasks to run{after}; logs in {ex.logging_dir.path}")
        if cfg.executor == "slurm" and todo:
            array = min(len(todo), ex.max_array_size)  # one task per array job, as submitted
            # the command SlurmPipelineExecutor.launch_job puts in the script it submits
            pik = ex.logging_dir.resolve_paths("executor.pik")
            command = f"srun -l -n {ex.nodes_per_task} launch_pickled_pipeline {pik}"
            lines.append(ex.get_launch_file_contents(ex.get_sbatch_args(array), command))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The driver: run the stages, then sum the per-task stats into hwlib.preprocess's funnel


def run_scale(cfg: ScaleConfig | None = None, **overrides) -> dict:
    """Run (local, ray) or submit (slurm) every stage; returns the funnel of finished tasks.

    `run_scale(input=..., output=...)` is short for run_scale(ScaleConfig(...)). A rerun with
    the same settings skips the tasks that finished (datatrove's completion markers).
    """
    cfg = dataclasses.replace(cfg or ScaleConfig(), **overrides)
    _datatrove()
    if cfg.executor not in EXECUTORS:
        raise ScaleError(f"--executor {cfg.executor}: use one of {', '.join(EXECUTORS)}")
    if cfg.tasks < 1:
        raise ScaleError(f"--tasks {cfg.tasks}: need at least one task")
    if cfg.executor == "slurm" and not cfg.partition:
        raise ScaleError("--executor slurm needs --partition NAME")
    unknown = sorted(set(cfg.skip_rules) - set(RULE_NAMES))
    if unknown:
        raise ScaleError(f"unknown quality rule(s) {unknown}; rules: {RULE_NAMES}")
    base = claim_output(cfg, resolve_inputs(cfg.input))
    executors = make_executors(cfg, build_stages(cfg, base))
    if cfg.dry_run:
        print(describe(cfg, executors))
        return {}
    if cfg.executor == "local":
        english_probability("load langid once here")  # forked workers inherit the model
    executors[-1].run()  # launches the stages it depends on first
    return collect_funnel(cfg.output)


def collect_funnel(output: str | os.PathLike) -> dict:
    """hwlib.preprocess's funnel summed over every finished task of the run in `output`.

    Besides format_funnel's keys: bad_files (inputs that are not WARCs) and tasks
    (stage -> (finished, total)).
    """
    out = Path(output)
    manifest = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))

    def counters(stage: str) -> dict:  # step name -> {counter: total over tasks}
        # Read datatrove's stats files as JSON: a counter is a number or {"total": ...}, and
        # datatrove 0.10.1's own loader leaves the numbers as ints its sum then cannot add.
        total: dict = defaultdict(Counter)
        for f in sorted((out / "logs" / stage / "stats").glob("*.json")):
            for step in json.loads(f.read_text(encoding="utf-8")):
                name = step["name"].split(": ", 1)[-1]
                for key, value in step.get("stats", {}).items():
                    total[name][key] += int(value["total"] if isinstance(value, dict) else value)
        return total

    clean = counters("clean")
    reader = clean["hwlib WARC records"]
    stages = [clean[s] for s in PAGE_STAGES]
    # A page that breaks in a stage is a "broken" skip in hwlib.preprocess, not a page that
    # passed the stages before it: take it out of those.
    broken = [s["dropped_broken"] for s in stages]
    passed = [s["forwarded"] - sum(broken[i + 1:]) for i, s in enumerate(stages)]
    funnel = {key: reader[key] for key in ("records_read", *SKIP_KINDS, "bad_files",
                                           "replaced_chars")}
    funnel["broken"] += sum(broken)
    funnel.update(html=reader["html"] + reader["text"] - sum(broken), extracted=passed[0],
                  cleaned=passed[2], quality=passed[3], english=passed[4],
                  pii_documents=stages[4]["pii_documents"], pii_masks=stages[4]["pii_masks"])
    funnel["quality_failures"] = {k[len("rule_"):]: v for k, v in stages[3].items()
                                  if k.startswith("rule_")}
    dedup = counters("dedup")["🎯 MinHash stage 4"]
    # datatrove's MinHash does not tell exact from near duplicates: all count as near.
    funnel.update(deduplicated=dedup["forwarded"] if manifest["dedup"] else funnel["english"],
                  exact_duplicates=0, near_duplicates=dedup["dropped"])
    tasks = {"clean": manifest["tasks"]}
    if manifest["dedup"]:
        tasks.update(buckets=MINHASH_BANDS, clusters=1, dedup=manifest["tasks"])
    funnel["tasks"] = {stage: (len(list((out / "logs" / stage / "completions").glob("*"))), n)
                       for stage, n in tasks.items()}
    return funnel


def main(argv: list[str] | None = None) -> None:
    parser = config_parser(ScaleConfig, prog="python -m hwlib.scale", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    cfg = from_namespace(ScaleConfig, parser.parse_args(argv))
    try:
        funnel = run_scale(cfg)
    except (ImportError, FileNotFoundError, ScaleError) as e:  # no datatrove, bad input
        sys.exit(f"error: {e}")
    except Exception as e:  # a task failed: its log says why; finished tasks stay finished
        first = (str(e).strip().splitlines() or [""])[0][:200]
        sys.exit(f"error: a task failed ({type(e).__name__}: {first}); see "
                 f"{cfg.output}/logs/*/logs/, then rerun the same command to resume")
    if cfg.dry_run:
        return
    if funnel["tasks"]["clean"][0] == 0:  # a Slurm submission: nothing has run yet
        print(f"submitted; logs in {Path(cfg.output) / 'logs'}. When the jobs end, rerun the "
              "same command to see the funnel (and to resubmit tasks that failed)")
        return
    print(f"{funnel['deduplicated']} passed out of {funnel['records_read']} records processed.")
    print(format_funnel(funnel))
    if funnel["bad_files"]:
        print(f"skipped {funnel['bad_files']} input files that are not WARCs (see task logs)")
    if cfg.dedup:
        print("(datatrove's MinHash does not tell exact from near duplicates: all count as near)")
    unfinished = [f"{s} {done}/{n}" for s, (done, n) in funnel["tasks"].items() if done < n]
    if unfinished:
        print(f"tasks finished: {', '.join(unfinished)}; the funnel counts those only. When the "
              "jobs end, rerun the same command to see the rest (finished tasks are skipped)")
    else:
        print(f"wrote {funnel['deduplicated']} documents to {Path(cfg.output) / 'documents'}")


if __name__ == "__main__":
    # Run the importable copy of this module: datatrove pickles the steps by module and name for
    # other processes and nodes, where "__main__" is another program.
    from hwlib.scale import main as scale_main

    scale_main()
