"""Text-level stages of hwlib.preprocess: PII masking, line cleaning, quality rules, language ID.

    from hwlib.quality import replace_pii, clean_text, heuristic_quality_filter, quality_report

The quality rules are the course's (bad words, punctuation, not only whitespace, character
ratio) plus the Gopher rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1). Every
threshold is a named constant and every rule has an on/off switch in QualityRules.
`QualityRules.preset("course")` runs the course's four rules only; the kit's default adds the
Gopher rules, which also drop menus, link lists and very short pages the four rules let through.
All regexes are compiled once, with bounded quantifiers so no input can make them backtrack for
long.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwlib.utils import DATA_DIR, require_file

# --- PII -------------------------------------------------------------------------------------
EMAIL_MASK = "|||EMAIL_ADDRESS|||"
PHONE_MASK = "|||PHONE_NUMBER|||"
SSN_MASK = "|||SSN|||"
IP_MASK = "|||IP_ADDRESS|||"

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)"
    r"{1,8}[A-Za-z]{2,24}(?![\w-])"
)
# US numbers: +1 5551234567, +15551234567, (555) 123-4567, 555-123-4567, 555.123.4567,
# 555 123 4567, (555)-123-4567, optionally led by +1/1. The separators inside one number must
# agree, so "2024-06-15", "3.2.1" and "$1,250,000" never look like phone numbers; a bare run of
# ten digits is left alone on purpose (order and account numbers look the same).
_PHONE = re.compile(
    r"(?<![\w+$.,-])(?:"
    r"\+1 ?\d{10}"
    r"|(?:\+?1[ .-]?)?\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|(?:\+?1([ .-]))?\d{3}([ .-])\d{3}\2\d{4}"
    r")(?![\w-]|[.,]\d)"
)
_SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_PII = ((_EMAIL, EMAIL_MASK), (_SSN, SSN_MASK), (_PHONE, PHONE_MASK), (_IPV4, IP_MASK))


def replace_pii_count(text: str) -> tuple[str, int]:
    """replace_pii, also returning how many spans were masked."""
    total = 0
    for pattern, mask in _PII:
        if pattern is _EMAIL and "@" not in text:
            continue
        text, n = pattern.subn(mask, text)
        total += n
    return text, total


def replace_pii(text: str) -> str:
    """Mask e-mail addresses, US phone numbers, US SSNs and IPv4 addresses with *_MASK."""
    return replace_pii_count(text)[0]


# --- line cleaning ---------------------------------------------------------------------------
MAX_RUN_CHARS = 100  # a line with a longer run of non-space characters is junk (base64, URLs)
# ASCII punctuation plus the common Unicode ranges (quotes, dashes, ellipsis, CJK, full-width).
_PUNCT_CLASS = (
    r"!-/:-@\[-`{-~\u00a1-\u00bf\u00d7\u00f7\u2010-\u2027\u2030-\u205e"
    r"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
)
_PUNCT = re.compile(f"[{_PUNCT_CLASS}]")
_LONG_RUN = re.compile(rf"\S{{{MAX_RUN_CHARS + 1}}}")


def clean_text(text: str) -> str:
    """Drop junk lines (a run of >100 non-space characters, or no punctuation at all), collapse
    whitespace inside lines, and keep the remaining lines in order."""
    kept = []
    for line in text.splitlines():
        line = " ".join(line.split())
        if line and _PUNCT.search(line) and not _LONG_RUN.search(line):
            kept.append(line)
    return "\n".join(kept)


# --- quality rules ---------------------------------------------------------------------------
MIN_CHAR_RATIO = 0.8  # share of characters that are alphanumeric, punctuation or whitespace
MIN_WORDS, MAX_WORDS = 50, 100_000  # Gopher word-count range
MIN_MEAN_WORD_LEN, MAX_MEAN_WORD_LEN = 3.0, 10.0
MAX_SYMBOL_RATIO = 0.1  # ('#' + ellipses) per word
MAX_BULLET_LINES = 0.9  # share of lines starting with a bullet
MAX_ELLIPSIS_LINES = 0.3  # share of lines ending with an ellipsis
MIN_ALPHA_WORDS = 0.8  # share of words with at least one letter
MIN_STOP_WORDS = 2  # distinct Gopher stop words that must appear
STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with"))
BULLETS = (
    "\u2022",
    "\u2023",
    "\u25e6",
    "\u2043",
    "\u25cf",
    "\u25aa",
    "\u25cb",
    "\u00b7",
    "- ",
    "* ",
    "\u2013 ",
)

_ALLOWED_RUN = re.compile(rf"[\w\s{_PUNCT_CLASS}]+")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+){0,3}")
_HAS_ALPHA = re.compile(r"[^\W\d_]")
_STRIP = (
    "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()) + "\u2018\u2019\u201c\u201d"
)


@dataclass(frozen=True)
class QualityRules:
    """Which rules run (one switch each) and the bad-word list; thresholds are module constants.

    `QualityRules(stop_words=False)` switches the stop-word rule off.
    """

    bad_word_list: frozenset = frozenset()  # lower-case words or phrases, matched whole
    bad_words: bool = True
    punctuation: bool = True
    whitespace: bool = True
    char_ratio: bool = True
    word_count: bool = True
    mean_word_length: bool = True
    symbol_ratio: bool = True
    bullet_lines: bool = True
    ellipsis_lines: bool = True
    alpha_words: bool = True
    stop_words: bool = True

    def without(self, names) -> QualityRules:
        """A copy with the named rules switched off (ValueError for an unknown name)."""
        unknown = set(names) - set(RULE_NAMES)
        if unknown:
            raise ValueError(f"unknown quality rule(s) {sorted(unknown)}; rules: {RULE_NAMES}")
        return dataclasses.replace(self, **dict.fromkeys(names, False))

    @classmethod
    def preset(cls, name: str = "kit", bad_word_list: frozenset | None = None) -> QualityRules:
        """"kit" (every rule) or "course" (the course's four: bad words, punctuation, not only
        whitespace, character ratio); the bad-word list defaults to data/bad_word_list.txt."""
        if name not in RULE_PRESETS:
            raise ValueError(f"unknown rules preset {name!r}; use one of {sorted(RULE_PRESETS)}")
        words = load_bad_words() if bad_word_list is None else bad_word_list
        return cls(bad_word_list=words).without(set(RULE_NAMES) - set(RULE_PRESETS[name]))


RULE_NAMES = tuple(f.name for f in dataclasses.fields(QualityRules))[1:]
RULE_PRESETS = {"kit": RULE_NAMES, "course": RULE_NAMES[:4]}  # bad words .. character ratio


@functools.lru_cache(maxsize=8)
def load_bad_words(path: str | Path | None = None) -> frozenset:
    """Lower-case words/phrases from a one-per-line file (default data/bad_word_list.txt)."""
    path = require_file(path or DATA_DIR / "bad_word_list.txt")
    words = (w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))


@functools.lru_cache(maxsize=8)
def _phrase_regex(phrases: frozenset):
    """One regex for the multi-word entries (single words use a set lookup)."""
    if not phrases:
        return None
    alts = "|".join(r"\s+".join(map(re.escape, p.split())) for p in sorted(phrases))
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)")


def _default_rules() -> QualityRules:
    return QualityRules(bad_word_list=load_bad_words())


def _measure(text: str, rules: QualityRules) -> dict[str, tuple]:
    """rule -> (measured value, threshold, passed)."""
    lower = text.lower()
    tokens = text.split()
    n_words = len(tokens)
    words = [t.strip(_STRIP) for t in tokens]
    words = [w for w in words if w]
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    n_lines = max(len(lines), 1)
    single = {w for w in rules.bad_word_list if " " not in w}
    found = [w for w in _WORD.findall(lower) if w in single] if single else []
    phrases = _phrase_regex(frozenset(w for w in rules.bad_word_list if " " in w))
    if phrases is not None:
        found += phrases.findall(lower)
    allowed = sum(len(m) for m in _ALLOWED_RUN.findall(text))
    mean_len = sum(map(len, words)) / len(words) if words else 0.0
    symbols = text.count("#") + text.count("...") + text.count("\u2026")
    bullets = sum(x.startswith(BULLETS) for x in lines)
    ellipses = sum(x.endswith(("...", "\u2026")) for x in lines)
    alpha = sum(1 for w in words if _HAS_ALPHA.search(w))
    stops = len(STOP_WORDS.intersection(w.lower() for w in words))
    char_ratio = allowed / len(text) if text else 0.0
    return {
        "bad_words": (len(found), 0, not found),
        "punctuation": (len(_PUNCT.findall(text[:100_000])), 1, _PUNCT.search(text) is not None),
        "whitespace": (len(text) - sum(map(len, text.split())), "not all", bool(tokens)),
        "char_ratio": (round(char_ratio, 4), MIN_CHAR_RATIO, char_ratio >= MIN_CHAR_RATIO),
        "word_count": (n_words, (MIN_WORDS, MAX_WORDS), MIN_WORDS <= n_words <= MAX_WORDS),
        "mean_word_length": (
            round(mean_len, 3),
            (MIN_MEAN_WORD_LEN, MAX_MEAN_WORD_LEN),
            MIN_MEAN_WORD_LEN <= mean_len <= MAX_MEAN_WORD_LEN,
        ),
        "symbol_ratio": (
            round(symbols / max(n_words, 1), 4),
            MAX_SYMBOL_RATIO,
            symbols <= MAX_SYMBOL_RATIO * max(n_words, 1),
        ),
        "bullet_lines": (
            round(bullets / n_lines, 4),
            MAX_BULLET_LINES,
            bullets <= MAX_BULLET_LINES * n_lines,
        ),
        "ellipsis_lines": (
            round(ellipses / n_lines, 4),
            MAX_ELLIPSIS_LINES,
            ellipses <= MAX_ELLIPSIS_LINES * n_lines,
        ),
        "alpha_words": (
            round(alpha / max(len(words), 1), 4),
            MIN_ALPHA_WORDS,
            bool(words) and alpha >= MIN_ALPHA_WORDS * len(words),
        ),
        "stop_words": (stops, MIN_STOP_WORDS, stops >= MIN_STOP_WORDS),
    }


def quality_report(text: str, rules: QualityRules | None = None) -> dict[str, dict]:
    """Each rule's measured value, threshold, whether it is enabled and whether it passed."""
    rules = rules or _default_rules()
    return {
        name: {"value": v, "threshold": t, "passed": ok, "enabled": getattr(rules, name)}
        for name, (v, t, ok) in _measure(text, rules).items()
    }


