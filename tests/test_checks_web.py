"""hwlib.checks_web: the six web-data checkers accept correct answers written differently (the
kit's own stages among them) and name each wrong answer they claim to name."""

import html as htmllib
import re
import string
import subprocess
import sys

import pytest
from bs4 import BeautifulSoup

from hwlib.checks import (
    ExerciseNotDone,
    check_clean_text,
    check_deduplicate_texts,
    check_heuristic_quality_filter,
    check_html_to_text,
    check_is_english_text,
    check_replace_pii,
)
from hwlib.dedup import deduplicate_texts
from hwlib.extract import html_to_text
from hwlib.quality import clean_text, heuristic_quality_filter, is_english_text, replace_pii


def rejected(checker, fn, diagnosis):
    with pytest.raises(AssertionError) as err:
        checker(fn)
    msg = str(err.value)
    assert diagnosis in msg and "\n" not in msg, msg


# --- html_to_text ------------------------------------------------------------------------------
def soup_text(html, *, drop=("script", "style"), separator="\n"):
    if isinstance(html, bytes):
        html = html.decode("utf-8")
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(list(drop)):
        tag.decompose()
    return soup.get_text(separator=separator, strip=True)


def regex_text(html, drop=("script", "style")):
    """A regex extractor: drop elements, strip tags, decode entities, one block per line."""
    html = html.decode("utf-8") if isinstance(html, bytes) else html
    for tag in drop:
        html = re.sub(rf"<{tag}[^>]*>.*?</{tag}>", "", html, flags=re.S)
    text = htmllib.unescape(re.sub(r"<[^>]+>", "\n", re.sub(r"</?b>", "", html)))
    return "\n".join(" ".join(x.split()) for x in text.split("\n") if x.strip())


def test_html_to_text_correct_answers_pass():
    assert check_html_to_text(html_to_text) is True
    assert check_html_to_text(soup_text) is True
    assert check_html_to_text(regex_text) is True


@pytest.mark.parametrize(
    "wrong, diagnosis",
    [
        (lambda h: regex_text(h, drop=("style",)), "<script> element is kept"),
        (lambda h: regex_text(h, drop=("script",)), "<style> element is kept"),
        (lambda h: re.sub(r"<(script|style)[^>]*>.*?</\1>", "", h if isinstance(h, str)
                          else h.decode(), flags=re.S), "tags are left in"),
        (lambda h: BeautifulSoup(h, "html.parser").get_text(), "run together"),
        (lambda h: htmllib.escape(soup_text(h), quote=False), "entities are not decoded"),
        (lambda h: soup_text(h.decode("latin-1") if isinstance(h, bytes) else h),
         "not decoded as UTF-8"),
        (lambda h: soup_text(h) if isinstance(h, str) else h, "decode bytes to str first"),
    ],
)
def test_html_to_text_mistakes_named(wrong, diagnosis):
    rejected(check_html_to_text, wrong, diagnosis)


# --- replace_pii -------------------------------------------------------------------------------
MASKS = {"email": "|||EMAIL_ADDRESS|||", "phone": "|||PHONE_NUMBER|||", "ssn": "|||SSN|||",
         "ip": "|||IP_ADDRESS|||"}
SIMPLE = {
    "email": r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b",
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "phone": r"(?:\(\d{3}\)\s?|\b\d{3}[-.\s])\d{3}[-.\s]\d{4}\b",
    "ip": r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
}


def simple_pii(text, skip=(), patterns=SIMPLE):
    """Another reasonable answer: four plain regexes, applied in order."""
    for kind, pattern in patterns.items():
        if kind not in skip:
            text = re.sub(pattern, MASKS[kind], text)
    return text


def test_replace_pii_correct_answers_pass():
    assert check_replace_pii(replace_pii) is True
    assert check_replace_pii(simple_pii) is True


@pytest.mark.parametrize("kind, name", [("email", "e-mail"), ("phone", "phone number"),
                                        ("ssn", "US SSN"), ("ip", "IPv4 address")])
