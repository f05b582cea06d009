"""Stage 1: Common Crawl WARC -> clean, PII-masked, English, deduplicated text.

    python -m hwlib.preprocess --fname data/sample.warc.gz --output cleaned_test.txt \\
        --dfname data/topic_dataset.json --num_records 1000 --workers 2

Per-record stages are pure top-level functions (html_to_text, clean_text, replace_pii,
heuristic_quality_filter, is_english_text), so `process_record` maps onto a process pool as is.
One driver, `run_pipeline`, owns reading, counting, the funnel, dedup and writing as it goes.
HTML extraction lives in hwlib.extract, text rules in hwlib.quality and dedup in hwlib.dedup;
their public functions are re-exported here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import re
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from warcio.archiveiterator import ArchiveIterator

from hwlib.dedup import (  # noqa: F401  (re-exported API)
    DEDUP_THRESHOLD,
    DuplicateIndex,
    LineDeduplicator,
    deduplicate_lines,
    deduplicate_texts,
    exact_key,
    minhash_signature,
)
from hwlib.extract import decode_html, html_to_text, undecodable  # noqa: F401  (re-exported)
from hwlib.quality import (  # noqa: F401  (re-exported API)
    ENGLISH_THRESHOLD,
    QualityRules,
    clean_text,
    english_probability,
    failed_rules,
    heuristic_quality_filter,
    is_english_text,
    load_bad_words,
    quality_report,
    replace_pii,
    replace_pii_count,
)
from hwlib.utils import DATA_DIR, require_file

MAX_PAGE_BYTES = 8 * 2**20  # bigger payloads are skipped unread (Common Crawl cuts at 1 MiB)
HTML_TYPES = ("text/html", "application/xhtml+xml")


class WarcError(ValueError):
    """An input file that cannot be read as WARC/WET at all (empty, not a WARC)."""


# ---------------------------------------------------------------------------------------------
# Reading: every response (or WET conversion) record becomes one small tuple
#   (kind, url, payload, charset), kind in: html, text, non_html, http_status, too_large, broken


_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]{1,40})", re.I)


def _payload_record(rec, wet: bool, max_bytes: int) -> tuple:
    url = (rec.rec_headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
    try:
        if wet:
            data = rec.content_stream().read(max_bytes + 1)
            if len(data) > max_bytes:
                return ("too_large", url, None, None)
            return ("text", url, data.decode("utf-8", errors="replace"), None)
        http = rec.http_headers
        code = http.get_statuscode() if http else ""
        if not (len(code) == 3 and code.isdigit()):
            return ("broken", url, None, None)  # not an HTTP message at all (garbage bytes)
        if not code.startswith("2"):
            return ("http_status", url, None, None)
        ctype = (
            http.get_header("Content-Type")
            or rec.rec_headers.get_header("WARC-Identified-Payload-Type")
            or ""
        )
        if ctype.split(";")[0].strip().lower() not in HTML_TYPES:
            return ("non_html", url, None, None)
        data = rec.content_stream().read(max_bytes + 1)  # undoes chunked/gzip encodings
    except Exception:  # a damaged body (bad chunking, gzip) spoils this record only
        return ("broken", url, None, None)
    if len(data) > max_bytes:
        return ("too_large", url, None, None)
    m = _CHARSET.search(ctype)
    return ("html", url, data, m.group(1) if m else None)


def iter_records(
    path, num_records: int | None = None, wet: bool = False, max_bytes: int = MAX_PAGE_BYTES
) -> Iterator[tuple]:
    """Every response (or, with `wet`, conversion) record of a WARC as a (kind, url, ...) tuple.

    A file that is empty or not a WARC raises WarcError. A record that is garbage, cut short
    or fails its digest is yielded once as kind "broken" with a one-line warning on stderr, and
    reading goes on at the next record start (gzip member), so a damaged member costs only itself.
    """
    path = require_file(path)
    size = path.stat().st_size
    if size == 0:
        raise WarcError(f"{path}: empty file, no WARC records")
    want = "conversion" if wet else "response"
    n_read = n_any = 0
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        records, start, arc = ArchiveIterator(f, check_digests=True), 0, False
        while records is not None and (num_records is None or n_read < num_records):
            rec = item = problem = None
            try:
                rec = next(records)
            except StopIteration:
                if records.offset >= size:
                    break
                # gzip's error on a member cut short made warcio treat the rest as the end
                problem = "a record is cut short (truncated)"
            except Exception as e:  # warcio raises many types on foreign or damaged input
                problem = "".join(c if c.isprintable() else "?" for c in " ".join(str(e).split()))
                problem = problem[:120] or type(e).__name__
                if n_any == 0:  # nothing readable yet: this is not a WARC we can read
                    raise WarcError(f"{path}: not a readable WARC file: {problem}") from None
            if rec is None and records.offset > start:
                # Retry a record start with a fresh reader before counting it: garbage just
                # before it (read as a bogus ARC record, say) can leave warcio unable to read it.
                bad = records.offset
                records, start = _resync(f, bad, gz)
                if start != bad:  # no record starts there: the bytes up to the next one are junk
                    yield _stopped(path, n_any, problem)
                continue
            if rec is not None:
                n_any += 1
                if n_any == 1:
                    # warcio reads any first line as an old ARC header; a real one has a length
                    arc = rec.format.startswith("arc")
                    if arc and not str(rec.rec_headers.get_header("length") or "").isdigit():
                        raise WarcError(f"{path}: not a WARC file (its first line is no header)")
                if not rec.rec_type:  # warcio's stand-in for a header it could not parse
                    problem = "unreadable record header (truncated or corrupt)"
                elif rec.format.startswith("arc") != arc:  # garbage read as an ARC header
                    problem = "garbage between records"
                else:
                    if rec.rec_type == want:
                        n_read += 1
                        item = _payload_record(rec, wet, max_bytes)
                    if _damaged(rec):  # its partial body is not the page: no text from it
                        problem = "the record is cut short or corrupt (digest)"
            if problem is not None:  # one broken record; go on at the next record start
                yield _stopped(path, n_any, problem)
                records, start = _resync(f, records.offset + 1, gz)
            elif item is not None:
                yield item


def _damaged(rec) -> bool:
    """True when the record ends before its Content-Length, has none, or fails its digest.

    warcio stays silent on all three: a member cut inside its header parses as a record with
    no length, and a member cut mid-record followed by the next member decompresses to garbage
    that can fill the length, which only the digest shows.
    """
    if rec.format.startswith("warc"):
        names = [name.lower() for name, _ in rec.rec_headers.headers]
        # A header cut short runs into the next record's header: two types, two ids.
        if "content-length" not in names or names.count("warc-record-id") > 1:
            return True
    stream = rec.raw_stream
    try:
        while stream.read(1 << 16):
            pass
    except Exception:
        return True
    checker = getattr(rec, "digest_checker", None)
    return getattr(stream, "limit", 0) > 0 or (checker is not None and checker.passed is False)


def _resync(f, pos: int, gz: bool) -> tuple[ArchiveIterator | None, int]:
    """A fresh iterator at the first record start at or after byte `pos`, and that offset.

    Common Crawl compresses each record as its own gzip member, so the next member header is
    the next record; in an uncompressed WARC the next "WARC/1." is. (None, -1) at the end.
    """
    magic = b"\x1f\x8b\x08" if gz else b"WARC/1."
    while True:
        f.seek(pos)
        chunk = f.read(1 << 20)
        if len(chunk) < len(magic):
            return None, -1
        i = chunk.find(magic)
        if i >= 0:
            f.seek(pos + i)
            return ArchiveIterator(f, check_digests=True), pos + i
        pos += len(chunk) - len(magic) + 1


def _stopped(path, n_records: int, reason: str) -> tuple:
    print(f"warning: {path}: record {n_records}: {reason}; skipped", file=sys.stderr)
    return ("broken", "", None, None)


def read_warc(path, num_records: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(url, html_bytes) for each HTML response; num_records counts response records read."""
    for kind, url, data, _ in iter_records(path, num_records):
        if kind == "html":
            yield url, data


