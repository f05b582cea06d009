"""Reliability suite (issue 8): hostile web data, unsafe checkpoints, faults while saving, kills.

Every test records its figures with `record(...)`; tests/conftest.py prints them after the run,
and `python -m hwlib.bench reliability` measures the same scenarios. Hypothesis runs
derandomized (the same examples on every machine) and without a database; time per input is
asserted explicitly instead of through hypothesis deadlines.
"""

from __future__ import annotations

import gzip
import io
import random
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.warcwriter import WARCWriter

from hwlib import extract, quality
from hwlib import preprocess as pp
from hwlib.sample_data import article_html, http_response
from hwlib.sample_pages import ARTICLES

SEED = 8  # picks the kill points, the garbage bytes and the truncation points
SLOW_S = 2.0  # generous bound on one call of a text stage, even for 400k-character inputs
FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture
def record(record_property):
    """Report a figure in the end-of-run reliability summary (see tests/conftest.py)."""
    return lambda name, value: record_property(f"reliability: {name}", value)


# --------------------------------------------------------------------------- hostile web text
TEXT_STAGES = {
    "html_to_text": extract.html_to_text,
    "clean_text": quality.clean_text,
    "replace_pii": quality.replace_pii,
    "heuristic_quality_filter": quality.heuristic_quality_filter,
    "is_english_text": quality.is_english_text,
}
_TRICKY = "0123456789.-@()+ \n\t\r#…•*-_'’\"%$,;:!?<>/=&xyzAB\x00\x0b\u2028\ufffd"
_HTML_BITS = ["<p>", "</p>", "<div class='nav menu'>", "</div>", "<script>", "</script>",
              "<style>", "<!--", "-->", "<br>", "<li>", "<table><tr><td>", "<head>", "</head>",
              "<svg>", "<template>", "<![CDATA[", "]]>", "&amp;", "&#0;", "&#x110000;", "&",
              "<meta charset='utf-7'>", "+2AA-", "<a href='mailto:x@y.z'>", "<", ">", "</",
              "<header hidden>", "<nav>", " ", "\n", "Hello, world.", "call 555-123-4567"]
hostile_text = st.one_of(
    st.text(max_size=3000),  # any code point (no lone surrogates: they are not text)
    st.text(alphabet=_TRICKY, max_size=3000),  # what the PII and punctuation regexes look at
    st.lists(st.sampled_from(_HTML_BITS), max_size=300).map("".join),
)


def timed(fn, arg):
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def langid_loaded():
    quality.is_english_text("warm up")  # loading langid's model (~1 s) is not per-input time


def test_text_stages_never_raise_on_random_and_adversarial_input(langid_loaded, record):
    n = 0

    @FUZZ
    @given(hostile_text)
    def run(text):
        nonlocal n
        n += 1
        for name, fn in TEXT_STAGES.items():
            assert timed(fn, text) < SLOW_S, name
        assert timed(extract.html_to_text, text.encode("utf-8", "surrogatepass")) < SLOW_S

    run()
    record("text inputs fuzzed (x5 stages)", n)


def test_html_to_text_never_raises_on_random_bytes(record):
    n = 0

    @FUZZ
    @given(st.binary(max_size=4000), st.sampled_from([None, "utf-8", "utf-7", "bogus", "utf_16"]))
    def run(data, charset):
        nonlocal n
        n += 1
        assert isinstance(extract.html_to_text(data, charset), str)

    run()
    record("byte pages fuzzed", n)


def test_text_decoded_as_utf7_or_escapes_is_still_text():
    """Charsets that decode to lone surrogates (which are not text) must not crash extraction."""
    for charset, body in [("utf-7", b"Hello +2AA- world."), ("unicode_escape", b"Hi \\ud800."),
                          ("raw_unicode_escape", b"Hi \\udfff.")]:
        page = b"<meta charset='" + charset.encode() + b"'><p>" + body + b"</p>"
        text = extract.html_to_text(page)
        text.encode("utf-8")  # real text: no lone surrogates left
        assert text.startswith("H")
    assert quality.is_english_text("The tide is out \ud800 today.") in (True, False)
    extract.html_to_text("<p>A lone \udc80 surrogate.</p>").encode("utf-8")