def test_each_missed_pii_kind_named(kind, name):
    rejected(check_replace_pii, lambda t: simple_pii(t, skip=(kind,)), f"{name} not masked")


@pytest.mark.parametrize("pattern, example", [
    (r"\b\d{4}\b", "In 2024"), (r"\$[\d,.]+", "$1,250.00"), (r"#?\b\d{7}\b", "#4521983"),
    (r"\b\d+(?:\.\d+){2,3}\b", "3.2.1"),
])
def test_over_masking_named(pattern, example):
    patterns = {**SIMPLE, "ip": SIMPLE["ip"] + "|" + pattern}
    rejected(check_replace_pii, lambda t: simple_pii(t, patterns=patterns), "over-masking")


def test_wrong_mask_token_named():
    rejected(check_replace_pii, lambda t: replace_pii(t).replace("|||SSN|||", "[SSN]"),
             "must become '|||SSN|||'")
    phone_first = {"phone": SIMPLE["phone"] + "|" + SIMPLE["ssn"], **SIMPLE}
    phone_first["phone"] = SIMPLE["phone"] + "|" + SIMPLE["ssn"]
    rejected(check_replace_pii, lambda t: simple_pii(t, patterns=phone_first),
             "each US SSN must become '|||SSN|||' (got '|||PHONE_NUMBER|||')")


# --- clean_text --------------------------------------------------------------------------------
PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


def clean(text, *, collapse=True, punct=True, limit=100, cmp=lambda n, lim: n > lim,
          join="\n", reverse=False):
    """Another correct answer, with one mistake switched on at a time."""
    lines = []
    for line in text.split("\n"):
        if collapse:
            line = " ".join(line.split())
        if not line.strip():
            continue
        if punct and not PUNCT.search(line):
            continue
        if limit and any(cmp(len(tok), limit) for tok in line.split()):
            continue
        lines.append(line)
    return join.join(reversed(lines) if reverse else lines)


def test_clean_text_correct_answers_pass():
    assert check_clean_text(clean_text) is True
    assert check_clean_text(clean) is True


@pytest.mark.parametrize("mistake, diagnosis", [
    ({"collapse": False}, "whitespace not normalised"),
    ({"punct": False}, "without any punctuation"),
    ({"limit": 0}, "run of 101 non-space characters is kept"),
    ({"cmp": lambda n, lim: n >= lim}, "off by one"),
    ({"join": " "}, "lines merged"),
    ({"reverse": True}, "reordered"),
])
def test_clean_text_mistakes_named(mistake, diagnosis):
    rejected(check_clean_text, lambda t: clean(t, **mistake), diagnosis)


# --- heuristic_quality_filter ------------------------------------------------------------------
BAD = {"bloody", "crap", "damn"}


def quality(text, *, bad=True, whole=True, punct=True, space=True, ratio=0.8, strict=False,
            invert=False):
    """The course's four rules, with one mistake switched on at a time."""
    words = re.findall(r"\w+", text.lower())
    ok = True
    if bad:
        ok &= not (BAD & set(words) if whole else any(b in text.lower() for b in BAD))
    if punct:
        ok &= (sum(c in string.punctuation for c in text) > 1) if strict else \
            any(c in string.punctuation for c in text)
    if space:
        ok &= bool(text.strip())
    if ratio:
        good = sum(c.isalnum() or c.isspace() or c in string.punctuation for c in text)
        share = good / len(text) if text else 0.0
        ok &= share > ratio if strict else share >= ratio
    return (not ok) if invert else ok


def test_quality_filter_correct_answers_pass():
    assert check_heuristic_quality_filter(heuristic_quality_filter) is True
    assert check_heuristic_quality_filter(quality) is True