def read_wet(path, num_records: int | None = None) -> Iterator[tuple[str, str]]:
    """(url, text) for each conversion record of a WET file."""
    for kind, url, text, _ in iter_records(path, num_records, wet=True):
        if kind == "text":
            yield url, text


# ---------------------------------------------------------------------------------------------
# The per-record stages, as one pure function a worker pool can map


@dataclass(frozen=True)
class StageOptions:
    """What a worker needs to run the per-record stages (small and picklable)."""

    rules: QualityRules
    extractor: str = "bs4"
    english_threshold: float = ENGLISH_THRESHOLD


def process_record(record: tuple, opts: StageOptions) -> tuple:
    """Run one record through extract, clean, PII, quality and English; never raises.

    Returns (outcome, url, detail): outcome is the skip kind or the stage that rejected the
    page ("extract", "clean", "quality", "english"), or "kept" with detail
    (text, pii_masks, exact_key, minhash_signature) so the driver can dedup in order.
    """
    kind, url, payload, charset = record
    if kind not in ("html", "text"):
        return (kind, url, None)
    try:
        if kind == "html":
            html = decode_html(payload, charset)
            if undecodable(html):
                return ("undecodable", url, None)
            text = html_to_text(html, extractor=opts.extractor)
        else:
            text = payload
        if not text.strip():
            return ("extract", url, None)
        text = clean_text(text)
        if not text:
            return ("clean", url, None)
        text, masks = replace_pii_count(text)
        failed = failed_rules(text, opts.rules)
        if failed:
            return ("quality", url, failed)
        p_en = english_probability(text)
        if p_en < opts.english_threshold:
            return ("english", url, p_en)
        return ("kept", url, (text, masks, exact_key(text), minhash_signature(text)))
    except Exception as e:  # one hostile page must never stop the run
        return ("broken", url, f"{type(e).__name__}: {str(e)[:100]}")


