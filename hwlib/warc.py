"""Reading Common Crawl WARC/WET files: one small tuple per response (or conversion) record.

    from hwlib.warc import iter_records, read_warc

Every record becomes (kind, url, payload, charset), kind in: html, text, non_html, http_status,
too_large, broken. A damaged record costs only itself: reading goes on at the next record start
(the next gzip member, or the next "WARC/1." line), always forward, and each record is counted
once. hwlib.preprocess and hwlib.scale read through `iter_records`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

from warcio.archiveiterator import ArchiveIterator

from hwlib.utils import require_file

MAX_PAGE_BYTES = 8 * 2**20  # bigger payloads are skipped unread (Common Crawl cuts at 1 MiB)
HTML_TYPES = ("text/html", "application/xhtml+xml")


class WarcError(ValueError):
    """An input file that cannot be read as WARC/WET at all (empty, not a WARC)."""


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
    `num_records` counts the records yielded, broken ones included.
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
                    n_read += 1
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
                n_read += item is None  # counted once, whether or not it was a response
                yield _stopped(path, n_any, problem)
                # Always forward: a bogus length (negative, say) can put warcio's offset behind
                # the last start, and seeking there would loop or fail.
                records, start = _resync(f, max(records.offset, start) + 1, gz)
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
