"""hwlib.preprocess on bundled and hand-made inputs (no network, no ../shared)."""

import gzip
import importlib.util
import io
import subprocess
import sys

import numpy as np
import pytest
from warcio.warcwriter import WARCWriter

from hwlib import dedup as D
from hwlib import extract as X
from hwlib import preprocess as pp
from hwlib import quality as q
from hwlib import warc as W
from hwlib.dedup import DuplicateIndex, lsh_bands, normalize_text
from hwlib.sample_data import article_html, http_response, sample_records, topic_texts
from hwlib.utils import DATA_DIR, REPO_ROOT

WARC = DATA_DIR / "sample.warc.gz"
ENGLISH = " ".join(p for p in __import__("hwlib.sample_pages").sample_pages.ARTICLES["tides"][1])
RULES = q.QualityRules(bad_word_list=frozenset({"damn", "crap", "holy moly"}))


def make_warc(path, pages, gz=True):
    """A WARC of (url, raw HTTP response bytes) response records."""
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=gz)
        for url, raw in pages:
            w.write_record(
                w.create_warc_record(url, "response", payload=io.BytesIO(raw), length=len(raw))
            )
    return path


def html_page(doc: str) -> bytes:
    return http_response(doc.encode("utf-8"), "text/html; charset=utf-8")


# --- PII -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "phone",
    [
        "+1 5551234567",
        "+15551234567",
        "(555) 123-4567",
        "555-123-4567",
        "555.123.4567",
        "555 123 4567",
        "1-555-123-4567",
        "+1 (555) 123-4567",
    ],
)
def test_phone_formats_masked(phone):
    assert q.replace_pii(f"Call {phone} today.") == f"Call {q.PHONE_MASK} today."


@pytest.mark.parametrize(
    "text,mask",
    [
        ("mail jane.doe+news@mail.example.co.uk now", q.EMAIL_MASK),
        ("SSN 078-05-1120 here", q.SSN_MASK),
        ("server 192.168.0.254 up", q.IP_MASK),
        ("at 8.8.8.8.", q.IP_MASK),
    ],
)
def test_other_pii_masked(text, mask):
    out = q.replace_pii(text)
    assert mask in out and out.count("|||") == 2


@pytest.mark.parametrize(
    "text",
    [
        "In 1999 and 2024 prices rose.",
        "It costs $1,250,000 or $4.99.",
        "Due 2024-06-15 or 06/15/2024.",
        "Open 9:30-17:00, at 10:30.",
        "Version 3.2.1 and v2.10.4 shipped.",
        "ZIP 97477 or 97477-1234.",
        "Room 12, floor 3, 555 seats, 1234 votes.",
        "Call 555-1234.",
        "Order 5551234567 shipped.",
        "IP 256.1.2.3 is invalid.",
        "ISBN 978-3-16-148410-0.",
        "user@localhost is local.",
    ],
)
def test_no_false_positives(text):
    assert q.replace_pii(text) == text


def test_replace_pii_count():
    text, n = q.replace_pii_count("a@b.org and 555-123-4567 and 10.0.0.1")
    assert n == 3 and "@" not in text


# --- cleaning and quality ----------------------------------------------------------------------
def test_clean_text():
    junk = "x" * 101
    text = "Good line, kept.\nno punctuation here\n  spaced   out  line.  \n" + junk + " end.\n\n"
    assert q.clean_text(text) == "Good line, kept.\nspaced out line."
    assert q.clean_text("y" * 99 + ".") == "y" * 99 + "."  # a run of exactly 100 is allowed
    assert q.clean_text("") == ""


def failing(text, rules=RULES):
    return q.failed_rules(text, rules)


def test_quality_passes_real_article():
    assert failing(ENGLISH) == []
    assert q.heuristic_quality_filter(ENGLISH, RULES)


@pytest.mark.parametrize(
    "extra,rule",
    [
        (" What a damn shame.", "bad_words"),
        (" DAMN.", "bad_words"),
        (" Holy   moly, look.", "bad_words"),
    ],
)
def test_bad_words_whole_word_case_insensitive(extra, rule):
    assert failing(ENGLISH + extra) == [rule]