# ---------------------------------------------------------------------------------------------
# The driver: reading, counting, the funnel, dedup and writing as it goes


@dataclass
class PipelineConfig:
    """One preprocessing run; the CLI flags are these field names (the course's flags)."""

    fname: str = str(DATA_DIR / "sample.warc.gz")  # WARC (or WET with wet=True), .gz or not
    output: str | None = "cleaned_test.txt"  # one document per line, written as it goes
    dfname: str | None = str(DATA_DIR / "topic_dataset.json")  # {"data": [{"text": ...}]}
    num_records: int | None = None  # response (or conversion) records to read; None = all
    workers: int = 1  # processes; any number gives the same output as 1
    wet: bool = False  # read WET text records and skip HTML extraction
    bad_words: str | None = None  # one word per line; default data/bad_word_list.txt
    extractor: str = "bs4"  # or "resiliparse" (pip install hwlib[fast])
    skip_rules: tuple[str, ...] = ()  # quality rules to switch off, e.g. ("stop_words",)
    dedup_lines: bool = False  # C4-style removal of lines already seen in earlier documents
    dedup_threshold: float = DEDUP_THRESHOLD
    english_threshold: float = ENGLISH_THRESHOLD
    max_page_bytes: int = MAX_PAGE_BYTES
    chunksize: int = 8  # records per task sent to a worker
    progress: bool = True  # tqdm bar (shown only on a terminal)


SKIP_KINDS = ("non_html", "http_status", "too_large", "broken", "undecodable")
STAGES = ("extracted", "cleaned", "quality", "english", "deduplicated")
_REJECTED_AT = {
    "extract": "extracted",
    "clean": "cleaned",
    "quality": "quality",
    "english": "english",
}


def _throttled(records: Iterator[tuple], slots: threading.Semaphore) -> Iterator[tuple]:
    """Hold the pool's feeder thread back, so memory stays flat however long the file is."""
    for rec in records:
        slots.acquire()
        yield rec


def _results(cfg: PipelineConfig, records: Iterator[tuple], opts: StageOptions):
    from functools import partial

    work = partial(process_record, opts=opts)
    if cfg.workers <= 1:
        yield from map(work, records)
        return
    slots = threading.Semaphore(cfg.workers * cfg.chunksize * 4)
    with multiprocessing.get_context().Pool(cfg.workers) as pool:
        # imap keeps input order, so K workers write exactly what one worker writes.
        for res in pool.imap(work, _throttled(records, slots), cfg.chunksize):
            slots.release()
            yield res