@pytest.mark.parametrize("mistake, diagnosis", [
    ({"bad": False}, "bad-word rule is missing"),
    ({"whole": False}, "matched inside another word"),
    ({"punct": False}, "punctuation rule is missing"),
    ({"space": False, "punct": False}, "punctuation rule is missing"),
    ({"ratio": 0}, "character-ratio rule is missing"),
    ({"ratio": 0.7}, "threshold is too low"),
    ({"strict": True}, "off by one"),
    ({"invert": True}, "every answer is inverted"),
])
def test_quality_filter_mistakes_named(mistake, diagnosis):
    rejected(check_heuristic_quality_filter, lambda t: quality(t, **mistake), diagnosis)


def test_quality_filter_whitespace_and_accept_all_named():
    def no_space(t):
        return quality(t, space=False) if t.strip() or t == "" else True

    rejected(check_heuristic_quality_filter, no_space, "only whitespace passes")
    rejected(check_heuristic_quality_filter, lambda t: True, "every page passes")
    rejected(check_heuristic_quality_filter, lambda t: 1, "not bool")


# --- is_english_text ---------------------------------------------------------------------------
def test_is_english_correct_answers_pass():
    assert check_is_english_text(is_english_text) is True
    assert check_is_english_text(lambda t: is_english_text(t, threshold=0.9)) is True


def test_is_english_mistakes_named():
    rejected(check_is_english_text, lambda t: True, "every text is called English")
    rejected(check_is_english_text, lambda t: False, "English text is rejected")
    rejected(check_is_english_text, lambda t: all(ord(c) < 0x250 for c in t),
             "Latin letters are not English")
    rejected(check_is_english_text, lambda t: t.isascii() or "Bücher" in t,
             "German is called English")
    rejected(check_is_english_text, lambda t: "en", "not bool")


# --- deduplicate_texts -------------------------------------------------------------------------
def jaccard_dedup(texts, threshold=0.5, exact_only=False, keep="first", order=True):
    """The course's rule (word-set Jaccard), with one mistake switched on at a time."""
    sets = [set(t.lower().split()) for t in texts]
    kept = []
    for i, s in enumerate(sets):
        def same(j):
            return texts[i] == texts[j] if exact_only else len(s & sets[j]) / len(s | sets[j]) \
                >= threshold
        if keep == "none":
            if not any(same(j) for j in range(len(texts)) if j != i):
                kept.append(i)
        elif keep == "last":
            if not any(same(j) for j in range(i + 1, len(texts))):
                kept.append(i)
        elif not any(same(j) for j in kept):
            kept.append(i)
    out = [texts[i] for i in kept]
    return out if order else out[::-1]


def test_dedup_correct_answers_pass():
    assert check_deduplicate_texts(deduplicate_texts) is True
    assert check_deduplicate_texts(jaccard_dedup) is True


@pytest.mark.parametrize("mistake, diagnosis", [
    ({"exact_only": True}, "only exact duplicates are removed"),
    ({"keep": "none"}, "both dropped"),
    ({"keep": "last"}, "later near copy is kept"),
    ({"order": False}, "order not kept"),
    ({"threshold": 0.0}, "distinct texts are dropped"),
])
def test_dedup_mistakes_named(mistake, diagnosis):
    rejected(check_deduplicate_texts, lambda t: jaccard_dedup(t, **mistake), diagnosis)


def test_dedup_exact_duplicates_and_normalised_texts_named():
    rejected(check_deduplicate_texts, lambda t: list(t), "exact duplicates are kept")
    rejected(check_deduplicate_texts, lambda t: [x.lower() for x in jaccard_dedup(t)],
             "return the original texts unchanged")


def test_unfinished_web_exercise_is_not_done():
    def replace_pii(text):
        raise NotImplementedError

    with pytest.raises(ExerciseNotDone, match="replace_pii is not written yet"):
        check_replace_pii(replace_pii)
    with pytest.raises(AssertionError, match=r"your function raised\): KeyError"):
        check_clean_text(lambda t: {}["x"])


def test_web_checkers_do_not_import_torch():
    code = "import sys, hwlib.checks_web; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