def test_bad_words_not_inside_other_words():
    assert failing(ENGLISH + " A damnation of crappy scrapers.") == []
    assert failing(ENGLISH + " damn", q.QualityRules()) == []  # empty list: nothing is bad


def test_each_rule_fails_on_its_own_case():
    assert "punctuation" in failing("no punctuation at all in this text " * 20)
    assert failing("   \n\t ")[:2] == ["punctuation", "whitespace"]
    assert "char_ratio" in failing(ENGLISH + " \u2603\u2603" * 200)
    assert "word_count" in failing("The cat and the dog sat with me.")
    assert "mean_word_length" in failing(ENGLISH.replace(" ", " a b c d e f g h i j "))
    assert "symbol_ratio" in failing(ENGLISH + " #tag" * 30)
    bullets = "\n".join(f"\u2022 The item {i} and the thing with it, good." for i in range(12))
    assert failing(bullets) == ["bullet_lines"]
    dots = "\n".join(f"The story {i} of the man with a dog and more to say..." for i in range(9))
    assert "ellipsis_lines" in failing(dots)
    assert "alpha_words" in failing(ENGLISH + " 12 34 56 78 90 11 22 33 44" * 10)
    assert failing(
        ENGLISH.replace("the ", "la ")
        .replace("and ", "y ")
        .replace("to ", "a ")
        .replace("of ", "de ")
        .replace("The ", "La ")
        .replace("that ", "que ")
        .replace("with ", "con ")
    ) == ["stop_words"]


def test_rule_switches_and_report():
    text = "The cat and the dog sat with me."
    assert not q.heuristic_quality_filter(text, RULES)
    assert q.heuristic_quality_filter(text, RULES.without(["word_count"]))
    report = q.quality_report(text, RULES.without(["word_count"]))
    assert set(report) == set(q.RULE_NAMES)
    assert report["word_count"] == {
        "value": 8,
        "threshold": (50, 100_000),
        "passed": False,
        "enabled": False,
    }
    assert report["stop_words"]["value"] == 3 and report["stop_words"]["passed"]
    with pytest.raises(ValueError, match="unknown quality rule"):
        RULES.without(["nope"])


def test_default_bad_word_list_is_bundled():
    assert "damn" in q.load_bad_words()
    assert not q.heuristic_quality_filter(ENGLISH + " Damn!")


# --- language --------------------------------------------------------------------------------
def test_is_english_text():
    assert q.is_english_text(ENGLISH)
    assert q.is_english_text("The cat sat on the mat.")
    assert not q.is_english_text("Der Hund schläft im Garten und die Katze auch.")
    assert not q.is_english_text("Le chat dort dans le jardin avec le chien.")
    assert not q.is_english_text("")
    assert not q.is_english_text("12345 67 890")
    french = "Le boulanger arrive tôt pour préparer la pâte et allumer le four. " * 30
    assert not q.is_english_text("The bakery in English. " + french)  # mostly French
    assert q.is_english_text(ENGLISH * 3 + " Bonjour et merci.")  # mostly English


def test_english_probability_matches_langid_rank():
    ident = q._identifier()
    for text in [ENGLISH[:500], "Le chat dort dans le jardin.", "Hello world", ""]:
        assert q.english_probability(text) == pytest.approx(dict(ident.rank(text))["en"], abs=1e-9)


# --- decoding and extraction -------------------------------------------------------------------
def test_decode_html_charsets():
    assert X.decode_html("caf\u00e9".encode("cp1252"), "utf-8") == "caf\u00e9"  # mislabelled
    assert X.decode_html("caf\u00e9".encode("cp1252"), "iso-8859-1") == "caf\u00e9"
    ru = '<meta charset="windows-1251"><p>Чай</p>'.encode("cp1251")
    assert "Чай" in X.decode_html(ru)
    zh = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">茶'.encode("gb2312")
    assert X.decode_html(zh).endswith("茶")
    assert X.decode_html(b"\xef\xbb\xbfhi", "latin-1") == "hi"
    assert X.decode_html("naïve".encode(), "no-such-codec") == "naïve"