# A unit repeated 50k times: long runs of what each regex (and the pre-parse scan) looks at.
ADVERSARIAL_UNITS = ["1", ".", "-", "@", "1.", "1-", "a@", "a.", "a-", "555 ", "(555) ",
                     "1.1.1.", "123-45-", "+1", "a'", "...", "#", "\u2022 ", "x" * 99 + " ",
                     "<", "<!--", "<script ", "<style>", "<svg>", "<head>", "<div>", "</div>",
                     "<a b='", "&#", "<meta charset=", "\n", " ", "\r\n\t"]


@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS, ids=repr)
def test_long_adversarial_strings_take_bounded_time(unit, langid_loaded, record):
    text = unit * 50_000
    slowest = max(timed(fn, text) for fn in TEXT_STAGES.values())
    assert slowest < SLOW_S, f"{unit!r} x 50k took {slowest:.1f} s"
    emails = "x@" + "a-" * 25_000 + "b.com"  # a 50k-character domain label: bounded, not masked
    assert timed(quality.replace_pii, emails) < SLOW_S
    record("adversarial 50k-repeat strings", 1)


def _digits(n: int):
    return st.text("0123456789", min_size=n, max_size=n)


@st.composite
def phones(draw) -> str:
    """Each US format the masker promises: +1 5551234567, (555) 123-4567, 555-123-4567, ..."""
    a, e, n = draw(_digits(3)), draw(_digits(3)), draw(_digits(4))
    s = draw(st.sampled_from(" .-"))
    return draw(st.sampled_from([
        f"+1 {a}{e}{n}", f"+1{a}{e}{n}", f"{a}{s}{e}{s}{n}", f"1{s}{a}{s}{e}{s}{n}",
        f"+1{s}{a}{s}{e}{s}{n}", f"({a}) {e}{s}{n}", f"({a}){e}-{n}", f"1 ({a}) {e}-{n}",
        f"+1 ({a}) {e}{s}{n}", f"+1({a}) {e}-{n}",
    ]))


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
emails = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,30}", fullmatch=True),
    st.lists(_LABEL, min_size=1, max_size=3), st.from_regex(r"[a-z]{2,6}", fullmatch=True))
ssns = st.builds(lambda a, b, c: f"{a}-{b}-{c}", _digits(3), _digits(2), _digits(4))
ipv4s = st.lists(st.integers(0, 255), min_size=4, max_size=4).map(
    lambda xs: ".".join(map(str, xs)))
pii = st.one_of(emails, phones(), ssns, ipv4s)


def test_generated_pii_in_random_text_is_always_masked(record):
    n = 0

    @FUZZ
    @given(st.text(max_size=60), st.sampled_from([" ", " (", ' "', ": ", " <"]), pii,
           st.sampled_from([" ", ". ", ", ", ") ", '" ', "> ", "; ", "? "]), st.text(max_size=60))
    def run(left, before, secret, after, right):
        nonlocal n
        n += 1
        masked = quality.replace_pii(left + before + secret + after + right)
        assert secret not in masked
        assert any(m in masked for m in (quality.EMAIL_MASK, quality.PHONE_MASK,
                                         quality.SSN_MASK, quality.IP_MASK))

    run()
    record("generated PII strings masked", n)


# ----------------------------------------------------------------------------- hostile WARCs
GOOD = sorted(ARTICLES)  # distinct real articles: each passes every stage and must be kept
MAX_PAGE = 64 * 1024  # a small --max_page_bytes, so a "giant" page is cheap to build


