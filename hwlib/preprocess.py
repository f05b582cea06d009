"""Stage 1: Common Crawl WARC -> clean, PII-masked, English, deduplicated text.

    python -m hwlib.preprocess --fname data/sample.warc.gz --output cleaned_test.txt \\
        --dfname data/topic_dataset.json --num_records 1000 --workers 2
    python -m hwlib.preprocess --impl homework.py ...   # your six functions in the kit's pipeline

Per-record stages are pure top-level functions (hwlib.extract.html_to_text, hwlib.quality's
clean_text, replace_pii, heuristic_quality_filter, is_english_text), so `process_record` maps onto
a process pool as is; PAGE_STAGES and `run_stage` are their order and their rules, shared with
hwlib.scale. One driver, `run_pipeline`, owns reading, counting, the funnel, dedup and writing.
`run_pipeline(..., stages={"clean_text": my_clean_text, ...})` runs a learner's functions (the
course's six names, COURSE_FUNCTIONS) in place of the kit's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import pickle
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hwlib import dedup, extract, quality
from hwlib.cli import IMPL_PREFIX, flag, load_impl, parse
from hwlib.utils import DATA_DIR, atomic_write, require_file
from hwlib.warc import MAX_PAGE_BYTES, iter_records

# ---------------------------------------------------------------------------------------------
# The per-record stages, in one order and with one set of rules for this driver and hwlib.scale

# The course's six graded functions; a learner's versions replace the kit's by these names.
COURSE_FUNCTIONS = ("html_to_text", "replace_pii", "clean_text", "heuristic_quality_filter",
                    "is_english_text", "deduplicate_texts")
PAGE_STAGES = ("extract", "clean", "pii", "quality", "english")  # the order every page takes


@dataclass(frozen=True)
class StageOptions:
    """What a worker needs to run the per-record stages (small and picklable)."""

    rules: quality.QualityRules
    extractor: str = "bs4"
    english_threshold: float = quality.ENGLISH_THRESHOLD
    wet: bool = False  # pages are WET text: nothing to extract
    stages: tuple = ()  # (course function name, a learner's function) pairs replacing the kit's


def decode_page(kind: str, payload, charset: str | None) -> tuple[str, str | None, bool]:
    """(kind, text, replaced) of one record: HTML bytes become text, or kind "undecodable"
    when the page is mostly U+FFFD or control bytes; `replaced` says U+FFFD had to stand in."""
    if kind != "html":
        return kind, payload, False
    text, replaced = extract.decode_bytes(payload, charset)
    if extract.undecodable(text):
        return "undecodable", None, replaced
    return kind, text, replaced


def run_stage(
    stage: str, text: str, opts: StageOptions, raw: bytes | None = None
) -> tuple[str, bool, object]:
    """(text, passed, detail) of one PAGE_STAGES stage; detail: PII masks, failed rules, P(en).

    A learner's html_to_text gets the page's `raw` bytes when given, as the course's does.
    """
    mine = dict(opts.stages)
    if stage == "extract":
        if not opts.wet:
            fn = mine.get("html_to_text")
            if fn:
                text = fn(raw if raw is not None else text)
            else:
                text = extract.html_to_text(text, extractor=opts.extractor)
        return text, bool(text.strip()), None
    if stage == "clean":
        text = mine.get("clean_text", quality.clean_text)(text)
        return text, bool(text), None
    if stage == "pii":
        if "replace_pii" not in mine:
            text, masks = quality.replace_pii_count(text)
            return text, True, masks
        new = mine["replace_pii"](text)
        masks = sum(max(new.count(m) - text.count(m), 0) for m in _MASKS)
        return new, True, masks or int(new != text)
    if stage == "quality":
        if "heuristic_quality_filter" in mine:
            ok = bool(mine["heuristic_quality_filter"](text))
            return text, ok, [] if ok else ["heuristic_quality_filter"]
        failed = quality.failed_rules(text, opts.rules)
        return text, not failed, failed
    if stage == "english":
        if "is_english_text" in mine:
            return text, bool(mine["is_english_text"](text)), None
        p_en = quality.english_probability(text)
        return text, p_en >= opts.english_threshold, p_en
    raise ValueError(f"unknown stage {stage!r}; stages: {PAGE_STAGES}")


_MASKS = (quality.EMAIL_MASK, quality.PHONE_MASK, quality.SSN_MASK, quality.IP_MASK)


def process_record(record: tuple, opts: StageOptions) -> tuple:
    """Run one record through decode and PAGE_STAGES; never raises.

    Returns (outcome, url, detail, replaced): outcome is the skip kind or the stage that
    rejected the page, or "kept" with detail (text, pii_masks, exact_key, minhash_signature) so
    the driver can dedup in order; `replaced` says the page needed U+FFFD to decode.
    """
    kind, url, payload, charset = record
    replaced = False
    try:
        kind, text, replaced = decode_page(kind, payload, charset)
        if kind not in ("html", "text"):
            return (kind, url, None, replaced)
        masks = 0
        raw = payload if kind == "html" else None
        for stage in PAGE_STAGES:
            text, ok, detail = run_stage(stage, text, opts, raw)
            if stage == "pii":
                masks = detail
            if not ok:
                return (stage, url, detail, replaced)
        return ("kept", url, (text, masks, dedup.exact_key(text), dedup.minhash_signature(text)),
                replaced)
    except Exception as e:  # one hostile page (or a learner's bug) must never stop the run
        return ("broken", url, f"{type(e).__name__}: {str(e)[:100]}", replaced)


# ---------------------------------------------------------------------------------------------
# The driver: reading, counting, the funnel, dedup and writing as it goes


@dataclass
class PipelineConfig:
    """One preprocessing run; the CLI flags are these field names (the course's flags)."""

    fname: str = flag(str(DATA_DIR / "sample.warc.gz"), "WARC (or WET with --wet); '' skips it")
    output: str | None = flag("cleaned_test.txt", "one document per line, replaced when complete")
    dfname: str | None = flag(str(DATA_DIR / "topic_dataset.json"),
                              "topic dataset {'data': [{'text': ...}]} to deduplicate; '' skips it")
    num_records: int | None = flag(30, "response (or conversion) records to read (the course's 30)")
    workers: int = flag(1, "processes; any number gives the same output as 1")
    wet: bool = flag(False, "read WET text records and skip HTML extraction")
    bad_words: str | None = flag(None, "one word per line; default data/bad_word_list.txt")
    extractor: str = flag("bs4", "HTML extractor (resiliparse: pip install hwlib[fast])",
                          choices=("bs4", "resiliparse"))
    rules: str = flag("kit", "quality rules: kit (the course's + Gopher's) or course (its four)",
                      choices=("kit", "course"))
    skip_rules: tuple[str, ...] = flag((), "quality rules to switch off, e.g. stop_words")
    dedup_lines: bool = flag(False, "C4-style removal of lines already seen in earlier documents")
    dedup_threshold: float = flag(dedup.DEDUP_THRESHOLD, "near-duplicate Jaccard threshold")
    topic_rules: str = flag("course", "--dfname dedup: course (word sets, 0.5) or kit",
                            choices=("course", "kit"))
    english_threshold: float = flag(quality.ENGLISH_THRESHOLD, "langid English probability")
    max_page_bytes: int = flag(MAX_PAGE_BYTES, "larger pages are skipped")
    chunksize: int = flag(8, "records per task sent to a worker")
    progress: bool = flag(True, "tqdm bar (shown only on a terminal)")
    impl: str | None = flag(None, "a learner's homework.py: its course functions replace the kit's")


SKIP_KINDS = ("non_html", "http_status", "too_large", "broken", "undecodable")
STAGES = ("extracted", "cleaned", "quality", "english", "deduplicated")
_PASSED = dict(zip(PAGE_STAGES, ("extracted", "cleaned", None, "quality", "english")))


def check_config(cfg: PipelineConfig) -> None:
    """Refuse bad arguments in one line before any record is read."""
    if cfg.num_records is not None and cfg.num_records < 1:
        raise ValueError(f"--num_records {cfg.num_records}: need at least 1 record")
    if cfg.workers < 1 or cfg.chunksize < 1:
        raise ValueError(f"--workers {cfg.workers} --chunksize {cfg.chunksize}: need >= 1")
    if not cfg.fname:
        raise ValueError("no --fname: nothing to read")
    quality.QualityRules.preset(cfg.rules, frozenset()).without(cfg.skip_rules)
    dedup.dedup_index(cfg.topic_rules)
    if cfg.output:
        out = Path(cfg.output).resolve()
        for flag, path in (("--fname", cfg.fname), ("--dfname", cfg.dfname), ("--impl", cfg.impl)):
            if path and Path(path).resolve() == out:
                raise ValueError(f"--output {cfg.output} is the {flag} file; it would be lost")


def _throttled(records: Iterator[tuple], slots: threading.Semaphore) -> Iterator[tuple]:
    """Hold the pool's feeder thread back, so memory stays flat however long the file is."""
    for rec in records:
        slots.acquire()
        yield rec


def _workers(cfg: PipelineConfig, opts: StageOptions) -> int:
    """cfg.workers, or 1 with a note when a learner's function cannot reach a worker process."""
    if cfg.workers <= 1 or not opts.stages:
        return cfg.workers
    try:
        pickle.dumps(opts)  # lambdas and nested functions cannot travel to a worker
        # Without fork a worker imports each function's module by name: not __main__ (a
        # notebook) nor a file loaded by --impl.
        ok = multiprocessing.get_start_method() == "fork" or all(
            fn.__module__ != "__main__" and not fn.__module__.startswith(IMPL_PREFIX)
            for _, fn in opts.stages)
    except Exception:
        ok = False
    if not ok:
        print("note: your stage functions cannot be sent to worker processes (define them at "
              "the top level of a module); running with 1 worker", file=sys.stderr)
    return cfg.workers if ok else 1


def _results(cfg: PipelineConfig, records: Iterator[tuple], opts: StageOptions):
    from functools import partial

    work = partial(process_record, opts=opts)
    workers = _workers(cfg, opts)
    if workers <= 1:
        yield from map(work, records)
        return
    slots = threading.Semaphore(workers * cfg.chunksize * 4)
    with multiprocessing.get_context().Pool(workers) as pool:
        # imap keeps input order, so K workers write exactly what one worker writes.
        for res in pool.imap(work, _throttled(records, slots), cfg.chunksize):
            slots.release()
            yield res


def _stage_options(cfg: PipelineConfig, stages: dict | None) -> StageOptions:
    unknown = set(stages or ()) - set(COURSE_FUNCTIONS)
    if unknown:
        raise ValueError(f"unknown stage function(s) {sorted(unknown)}; use {COURSE_FUNCTIONS}")
    words = quality.load_bad_words(cfg.bad_words) if cfg.bad_words else None
    rules = quality.QualityRules.preset(cfg.rules, words).without(cfg.skip_rules)
    mine = tuple((k, fn) for k, fn in (stages or {}).items() if k != "deduplicate_texts")
    return StageOptions(rules, cfg.extractor, cfg.english_threshold, cfg.wet, mine)


def run_pipeline(
    cfg: PipelineConfig | None = None, stages: dict[str, Callable] | None = None, **overrides
) -> dict:
    """Run WARC -> clean text, writing kept documents to cfg.output; returns the funnel counts.

    `run_pipeline(fname=..., output=...)` is short for run_pipeline(PipelineConfig(...)).
    `stages` maps COURSE_FUNCTIONS names to a learner's functions that run in place of the kit's.
    The output is written to a temp file renamed over cfg.output when the run completes, so a
    crash never leaves half a file there. Keys: records_read, the skip kinds, html (pages
    processed), extracted, cleaned, quality, english, deduplicated, exact_duplicates,
    near_duplicates, pii_documents, pii_masks, replaced_chars (pages that needed U+FFFD),
    quality_failures (rule -> pages failing it), examples (outcome -> first few URLs) and pages
    ((url, outcome) per record, "duplicate" for a page dedup dropped).
    """
    cfg = dataclasses.replace(cfg or PipelineConfig(), **overrides)
    check_config(cfg)
    opts = _stage_options(cfg, stages)
    learner_dedup = (stages or {}).get("deduplicate_texts")
    records = iter_records(cfg.fname, cfg.num_records, cfg.wet, cfg.max_page_bytes)
    first = next(records, None)  # opening errors (empty, not a WARC) surface here, in one line
    records = _chain(first, records) if first is not None else iter(())
    stats: dict = dict.fromkeys(("records_read", *SKIP_KINDS, "html", *STAGES), 0)
    stats.update(exact_duplicates=0, near_duplicates=0, pii_documents=0, pii_masks=0,
                 replaced_chars=0, quality_failures=Counter(), examples={}, pages=[])
    index = dedup.DuplicateIndex(cfg.dedup_threshold)
    lines = dedup.LineDeduplicator() if cfg.dedup_lines else None
    held: list[tuple[int, str]] = []  # (record number, text) for a learner's deduplicate_texts
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.num_records, unit="rec", desc="preprocess",
               disable=not (cfg.progress and sys.stderr.isatty()))
    # A temp file beside the output, renamed over it only when the run completes.
    with atomic_write(cfg.output, "w") if cfg.output else contextlib.nullcontext() as out:
        for outcome, url, detail, replaced in _results(cfg, records, opts):
            bar.update(1)
            text = _count(stats, outcome, url, detail, replaced)
            if text is None:
                continue
            if learner_dedup:  # it needs every text at once: held in memory, written at the end
                held.append((stats["records_read"] - 1, text))
                continue
            if lines is not None:
                text = lines.filter(text)
            _, _, key, sig = detail
            if text != detail[0]:
                key, sig = None, None  # recomputed by the index
            verdict = index.add(text, key, sig) if text else "exact"
            if verdict != "new":
                stats[f"{verdict}_duplicates"] += 1
                _mark_duplicate(stats, stats["records_read"] - 1)
                continue
            stats["deduplicated"] += 1
            if out:
                out.write(" ".join(text.split("\n")) + "\n")
        bar.close()
        if learner_dedup:
            held = _apply_learner_dedup(learner_dedup, held, stats)
            stats["deduplicated"] = len(held)
            if out:
                out.writelines(" ".join(text.split("\n")) + "\n" for _, text in held)
    stats["quality_failures"] = dict(stats["quality_failures"])
    stats["pages"] = [tuple(p) for p in stats["pages"]]
    return stats