def failed_rules(text: str, rules: QualityRules | None = None) -> list[str]:
    """Names of the enabled rules that `text` fails (empty list: it passes)."""
    rules = rules or _default_rules()
    return [n for n, (_, _, ok) in _measure(text, rules).items() if not ok and getattr(rules, n)]


def heuristic_quality_filter(text: str, rules: QualityRules | None = None) -> bool:
    """True when `text` passes every enabled course and Gopher rule."""
    return not failed_rules(text, rules)


# --- language ID -----------------------------------------------------------------------------
ENGLISH_THRESHOLD = 0.5  # minimum langid probability of English (normalised over 97 languages)
LANGID_WINDOW = 700  # characters per window; three windows cover start, middle and end
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone surrogates: not text, cannot be encoded


@functools.lru_cache(maxsize=1)
def _identifier():
    """langid's model, loaded once per process on first use (it takes ~1 s)."""
    from langid.langid import LanguageIdentifier, model

    return LanguageIdentifier.from_modelstring(model, norm_probs=True)


def _p_english(ident, text: str) -> float:
    """langid's normalised P(en), computed on the non-zero features only.

    Same numbers as `ident.rank(text)`, ~10x faster: langid multiplies a dense uint32 count
    vector into a float64 matrix (no BLAS for mixed types) and then sorts all 97 languages.
    """
    fv = ident.instance2fv(text)
    nz = np.flatnonzero(fv)
    log_p = ident.nb_pc + fv[nz].astype(np.float64) @ ident.nb_ptc[nz]
    with np.errstate(over="ignore"):  # exp -> inf simply means P(en) -> 0
        return float(1.0 / np.exp(log_p - log_p[list(ident.nb_classes).index("en")]).sum())


def english_probability(text: str) -> float:
    """langid's normalised probability that `text` is English.

    Long texts are scored on three equal windows (start, middle, end) averaged, so a page
    that switches language part-way is judged on its bulk and not only its first lines.
    """
    text = _SURROGATE.sub("\ufffd", " ".join(text.split()))  # langid encodes to UTF-8
    w, ident = LANGID_WINDOW, _identifier()
    if len(text) <= 3 * w:
        return _p_english(ident, text)
    mid = len(text) // 2
    windows = [text[:w], text[mid - w // 2 : mid + w // 2], text[-w:]]
    return sum(_p_english(ident, x) for x in windows) / 3


def is_english_text(text: str, threshold: float = ENGLISH_THRESHOLD) -> bool:
    """True when langid gives English at least `threshold` (empty text: prior 0.17, so False)."""
    return english_probability(text) >= threshold
