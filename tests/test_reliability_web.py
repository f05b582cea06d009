"""Hostile and careless inputs to the web-data stages (issue 12: items 1, 2, 9-12, 14, 21).

Kept apart from tests/test_reliability.py so the web stages' cases merge on their own; their
figures go to the same reliability summary (tests/conftest.py).
"""

import gzip
import io
import json
import random
import re

import pytest
from warcio.warcwriter import WARCWriter

from hwlib import dedup, extract, quality, scale, warc
from hwlib import preprocess as pp
from hwlib.sample_data import article_html, http_response
from hwlib.utils import DATA_DIR

WARC = DATA_DIR / "sample.warc.gz"


@pytest.fixture
def record(record_property):
    """Report a figure in the end-of-run reliability summary (see tests/conftest.py)."""
    return lambda name, value: record_property(f"reliability: {name}", value)


def _members() -> list[bytes]:
    raw = WARC.read_bytes()
    starts = [m.start() for m in re.finditer(rb"\x1f\x8b\x08", raw)] + [len(raw)]
    return [raw[s:e] for s, e in zip(starts, starts[1:])]


def _with_length(member: bytes, length: bytes) -> bytes:
    data = re.sub(rb"Content-Length: \d+", b"Content-Length: " + length, gzip.decompress(member),
                  count=1)
    return gzip.compress(data, mtime=0)


# --- item 1: the output never destroys the input, and is written whole or not at all ----------
def test_output_that_is_the_input_is_refused(tmp_path, record):
    src = tmp_path / "in.warc.gz"
    src.write_bytes(WARC.read_bytes())
    (tmp_path / "sub").mkdir()
    for spelling in (src, tmp_path / "sub" / ".." / "in.warc.gz"):
        with pytest.raises(ValueError, match="is the --fname file") as e:
            pp.run_pipeline(fname=str(src), output=str(spelling), progress=False)
        assert "\n" not in str(e.value)
    assert src.read_bytes() == WARC.read_bytes()
    with pytest.raises(SystemExit) as e:
        pp.main(["--fname", str(src), "--output", str(src), "--dfname", ""])
    assert "is the --fname file" in str(e.value) and src.read_bytes() == WARC.read_bytes()
    record("outputs that would overwrite their input refused", 3)


def test_a_crash_mid_run_leaves_the_previous_output_whole(tmp_path, record):
    out = tmp_path / "clean.txt"
    pp.run_pipeline(fname=str(WARC), output=str(out), dfname=None, progress=False)
    good = out.read_text(encoding="utf-8")
    calls = []

    def crashes(text: str) -> str:  # Ctrl-C on the fifth page
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return quality.clean_text(text)

    with pytest.raises(KeyboardInterrupt):
        pp.run_pipeline(fname=str(WARC), output=str(out), progress=False,
                        stages={"clean_text": crashes})
    assert out.read_text(encoding="utf-8") == good  # not truncated, not half written
    assert [p.name for p in tmp_path.iterdir()] == ["clean.txt"]  # no temp file left behind
    # A second run writing the same output replaces it whole (last writer wins).
    pp.run_pipeline(fname=str(WARC), output=str(out), num_records=5, progress=False)
    assert out.read_text(encoding="utf-8") == "".join(good.splitlines(True)[:4])
    record("interrupted runs that kept the previous output whole", 1)