MAX_PAGES_LISTED = 100_000  # stats["pages"] stops growing here, so memory stays bounded


def _count(stats: dict, outcome: str, url: str, detail, replaced: bool) -> str | None:
    """Count one record's outcome in the funnel; the text of a page that reached dedup."""
    stats["records_read"] += 1
    stats["replaced_chars"] += replaced
    if len(stats["pages"]) < MAX_PAGES_LISTED:
        stats["pages"].append([url, outcome])
    ex = stats["examples"].setdefault(outcome, [])
    if len(ex) < 5:
        ex.append(url)
    if outcome in SKIP_KINDS:
        stats[outcome] += 1
        return None
    stats["html"] += 1
    for stage in PAGE_STAGES[: PAGE_STAGES.index(outcome) if outcome != "kept" else None]:
        if _PASSED[stage]:  # a page rejected at stage S passed every stage before S
            stats[_PASSED[stage]] += 1
    if outcome == "quality":
        stats["quality_failures"].update(detail)
    if outcome != "kept":
        return None
    stats["pii_documents"] += detail[1] > 0
    stats["pii_masks"] += detail[1]
    return detail[0]


def _mark_duplicate(stats: dict, record: int) -> None:
    if record < len(stats["pages"]):
        stats["pages"][record][1] = "duplicate"