def run_pipeline(cfg: PipelineConfig | None = None, **overrides) -> dict:
    """Run WARC -> clean text, writing kept documents as it goes; returns the funnel counts.

    `run_pipeline(fname=..., output=...)` is short for run_pipeline(PipelineConfig(...)).
    Keys: records_read, the skip kinds, html (pages processed), extracted, cleaned, quality,
    english, deduplicated, exact_duplicates, near_duplicates, pii_documents, pii_masks,
    quality_failures (rule -> pages failing it) and examples (outcome -> first few URLs).
    """
    cfg = dataclasses.replace(cfg or PipelineConfig(), **overrides)
    words = load_bad_words(cfg.bad_words) if cfg.bad_words else load_bad_words()
    rules = QualityRules(bad_word_list=words).without(cfg.skip_rules)
    opts = StageOptions(rules, cfg.extractor, cfg.english_threshold)
    records = iter_records(cfg.fname, cfg.num_records, cfg.wet, cfg.max_page_bytes)
    first = next(records, None)  # opening errors (empty, not a WARC) surface here, in one line
    records = _chain(first, records) if first is not None else iter(())
    stats: dict = dict.fromkeys(("records_read", *SKIP_KINDS, "html", *STAGES), 0)
    stats.update(
        exact_duplicates=0,
        near_duplicates=0,
        pii_documents=0,
        pii_masks=0,
        quality_failures=Counter(),
        examples={},
    )
    index = DuplicateIndex(cfg.dedup_threshold)
    lines = LineDeduplicator() if cfg.dedup_lines else None
    # Line-buffered: each kept document reaches the file at once, so a crash loses nothing.
    out = open(cfg.output, "w", encoding="utf-8", buffering=1) if cfg.output else None
    try:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=cfg.num_records,
            unit="rec",
            desc="preprocess",
            disable=not (cfg.progress and sys.stderr.isatty()),
        )
        for outcome, url, detail in _results(cfg, records, opts):
            bar.update(1)
            stats["records_read"] += 1
            ex = stats["examples"].setdefault(outcome, [])
            if len(ex) < 5:
                ex.append(url)
            if outcome in SKIP_KINDS:
                stats[outcome] += 1
                continue
            stats["html"] += 1
            if outcome != "kept":
                _count_rejection(stats, outcome, detail)
                continue
            text, masks, key, sig = detail
            for stage in STAGES[:-1]:
                stats[stage] += 1
            stats["pii_documents"] += masks > 0
            stats["pii_masks"] += masks
            if lines is not None:
                deduped = lines.filter(text)
                if deduped != text:
                    text, key, sig = deduped, None, None  # recomputed by the index
            verdict = index.add(text, key, sig) if text else "exact"
            if verdict != "new":
                stats[f"{verdict}_duplicates"] += 1
                continue
            stats["deduplicated"] += 1
            if out:
                out.write(" ".join(text.split("\n")) + "\n")
        bar.close()
    finally:
        if out:
            out.close()  # whatever was written so far stays on disk
    stats["quality_failures"] = dict(stats["quality_failures"])
    return stats


def _chain(first: tuple, rest: Iterator[tuple]) -> Iterator[tuple]:
    yield first
    yield from rest


def _count_rejection(stats: dict, outcome: str, detail) -> None:
    """A page rejected at stage S passed every stage before S."""
    order = ("extract", "clean", "quality", "english")
    for earlier in order[: order.index(outcome)]:
        stats[_REJECTED_AT[earlier]] += 1
    if outcome == "quality":
        stats["quality_failures"].update(detail)


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
    pii = f"PII masked: {stats['pii_masks']} spans in {stats['pii_documents']} of the pages kept"
    return "\n".join(lines + [pii])


def load_topic_dataset(path) -> list[str]:
    """The texts of a course-format dataset file {"data": [{"text": ...}, ...]}."""
    path = require_file(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))["data"]
        return [item["text"] for item in items]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"{path}: not a topic dataset ({{'data': [{{'text': ...}}]}}): "
            f"{type(e).__name__}: {str(e)[:80]}"
        ) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Clean a Common Crawl WARC into text.")
    for f in dataclasses.fields(PipelineConfig):
        default = f.default
        if isinstance(default, bool):
            flag = f"--no_{f.name}" if default else f"--{f.name}"
            parser.add_argument(
                flag, dest=f.name, action="store_false" if default else "store_true"
            )
        elif f.name == "skip_rules":
            parser.add_argument("--skip_rules", default="", help="comma-separated rule names")
        else:
            kind = {int: int, float: float}.get(type(default), str)
            if f.name == "num_records":
                kind = int
            parser.add_argument(f"--{f.name}", type=kind, default=default)
    args = vars(parser.parse_args(argv))
    args["skip_rules"] = tuple(r for r in args["skip_rules"].split(",") if r)
    cfg = PipelineConfig(**args)
    try:
        stats = run_pipeline(cfg)
        print(f"{stats['deduplicated']} passed out of {stats['records_read']} records processed.")
        print(format_funnel(stats))
        if cfg.output:
            print(f"wrote {stats['deduplicated']} documents to {cfg.output}")
        if cfg.dfname:
            texts = load_topic_dataset(cfg.dfname)
            kept = deduplicate_texts(texts, cfg.dedup_threshold)
            print(f"{len(kept)} items after deduplication (from {len(texts)}).")
    except (OSError, ValueError) as e:  # missing file, not a WARC, bad JSON, unknown rule
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