# --- item 2: resync always moves forward; the count of records stays true --------------------
def test_negative_content_length_is_one_broken_record(tmp_path, record):
    members = _members()
    resp = [i for i, m in enumerate(members) if b"WARC-Type: response" in gzip.decompress(m)]
    k = resp[3]
    for length in (b"-1", b"-500", b"-99999999", b"99999999999"):
        path = tmp_path / "neg.warc.gz"
        path.write_bytes(b"".join(members[:k] + [_with_length(members[k], length)]
                                  + members[k + 1:]))
        got = list(warc.iter_records(path))
        assert len(got) == 26 and [g[0] for g in got].count("broken") == 2, length  # + garbage
    # The whole file as one gzip stream: warcio's offset goes negative; no seek error, no loop.
    plain = b"".join(gzip.decompress(m) for m in members[:k])
    plain += gzip.decompress(_with_length(members[k], b"-500"))
    single = tmp_path / "single.warc.gz"
    single.write_bytes(gzip.compress(plain, mtime=0))
    got = list(warc.iter_records(single, 100))
    assert 1 <= len(got) <= 100 and got[-1][0] == "broken"
    record("impossible Content-Length values read without a hang", 5)


def test_num_records_counts_broken_records_too(tmp_path, record):
    members, rng = _members(), random.Random(0)
    junk = [gzip.compress(rng.randbytes(300), mtime=0) for _ in range(6)]
    path = tmp_path / "junk.warc.gz"
    path.write_bytes(b"".join(members[:3] + junk + members[3:]))
    assert len(list(warc.iter_records(path, 5))) == 5
    stats = pp.run_pipeline(fname=str(path), output=None, num_records=8, progress=False)
    assert stats["records_read"] == 8
    record("record counts that stayed true around garbage", 2)


# --- item 9: byte-order marks, mislabelled charsets, and a count of what still needed U+FFFD ----
def test_boms_and_mislabelled_cp1252_decode(record):
    page = "<p>Caf\u00e9s serve na\u00efve tourists; it\u2019s fine.</p>"
    for codec in ("utf-16-le", "utf-16-be"):
        bom = "\ufeff".encode(codec)
        text = extract.html_to_text(extract.decode_html(bom + page.encode(codec), "utf-8"))
        assert text == "Caf\u00e9s serve na\u00efve tourists; it\u2019s fine."
    assert extract.decode_bytes(page.encode("cp1252"), "utf-8") == (page, False)
    assert extract.decode_bytes(b"caf\xe9 \x81\x8d", "utf-8")[1] is True  # nothing decodes it
    record("pages decoded despite a BOM or a wrong charset", 3)


def test_funnel_counts_pages_that_needed_replacement_characters(tmp_path):
    broken = article_html("tides").encode("utf-8").replace(b"Twice", b"Tw\x81\x8dice")
    ok = article_html("bicycle").encode("utf-8")
    path = tmp_path / "r.warc.gz"
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for url, body in (("http://a/r", broken), ("http://a/ok", ok)):
            raw = http_response(body, "text/html; charset=utf-8")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(raw),
                                                length=len(raw)))
    stats = pp.run_pipeline(fname=str(path), output=None, progress=False)
    assert stats["replaced_chars"] == 1 and "U+FFFD): 1" in pp.format_funnel(stats)
    bundled = pp.run_pipeline(fname=str(WARC), output=None, progress=False)
    assert bundled["replaced_chars"] == 0  # its cp1252 page under a UTF-8 header decodes


# --- items 10-12: PII, num_perm, line dedup --------------------------------------------------
def test_phone_with_a_hyphen_after_the_parenthesis(record):
    assert quality.replace_pii("Call (283)-182-3829 now.") == f"Call {quality.PHONE_MASK} now."
    assert quality.replace_pii("Order 2831823829 shipped.") == "Order 2831823829 shipped."
    record("phone formats masked", 1)


@pytest.mark.parametrize("num_perm", [1, 7, 129, 256, 500])
def test_any_positive_num_perm(num_perm):
    texts = ["the quick brown fox jumps over the lazy dog"] * 2 + ["a different text entirely"]
    assert dedup.minhash_signature(texts[0], num_perm=num_perm).shape == (num_perm,)
    assert dedup.deduplicate_texts(texts, num_perm=num_perm) == [texts[0], texts[2]]
    if num_perm >= 128:  # the first 128 hashes are the default signature's
        base = dedup.minhash_signature(texts[0])
        assert (dedup.minhash_signature(texts[0], num_perm=num_perm)[:128] == base).all()