def _apply_learner_dedup(fn: Callable, kept: list[tuple[int, str]], stats: dict) -> list:
    """The learner's deduplicate_texts over the pages that reached dedup, in order."""
    texts = [t for _, t in kept]
    result = fn(list(texts))
    left = Counter(result)
    survivors = []
    for i, text in kept:
        if left[text] > 0:
            left[text] -= 1
            survivors.append((i, text))
        else:
            _mark_duplicate(stats, i)
    stats["near_duplicates"] = len(kept) - len(survivors)  # the learner's says not which kind
    return survivors


def _chain(first: tuple, rest: Iterator[tuple]) -> Iterator[tuple]:
    yield first
    yield from rest


_LABELS = {
    "non_html": "non-HTML",
    "http_status": "HTTP not 2xx",
    "too_large": "too large",
    "broken": "broken record",
    "undecodable": "undecodable bytes",
}


def format_funnel(stats: dict) -> str:
    """The funnel as an aligned table: what each stage kept and why pages were dropped."""
    rows = [("stage", "kept", "dropped", "why"), ("records read", stats["records_read"], "", "")]
    for kind in SKIP_KINDS:
        rows.append((f"  skipped: {_LABELS[kind]}", "", stats[kind], ""))
    rows.append(("pages (HTML or WET text)", stats["html"], "", ""))
    why = {
        "quality": ", ".join(f"{k} {v}" for k, v in sorted(stats["quality_failures"].items())),
        "deduplicated": f"exact {stats['exact_duplicates']}, near {stats['near_duplicates']}",
    }
    prev = stats["html"]
    for stage in STAGES:
        rows.append((stage, stats[stage], prev - stats[stage], why.get(stage, "")))
        prev = stats[stage]
    lines = [f"{a:<28}{b:>7}{c:>9}  {d}".rstrip() for a, b, c, d in rows]
    lines.append(f"PII masked: {stats['pii_masks']} spans in {stats['pii_documents']} of the "
                 "pages kept")
    if stats.get("replaced_chars"):
        lines.append(f"pages with bytes no charset could decode (shown as U+FFFD): "
                     f"{stats['replaced_chars']}")
    return "\n".join(lines)