def _member(url: str, http: bytes) -> bytes:
    """One WARC response record as its own gzip member (Common Crawl's layout)."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    fixed = {"WARC-Date": "2024-05-01T12:00:00Z",  # fixed bytes: the same file on every run
             "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>"}
    w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(http),
                                        length=len(http), warc_headers_dict=fixed))
    return buf.getvalue()


def _page(name: str) -> bytes:
    return http_response(article_html(name).encode("utf-8"), "text/html; charset=utf-8")


def _hostile(kind: str, rng: random.Random) -> bytes:
    """A damaged or unwanted member; each is one counted skip (see EXPECTED_SKIP)."""
    if kind == "garbage_gzip":  # a gzip member whose content is not a WARC record
        return gzip.compress(rng.randbytes(rng.randrange(1, 3000)), mtime=0)
    if kind == "truncated":  # a real record whose gzip member stops part-way
        whole = _member("http://cut/", _page(rng.choice(GOOD)))
        return whole[: rng.randrange(20, len(whole) - 10)]
    if kind == "giant":
        return _member("http://giant/", http_response(b"<p>Big page, big words.</p>" * 5000,
                                                        "text/html"))
    if kind == "http_500":
        return _member("http://err/", http_response(b"oops", "text/html", status="500 Oops"))
    if kind == "png":
        return _member("http://img/", http_response(rng.randbytes(500), "image/png"))
    if kind == "binary_html":
        return _member("http://bin/", http_response(rng.randbytes(4000), "text/html"))
    raise ValueError(kind)


EXPECTED_SKIP = {"garbage_gzip": "broken", "truncated": "broken", "giant": "too_large",
                 "http_500": "http_status", "png": "non_html", "binary_html": "undecodable"}


def _run_warc(path, data: bytes) -> tuple[dict, list[str]]:
    path.write_bytes(data)
    out = path.with_suffix(".txt")
    stats = pp.run_pipeline(fname=str(path), output=str(out), dfname=None, progress=False,
                            max_page_bytes=MAX_PAGE)
    return stats, out.read_text(encoding="utf-8").splitlines()


def _first_sentence(name: str) -> str:
    return ARTICLES[name][1][0].split(". ")[0]


def test_hostile_warc_members_are_counted_and_every_good_record_kept(tmp_path, record):
    """Garbage gzip members, truncated members (mid-file and last), giant pages, errors."""
    good = {n: _member(f"http://good/{n}", _page(n)) for n in GOOD}
    skipped = kept = 0

    @FUZZ
    @given(st.lists(st.tuples(st.sampled_from(sorted(EXPECTED_SKIP)), st.integers(1, len(GOOD)),
                              st.integers(0, 2**32)), max_size=8))
    def run(inserts):
        nonlocal skipped, kept
        parts = [good[n] for n in GOOD]  # the first record is readable, as in any real file
        for kind, at, seed in sorted(inserts, key=lambda x: -x[1]):
            parts.insert(at, _hostile(kind, random.Random(seed)))
        stats, docs = _run_warc(tmp_path / "hostile.warc.gz", b"".join(parts))
        assert len(docs) == stats["deduplicated"] == len(GOOD)  # nothing good is lost
        for name in GOOD:
            assert any(_first_sentence(name) in d for d in docs), name
        for skip in set(EXPECTED_SKIP.values()):
            want = sum(EXPECTED_SKIP[k] == skip for k, _, _ in inserts)
            # Random bytes can parse as a bogus record before failing: a damaged member counts
            # once or more, never zero times.
            assert stats[skip] == want if skip != "broken" else stats[skip] >= want, skip
        assert stats["records_read"] == stats["html"] + sum(stats[k] for k in pp.SKIP_KINDS)
        skipped += stats["records_read"] - stats["html"]
        kept += len(docs)

    run()
    record("WARC records skipped (counted)", skipped)
    record("WARC good records kept", kept)


def test_uncompressed_warc_with_garbage_between_records(tmp_path, record):
    rng = random.Random(SEED)
    records = []
    for name in GOOD[:4]:
        buf = io.BytesIO()
        w = WARCWriter(buf, gzip=False)
        http = _page(name)
        w.write_record(w.create_warc_record(f"http://plain/{name}", "response",
                                            payload=io.BytesIO(http), length=len(http)))
        records.append(buf.getvalue())
    garbage = [b"\r\n".join(rng.randbytes(rng.randrange(5, 200)) for _ in range(3)) + b"\r\n\r\n",
               b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 99999999\r\n\r\nshort"]
    data = records[0] + garbage[0] + records[1] + records[2] + garbage[1] + records[3]
    stats, docs = _run_warc(tmp_path / "plain.warc", data)
    assert len(docs) == 4 and stats["broken"] == 2, {k: v for k, v in stats.items() if v}
    record("WARC records skipped (counted)", 2)
    record("WARC good records kept", 4)