def test_extraction_keeps_article_drops_menus():
    raw = dict(sample_records())["https://news.example.com/local/community-garden"]
    text = X.html_to_text(raw.split(b"\r\n\r\n", 1)[1])
    assert text.startswith("Neighbours Turn an Empty Lot into a Community Garden\n")
    assert "raised beds from recycled timber." in text and len(text.splitlines()) == 4
    for chrome in (
        "cookies",
        "Accept all",
        "Home",
        "Sport",
        "Most read",
        "Privacy policy",
        "Share on social",
        "Subscribe",
        "Copyright",
        "Riverside Daily",
        "analytics",
    ):
        assert chrome not in text, chrome


def test_extraction_blocks_lines_and_whitespace():
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body><!-- c -->"
        "<script>var x;</script><div>one\n   two<br>three</div><p>four <b>five</b></p>"
        "<table><tr><td>a</td><td>b</td></tr></table><noscript>ns</noscript>"
        "<template>tp</template><div hidden>h</div><span>six</span></body></html>"
    )
    assert X.html_to_text(html) == "one two\nthree\nfour five\na b\nsix"
    assert X.html_to_text(b"") == "" and X.html_to_text("plain words") == "plain words"


def test_extraction_deeply_nested():
    html = "<html><body>" + "<div>" * 20000 + "deep text." + "</div>" * 20000 + "</body></html>"
    assert X.html_to_text(html) == "deep text."


def test_unknown_extractor():
    with pytest.raises(ValueError, match="unknown extractor"):
        X.html_to_text("<p>x</p>", extractor="nope")


@pytest.mark.skipif(
    importlib.util.find_spec("resiliparse") is None,
    reason="resiliparse not installed (pip install hwlib[fast])",
)
def test_resiliparse_agrees_on_bundled_pages():
    for url, html in W.read_warc(WARC):
        ours = q.clean_text(X.html_to_text(html))
        theirs = q.clean_text(X.html_to_text(html, extractor="resiliparse"))
        a, b = set(normalize_text(ours).split()), set(normalize_text(theirs).split())
        if a or b:
            assert len(a & b) / len(a | b) >= 0.8, url
    s1 = pp.run_pipeline(fname=str(WARC), output=None, dfname=None, progress=False)
    s2 = pp.run_pipeline(
        fname=str(WARC), output=None, dfname=None, progress=False, extractor="resiliparse"
    )
    assert s1["deduplicated"] == s2["deduplicated"]


# --- reading ---------------------------------------------------------------------------------
def test_read_warc_bundled():
    pages = list(W.read_warc(WARC))
    urls = [u for u, _ in pages]
    assert len(pages) == 22 and all(isinstance(h, bytes) for _, h in pages)
    assert "https://www.example.org/robots.txt" not in urls
    assert "https://www.example.org/logo.png" not in urls
    assert len(list(W.read_warc(WARC, num_records=5))) == 4  # robots.txt counts as read


def test_read_wet(tmp_path):
    path = tmp_path / "x.warc.wet.gz"
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for url, text in [("http://a/", "First doc.\nLine two."), ("http://b/", "Zweites.")]:
            data = text.encode()
            w.write_record(
                w.create_warc_record(
                    url,
                    "conversion",
                    payload=io.BytesIO(data),
                    length=len(data),
                    warc_content_type="text/plain",
                )
            )
    assert list(W.read_wet(path)) == [
        ("http://a/", "First doc.\nLine two."),
        ("http://b/", "Zweites."),
    ]
    stats = pp.run_pipeline(fname=str(path), wet=True, output=None, progress=False)
    assert stats["records_read"] == 2 and stats["html"] == 2 and stats["cleaned"] == 2


# --- dedup -----------------------------------------------------------------------------------
def test_exact_duplicates_after_normalisation():
    texts = ["Hello, World!", "hello   world", "HELLO WORLD.", "Goodbye world"]
    assert D.deduplicate_texts(texts) == ["Hello, World!", "Goodbye world"]