def test_num_perm_not_positive_is_a_clear_error():
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="num_perm must be a positive integer"):
            dedup.minhash_signature("some words", num_perm=bad)


def test_deduplicate_lines_keeps_kept_lines_byte_for_byte(record):
    docs = ["def f():\n    return  1\nshared line\n", "shared   line\n\tindented\tcode\n", "x"]
    assert dedup.deduplicate_lines(docs) == ["def f():\n    return  1\nshared line\n",
                                             "\tindented\tcode\n", "x"]
    assert dedup.deduplicate_lines(docs, keep_first=False) == [
        "def f():\n    return  1\n", "\tindented\tcode\n", "x"]
    assert dedup.deduplicate_lines(["a\nb", "b\nc\r\n"]) == ["a\nb", "c\r\n"]
    record("line-dedup documents kept byte for byte", 3)


# --- item 14: arguments and the topic dataset are checked before the WARC is read -------------
@pytest.mark.parametrize("content,match", [
    (None, "file not found"),
    ("{not json", "not a topic dataset"),
    ('{"items": []}', "not a topic dataset"),
    ('{"data": [{"text": "fine"}, {"text": 7}]}', "item 1's text is a int"),
    ('{"data": [{"text": "fine"}, ["no"]]}', "not a topic dataset"),
])
def test_bad_topic_dataset_fails_before_the_warc_is_read(tmp_path, monkeypatch, content, match):
    path = tmp_path / "topics.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setattr(pp, "iter_records", lambda *a, **k: pytest.fail("read the WARC first"))
    with pytest.raises(SystemExit) as e:
        pp.main(["--fname", str(WARC), "--output", str(tmp_path / "o.txt"), "--dfname", str(path)])
    assert match in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "o.txt").exists()


@pytest.mark.parametrize("n", ["0", "-1"])
def test_num_records_below_one_is_refused(tmp_path, monkeypatch, n, record):
    monkeypatch.setattr(pp, "iter_records", lambda *a, **k: pytest.fail("read the WARC first"))
    with pytest.raises(SystemExit) as e:
        pp.main(["--fname", str(WARC), "--output", str(tmp_path / "o.txt"), "--num_records", n])
    assert f"--num_records {n}: need at least 1 record" in str(e.value)
    assert not (tmp_path / "o.txt").exists()
    record("bad preprocess arguments refused before reading", 1)


# --- item 21: the scale funnel reads datatrove's stats files whatever their counter shape -----
def test_collect_funnel_sums_int_and_dict_counters(tmp_path, record):
    """datatrove writes a counter as a bare number when it holds one value; 0.10.1's own loader
    then fails summing them ('int' object has no attribute 'total')."""
    (tmp_path / scale.RUN_FILE).write_text(json.dumps({"dedup": False, "tasks": 2}))
    steps = {"hwlib WARC records": {"records_read": 3, "html": 2, "non_html": 1},
             **{f"hwlib: {s}": {"forwarded": 2} for s in pp.PAGE_STAGES}}
    steps["hwlib: english"].update(pii_masks={"total": 5, "n": 2, "mean": 2.5}, pii_documents=1)
    stats = tmp_path / "logs" / "clean" / "stats"
    stats.mkdir(parents=True)
    for rank in range(2):
        (stats / f"{rank:05d}.json").write_text(json.dumps([
            {"name": name, "time_stats": {"total": 0.1}, "stats": counters}
            for name, counters in steps.items()]))
    funnel = scale.collect_funnel(tmp_path)
    assert funnel["records_read"] == 6 and funnel["html"] == 4 and funnel["non_html"] == 2
    assert funnel["english"] == funnel["deduplicated"] == 4 and funnel["pii_masks"] == 10
    record("datatrove stats shapes summed", 2)