def compare_funnels(mine: dict, reference: dict) -> str:
    """Two runs' funnels side by side, then each page whose outcome differs (url: mine, ref)."""
    keys = ("records_read", *SKIP_KINDS, "html", *STAGES)
    rows = [f"{'stage':<16}{'yours':>8}{'kit':>8}"]
    rows += [f"{k:<16}{mine[k]:>8}{reference[k]:>8}" + ("  <-" if mine[k] != reference[k] else "")
             for k in keys]
    differ = [(a[0], a[1], b[1]) for a, b in zip(mine["pages"], reference["pages"]) if a != b]
    rows.append(f"pages where the outcomes differ: {len(differ)}")
    rows += [f"  {url or '(no url)'}: yours {a}, kit {b}" for url, a, b in differ]
    return "\n".join(rows)


def load_topic_dataset(path) -> list[str]:
    """The texts of a course-format dataset file {"data": [{"text": ...}, ...]}."""
    path = require_file(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))["data"]
        texts = [item["text"] for item in items]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"{path}: not a topic dataset ({{'data': [{{'text': ...}}]}}): "
            f"{type(e).__name__}: {str(e)[:80]}"
        ) from None
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise ValueError(f"{path}: item {bad}'s text is a {type(texts[bad]).__name__}, not text")
    return texts



def main(argv: list[str] | None = None) -> None:
    cfg = parse(PipelineConfig, argv, prog="python -m hwlib.preprocess")
    try:
        stages = load_impl(cfg.impl, {n: n for n in COURSE_FUNCTIONS}) if cfg.impl else {}
        texts = load_topic_dataset(cfg.dfname) if cfg.dfname else None  # bad input: fail first
        if cfg.fname:
            stats = run_pipeline(cfg, stages)
            print(f"{stats['deduplicated']} passed out of {stats['records_read']} records "
                  "processed.")
            print(format_funnel(stats))
            if cfg.output:
                print(f"wrote {stats['deduplicated']} documents to {cfg.output}")
        if texts is not None:
            fn = stages.get("deduplicate_texts")
            kept = fn(list(texts)) if fn else dedup.deduplicate_texts(texts, rules=cfg.topic_rules)
            print(f"{len(kept)} deduplicated out of {len(texts)} records processed.")
    except (OSError, ValueError) as e:  # missing file, not a WARC, bad JSON, unknown rule
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