def test_near_duplicates_and_order():
    words = ENGLISH.split()
    near = " ".join(words[:40] + ["changed"] + words[41:])
    other = "A completely different text about sourdough bread and its crust. " * 3
    assert D.deduplicate_texts([ENGLISH, other, near]) == [ENGLISH, other]
    assert D.deduplicate_texts([near, ENGLISH]) == [near]  # the first occurrence wins
    assert D.deduplicate_texts([ENGLISH, near], threshold=1.0) == [ENGLISH, near]
    assert D.deduplicate_texts([]) == []


def test_topic_dataset_planted_duplicates_found():
    texts = pp.load_topic_dataset(DATA_DIR / "topic_dataset.json")
    gen, planted = topic_texts()
    assert texts == gen
    assert D.deduplicate_texts(texts) == [t for i, t in enumerate(texts) if i not in planted]


def test_minhash_signature_properties():
    sig = D.minhash_signature(ENGLISH)
    assert sig.shape == (128,) and sig.dtype == np.uint32
    assert np.array_equal(sig, D.minhash_signature(ENGLISH.upper()))
    other = D.minhash_signature("Totally unrelated words here, nothing shared.")
    assert (sig == other).mean() < 0.1
    for t in (0.5, 0.8, 0.9):  # the most rows per band whose recall at t stays >= 99%
        bands, rows = lsh_bands(t)
        assert bands * rows <= 128 and 1 - (1 - t**rows) ** bands >= 0.99
        assert 1 - (1 - t ** (rows + 1)) ** (128 // (rows + 1)) < 0.99


def test_duplicate_index_verdicts():
    index = DuplicateIndex()
    assert index.add(ENGLISH) == "new"
    assert index.add(ENGLISH.lower()) == "exact"
    assert index.add(ENGLISH + " One more sentence.") == "near"
    with pytest.raises(ValueError):
        DuplicateIndex(threshold=0)


def test_deduplicate_lines():
    docs = [
        "Menu, home.\nFirst body line.\nFooter (c).",
        "Menu, home.\nSecond body.\nFooter (c).",
        "Only  body.",
    ]
    assert D.deduplicate_lines(docs) == [
        "Menu, home.\nFirst body line.\nFooter (c).",
        "Second body.",
        "Only  body.",
    ]
    assert D.deduplicate_lines(docs, keep_first=False) == [
        "First body line.",
        "Second body.",
        "Only  body.",
    ]
    assert normalize_text("A  b, C!") == "a b c"


# --- the pipeline ----------------------------------------------------------------------------
EXPECTED_FUNNEL = {
    "records_read": 26,
    "non_html": 2,
    "http_status": 1,
    "too_large": 0,
    "broken": 1,
    "undecodable": 0,
    "html": 22,
    "extracted": 21,
    "cleaned": 21,
    "quality": 14,
    "english": 13,
    "deduplicated": 10,
    "exact_duplicates": 2,
    "near_duplicates": 1,
    "pii_documents": 1,
    "pii_masks": 10,
    "quality_failures": {
        "bad_words": 1,
        "bullet_lines": 1,
        "mean_word_length": 1,
        "stop_words": 5,
        "word_count": 2,
    },
}


@pytest.fixture(scope="module")
def bundled_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out.txt"
    stats = pp.run_pipeline(fname=str(WARC), output=str(out), progress=False)
    return stats, out.read_text(encoding="utf-8")


def test_funnel_on_bundled_warc(bundled_run):
    stats, text = bundled_run
    assert {k: stats[k] for k in EXPECTED_FUNNEL} == EXPECTED_FUNNEL
    assert stats["examples"]["english"] == ["https://es.example.org/mar"]
    assert stats["examples"]["broken"] == ["https://broken.example.com/garbage"]
    docs = text.splitlines()
    assert len(docs) == 10 and all(d.strip() for d in docs)
    assert any(q.EMAIL_MASK in d and q.SSN_MASK in d for d in docs)
    assert sum("honeybee colony" in d for d in docs) == 1  # the copies were removed
    assert not any("Riverside Daily" in d or "Accept all" in d for d in docs)
    assert "records read" in pp.format_funnel(stats)


def test_workers_give_identical_output(bundled_run, tmp_path):
    stats, text = bundled_run
    out = tmp_path / "w2.txt"
    stats2 = pp.run_pipeline(
        fname=str(WARC), output=str(out), workers=2, chunksize=2, progress=False
    )
    assert out.read_text(encoding="utf-8") == text and stats2 == stats


def test_pipeline_options(tmp_path):
    s = pp.run_pipeline(fname=str(WARC), output=None, num_records=5, progress=False)
    assert s["records_read"] == 5 and s["deduplicated"] == 4
    s = pp.run_pipeline(
        fname=str(WARC), output=None, progress=False, skip_rules=("bad_words", "bullet_lines")
    )
    assert s["quality"] == 16 and s["deduplicated"] == 12
    words = tmp_path / "words.txt"
    words.write_text("honey\n", encoding="utf-8")
    s = pp.run_pipeline(fname=str(WARC), output=None, progress=False, bad_words=str(words))
    assert s["quality_failures"]["bad_words"] == 3 and s["quality"] == 12  # the three copies


def test_pipeline_line_dedup(tmp_path):
    note = "<p>This story first appeared in the Riverside Daily, and is shared with thanks.</p>"
    pages = [
        (f"http://a/{k}", html_page(article_html(k).replace("</article>", note)))
        for k in ("tides", "bicycle")
    ]
    path = make_warc(tmp_path / "l.warc.gz", pages)
    out = tmp_path / "out.txt"
    pp.run_pipeline(fname=str(path), output=str(out), progress=False, dedup_lines=True)
    first, second = out.read_text().splitlines()
    assert "Riverside Daily" in first and "Riverside Daily" not in second
    pp.run_pipeline(fname=str(path), output=str(out), progress=False)
    assert all("Riverside Daily" in d for d in out.read_text().splitlines())


# --- bad input -------------------------------------------------------------------------------
def test_truncated_warc_keeps_what_was_read(tmp_path, capsys):
    raw = WARC.read_bytes()
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(raw[: len(raw) * 2 // 3])
    out = tmp_path / "out.txt"
    stats = pp.run_pipeline(fname=str(path), output=str(out), progress=False)
    assert stats["broken"] >= 1 and 0 < stats["records_read"] < 26
    assert len(out.read_text().splitlines()) == stats["deduplicated"] > 0
    assert "cut.warc.gz: record " in capsys.readouterr().err


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "empty file"),
        (b"this is just some text\nnot a warc\n", "not a WARC"),
        (bytes(range(256)) * 4, "not a readable WARC"),
        (gzip.compress(b"plain text\n"), "WARC"),
    ],
)
def test_not_a_warc_is_one_line_error(tmp_path, content, match):
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(content)
    with pytest.raises(W.WarcError, match=match) as err:
        pp.run_pipeline(fname=str(path), output=None, progress=False)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.warc.gz"):
        list(W.read_warc(tmp_path / "nope.warc.gz"))


def test_hostile_records_are_counted_skips(tmp_path):
    good = html_page(article_html("tides"))
    huge = html_page("<p>The same words again, and again.</p>" * (21 * 2**20 // 38))
    binary = http_response(bytes(range(256)) * 40, "text/html")
    deep = html_page("<div>" * 5000 + article_html("bicycle") + "</div>" * 5000)
    path = make_warc(
        tmp_path / "h.warc.gz",
        [
            ("http://a/huge", huge),
            ("http://a/bin", binary),
            ("http://a/deep", deep),
            ("http://a/ok", good),
        ],
    )
    out = tmp_path / "out.txt"
    stats = pp.run_pipeline(fname=str(path), output=str(out), progress=False)
    assert stats["too_large"] == 1 and stats["undecodable"] == 1
    assert stats["deduplicated"] == 2 and len(out.read_text().splitlines()) == 2
    plain = make_warc(tmp_path / "p.warc", [("http://a/ok", good)], gz=False)
    assert pp.run_pipeline(fname=str(plain), output=None, progress=False)["deduplicated"] == 1


def test_worker_exception_is_counted_not_raised():
    opts = pp.StageOptions(RULES)
    assert pp.process_record(("html", "u", object(), None), opts)[0] == "broken"
    assert pp.process_record(("non_html", "u", None, None), opts) == ("non_html", "u", None,
                                                                      False)


# --- CLI -------------------------------------------------------------------------------------
def test_cli(tmp_path):
    out = tmp_path / "cleaned.txt"
    cmd = [
        sys.executable,
        "-m",
        "hwlib.preprocess",
        "--fname",
        str(WARC),
        "--output",
        str(out),
        "--dfname",
        str(DATA_DIR / "topic_dataset.json"),
        "--num_records",
        "26",
        "--workers",
        "1",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "10 passed out of 26 records processed."
    assert lines[-1] == "35 deduplicated out of 43 records processed."  # the course's line
    assert len(out.read_text().splitlines()) == 10
    bad = subprocess.run(
        [sys.executable, "-m", "hwlib.preprocess", "--fname", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0
    assert str(out) in bad.stderr and "not a WARC" in bad.stderr


# --- the course's rules (issue 13) -------------------------------------------------------------
def _word_set_dedup(texts, threshold=0.5):
    """The course's rule written the slow, obvious way: every pair, exact word-set Jaccard."""
    kept, sets = [], []
    for t in texts:
        words = set(normalize_text(t).split())
        if all(len(words & s) < threshold * len(words | s) for s in sets):
            kept.append(t)
            sets.append(words)
    return kept


def test_course_dedup_rule_matches_the_pairwise_rule():
    from hwlib.sample_data import SHORT_TOPICS

    texts, _ = topic_texts()
    for data in (SHORT_TOPICS, texts, SHORT_TOPICS + texts):
        assert D.deduplicate_texts(data, rules="course") == _word_set_dedup(data)
    # Paraphrases at Jaccard 0.5-0.8: the course's rule drops them, the kit's shingles do not.
    assert len(D.deduplicate_texts(SHORT_TOPICS, rules="course")) == 8
    assert D.deduplicate_texts(SHORT_TOPICS) == SHORT_TOPICS
    with pytest.raises(ValueError, match="unknown dedup rules"):
        D.deduplicate_texts(texts, rules="nope")


def test_course_quality_preset_runs_the_four_rules_only():
    rules = q.QualityRules.preset("course", frozenset({"damn"}))
    on = [n for n in q.RULE_NAMES if getattr(rules, n)]
    assert on == ["bad_words", "punctuation", "whitespace", "char_ratio"]
    short = "A short line, still fine."  # fails the Gopher word count, passes the course's four
    assert q.heuristic_quality_filter(short, rules) and not q.heuristic_quality_filter(short)
    assert not q.heuristic_quality_filter("Oh damn, it broke.", rules)
    s = pp.run_pipeline(fname=str(WARC), output=None, progress=False, rules="course")
    assert s["quality_failures"].keys() <= {"bad_words", "punctuation", "whitespace",
                                            "char_ratio"}
    with pytest.raises(ValueError, match="unknown rules preset"):
        pp.run_pipeline(fname=str(WARC), output=None, rules="gopher")


def test_cli_course_defaults_and_skipping_a_stage(tmp_path):
    assert pp.PipelineConfig().num_records == 30  # the course's default
    pages = [(f"http://a/{i}", html_page(article_html("tides"))) for i in range(33)]
    path = make_warc(tmp_path / "many.warc.gz", pages)
    out = tmp_path / "o.txt"
    res = subprocess.run([sys.executable, "-m", "hwlib.preprocess", "--fname", str(path),
                          "--output", str(out), "--dfname", ""],
                         capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "1 passed out of 30 records processed."
    assert "deduplicated out of" not in res.stdout  # an empty --dfname skips the topic stage
    res = subprocess.run([sys.executable, "-m", "hwlib.preprocess", "--fname", "", "--dfname",
                          str(DATA_DIR / "topic_dataset.json")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["35 deduplicated out of 43 records processed."]
    assert not (tmp_path / "cleaned_test.txt").exists()  # an empty --fname skips the WARC


# --- one import path per name (issue 14) -----------------------------------------------------
def test_preprocess_does_not_re_export_other_modules_names():
    for name in ("html_to_text", "decode_html", "clean_text", "replace_pii", "failed_rules",
                 "deduplicate_texts", "minhash_signature", "DuplicateIndex", "QualityRules",
                 "read_warc", "WarcError"):
        assert not hasattr(pp, name), name


# --- the learner's functions in the real pipeline (issue 15) ---------------------------------
def test_learner_stages_run_in_place_of_the_kits(tmp_path):
    ref = pp.run_pipeline(fname=str(WARC), output=None, progress=False)
    same = {"html_to_text": X.html_to_text, "clean_text": q.clean_text,
            "replace_pii": q.replace_pii, "is_english_text": q.is_english_text}
    mine = pp.run_pipeline(fname=str(WARC), output=None, progress=False, stages=same)
    assert {k: mine[k] for k in pp.STAGES} == {k: ref[k] for k in pp.STAGES}
    assert mine["pii_masks"] == ref["pii_masks"] and mine["pages"] == ref["pages"]

    seen = []

    def course_style(html: bytes) -> str:  # the course's html_to_text is handed the bytes
        seen.append(type(html))
        return X.html_to_text(html)

    pp.run_pipeline(fname=str(WARC), output=None, progress=False,
                    stages={"html_to_text": course_style})
    assert seen and set(seen) == {bytes}
    wrong = pp.run_pipeline(fname=str(WARC), output=None, progress=False,
                            stages={"is_english_text": lambda text: "the" in text.split()})
    assert wrong["english"] != ref["english"]
    report = pp.compare_funnels(wrong, ref)
    assert "pages where the outcomes differ: 1\n" in report
    assert "es.example.org/mar: yours kept, kit english" in report
    assert "pages where the outcomes differ: 0" in pp.compare_funnels(mine, ref)

    out = tmp_path / "o.txt"
    only_first = pp.run_pipeline(fname=str(WARC), output=str(out), progress=False,
                                 stages={"deduplicate_texts": lambda texts: texts[:1]})
    assert only_first["deduplicated"] == 1 and len(out.read_text().splitlines()) == 1
    assert [o for _, o in only_first["pages"]].count("duplicate") == ref["english"] - 1
    with pytest.raises(ValueError, match="unknown stage function"):
        pp.run_pipeline(fname=str(WARC), output=None, stages={"tokenize": len})


def test_learner_stages_that_cannot_reach_workers_fall_back_to_one(capsys):
    ref = pp.run_pipeline(fname=str(WARC), output=None, progress=False)
    s = pp.run_pipeline(fname=str(WARC), output=None, progress=False, workers=2,
                        stages={"clean_text": lambda text: q.clean_text(text)})
    assert "running with 1 worker" in capsys.readouterr().err and s["pages"] == ref["pages"]


def test_impl_loads_the_course_functions_from_a_file(tmp_path):
    hw = tmp_path / "homework.py"
    hw.write_text("import helper\n\ndef clean_text(text):\n    return helper.drop(text)\n",
                  encoding="utf-8")
    (tmp_path / "helper.py").write_text("def drop(text):\n    return ''\n", encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "hwlib.preprocess", "--fname", str(WARC),
                          "--output", str(tmp_path / "o.txt"), "--dfname", "", "--workers", "2",
                          "--impl", str(hw)],
                         capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == (f"{hw}: using your clean_text; the kit's html_to_text, replace_pii, "
                        "heuristic_quality_filter, is_english_text, deduplicate_texts")
    assert lines[1] == "0 passed out of 26 records processed."  # every page emptied
    assert "running with 1 worker" not in res.stderr  # a file's functions reach the workers
    bad = tmp_path / "broken.py"
    bad.write_text("import no_such_module\n", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        pp.main(["--fname", str(WARC), "--output", "", "--impl", str(bad)])
    assert "broken.py: cannot import it: ModuleNotFoundError" in str(e.value)
