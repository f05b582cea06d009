"""Checkers for the web-data exercises of notebook 01 (the course's homework.py functions).

    from hwlib.checks import check_replace_pii
    check_replace_pii(replace_pii)    # True, or AssertionError naming the likely bug and input

Every case is a short kit-written page or text whose right answer follows from the documented
rule, so a correct answer written differently (another regex, another parser) passes; the
checkers never print a reference output. No torch here: web stages stay torch-free.
"""

from __future__ import annotations

import re

from hwlib.quality import EMAIL_MASK, IP_MASK, PHONE_MASK, SSN_MASK


class ExerciseNotDone(NotImplementedError):
    """An exercise still holding its TODO; shown in a notebook as one line, not a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for a custom error display
        return [f"{type(self).__name__}: {self}"]


def short(value, limit: int = 60) -> str:
    """repr of a case, cut to `limit` characters, for a one-line failure message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_learner(fn, checker: str, where: str, *args, **kwargs):
    """Run the learner's fn; an unfinished exercise says so, any other crash names the input."""
    try:
        return fn(*args, **kwargs)
    except ExerciseNotDone:
        raise
    except NotImplementedError as e:
        name = getattr(fn, "__qualname__", "the exercise")
        raise ExerciseNotDone(f"{name} is not written yet ({e or 'TODO'})") from None
    except Exception as e:
        raise AssertionError(f"{checker} failed {where}: {type(e).__name__}: {e}") from None


def call(fn, checker: str, *args):
    """run_learner for the web checkers, whose cases are named by their (short) input."""
    where = f"on {short(args[0] if args else '')} (your function raised)"
    return run_learner(fn, checker, where, *args)


def _fail(checker: str, case, diagnosis: str) -> None:
    raise AssertionError(f"{checker} failed on {short(case)}: {diagnosis}")


def _want_str(checker: str, case, out) -> str:
    if not isinstance(out, str):
        _fail(checker, case, f"returned {type(out).__name__}, not str")
    return out


# --- html_to_text ----------------------------------------------------------------------------
_PAGE = (
    "<html><head><title>Garden notes</title><style>p {{ color: #c0ffee }}</style>"
    "<script>var trackingId = 'UA-31337';</script></head><body>{body}</body></html>"
)


def check_html_to_text(fn) -> bool:
    """html_to_text(html: bytes | str) -> str: visible text only, entities decoded, bytes read."""
    name = "check_html_to_text"
    page = _PAGE.format(body="<p>Tomatoes need <b>full</b> sun.</p><p>Water them daily.</p>")
    out = _want_str(name, page, call(fn, name, page))
    if "trackingId" in out or "UA-31337" in out:
        _fail(name, page, "the text of a <script> element is kept; drop script and style contents")
    if "c0ffee" in out:
        _fail(name, page, "the text of a <style> element is kept; drop script and style contents")
    if re.search(r"</?\s*[a-zA-Z][^>]*>", out):
        _fail(name, page, "tags are left in the text; return only the text between the tags")
    if "Tomatoes need full sun." not in " ".join(out.split()) or "Water them daily" not in out:
        _fail(name, page, "visible text of the body is missing")
    if "sun.Water" in out:
        _fail(name, page, "two paragraphs run together ('sun.Water'); separate blocks by a newline "
              "(e.g. get_text(separator='\\n'))")
    page = _PAGE.format(body="<p>Salt &amp; pepper &lt;3 &quot;fresh&quot; caf&eacute;</p>")
    out = _want_str(name, page, call(fn, name, page))
    if "&amp;" in out or "&lt;" in out or "&eacute;" in out or "Salt & pepper <3" not in out:
        _fail(name, page, "HTML entities are not decoded (&amp; must become &, &lt; <)")
    page = _PAGE.format(body="<p>Crème brûlée for the café.</p>").encode("utf-8")
    out = call(fn, name, page)
    if not isinstance(out, str):
        _fail(name, page, f"bytes input returned {type(out).__name__}; decode bytes to str first")
    if "Crème brûlée for the café." not in out:
        _fail(name, page, "bytes are not decoded as UTF-8 (accented letters are garbled)")
    print(f"{name}: passed (scripts/styles, tags, entities, paragraphs, bytes)")
    return True


# --- replace_pii -----------------------------------------------------------------------------
# (text, the PII it holds, mask) per kind; the rest of each text must come back unchanged.
_PII_CASES = [
    ("Write to jane.doe@example.com for details.", ["jane.doe@example.com"], EMAIL_MASK, "e-mail"),
    ("Call (555) 123-4567 or 555-987-6543 today.", ["(555) 123-4567", "555-987-6543"],
     PHONE_MASK, "phone number"),
    ("Her SSN 123-45-6789 was leaked.", ["123-45-6789"], SSN_MASK, "US SSN"),
    ("The server at 192.168.1.20 is down.", ["192.168.1.20"], IP_MASK, "IPv4 address"),
]
# Ordinary numbers: years, prices, order numbers, dates, versions. None may be masked.
_NOT_PII = [
    "In 2024 the shop sold 1500 chairs.",
    "It cost $1,250.00, or $19.99 a month.",
    "Order #4521983 shipped on 2024-06-15.",
    "Update to version 3.2.1 and read page 12.",
]


def check_replace_pii(fn) -> bool:
    """replace_pii(text) -> str: each e-mail, US phone, SSN and IPv4 becomes the course's mask."""
    name = "check_replace_pii"
    for text, spans, mask, kind in _PII_CASES:
        out = _want_str(name, text, call(fn, name, text))
        left = [s for s in spans if s in out or s.strip("()").split()[-1] in out]
        if left:
            _fail(name, text, f"{kind} not masked ({left[0]!r} is still in the text)")
        if out.count(mask) != len(spans):
            other = [m for m in (EMAIL_MASK, PHONE_MASK, SSN_MASK, IP_MASK) if m in out]
            got = f"got {other[0]!r}" if other else f"got {short(out)}"
            _fail(name, text, f"each {kind} must become {mask!r} ({got})")
        expected = text
        for s in spans:
            expected = expected.replace(s, mask)
        if " ".join(out.replace("(", "").split()) != " ".join(expected.replace("(", "").split()):
            _fail(name, text, f"text around the {kind} changed: {short(out)}")
    for text in _NOT_PII:
        out = _want_str(name, text, call(fn, name, text))
        if out != text:
            _fail(name, text, f"over-masking: ordinary numbers (years, prices, order numbers, "
                  f"dates, versions) must stay; got {short(out)}")
    print(f"{name}: passed ({len(_PII_CASES)} kinds of PII, {len(_NOT_PII)} ordinary texts)")
    return True


# --- clean_text ------------------------------------------------------------------------------
MAX_RUN = 100  # the kit's rule: a line with a longer run of non-space characters is junk


def check_clean_text(fn) -> bool:
    """clean_text(text) -> str: collapse whitespace in lines, drop empty lines, lines without
    punctuation and lines with a run of more than 100 non-space characters; keep line order."""
    name = "check_clean_text"
    text = "  The  cat\tsat on the mat.  \n\n   \nIt purred, then slept.\n"
    out = _want_str(name, text, call(fn, name, text))
    if "\n" not in out.strip() and "mat." in out and "It purred" in out:
        _fail(name, text, "lines merged into one; keep one line per line of the input")
    lines = out.split("\n")
    if any(line != " ".join(line.split()) for line in lines) or "" in lines:
        _fail(name, text, "whitespace not normalised: collapse runs of spaces/tabs inside a line, "
              "strip each line and drop empty lines")
    if lines != ["The cat sat on the mat.", "It purred, then slept."]:
        _fail(name, text, f"lines lost or reordered; got {short(out)}")
    text = "Home About Contact\nThe garden opens at nine.\nShop Blog Login"
    out = _want_str(name, text, call(fn, name, text))
    if "Home About" in out or "Shop Blog" in out:
        _fail(name, text, "a line without any punctuation (a menu) is kept; drop it")
    if out != "The garden opens at nine.":
        _fail(name, text, f"a line with punctuation was dropped or changed; got {short(out)}")
    ok, junk = "x" * (MAX_RUN - 1) + ".", "y" * MAX_RUN + "."
    text = f"First line, fine.\n{ok}\nSecond: {junk}\nLast line, fine."
    out = _want_str(name, text, call(fn, name, text))
    if "yyyy" in out:
        _fail(name, text, f"a line with a run of {MAX_RUN + 1} non-space characters is kept; drop "
              f"lines with a run longer than {MAX_RUN}")
    if ok not in out:
        _fail(name, text, f"off by one: a run of exactly {MAX_RUN} characters must be kept "
              f"(drop only runs longer than {MAX_RUN})")
    if out.split("\n") != ["First line, fine.", ok, "Last line, fine."]:
        _fail(name, text, f"order not kept or lines changed; got {short(out)}")
    print(f"{name}: passed (whitespace, punctuation, long runs, order)")
    return True


# --- heuristic_quality_filter ----------------------------------------------------------------
_GOOD = (
    "The old lighthouse keeper walked to the harbour every morning, and he counted the boats "
    "that had come back from the night. He wrote their names in a small book with a green "
    "cover. When the fog was thick, he lit the lamp early and waited with a cup of tea until "
    "the last boat was home. The children of the village loved to visit him, because he told "
    "stories about storms and whales"
)  # 75 words, one sentence without a final full stop so "one punctuation mark" can be built
_JUNK = "\u2605"  # a star: neither alphanumeric, punctuation nor whitespace


def _with_ratio(text: str, extra: int) -> str:
    """text plus one token of `extra` stars (the ratio of allowed characters goes down)."""
    return f"{text} {_JUNK * extra}."


def _quality_cases() -> list[tuple[str, str, bool, str]]:
    """(label, text, expected, diagnosis when the learner's answer differs)."""
    no_punct = re.sub(r"[^\w\s]", "", _GOOD)
    # _with_ratio adds ' ' + stars + '.': allowed = len(text) + 2, so ratio = allowed / (allowed
    # + stars); padding makes allowed divisible by 4, so allowed / 4 stars give exactly 0.8.
    text = _GOOD + "!" * (-(len(_GOOD) + 2) % 4)
    quarter = (len(text) + 2) // 4
    return [
        ("good", _GOOD + ".", True, "a good page is rejected: a rule is inverted or too strict"),
        ("bad word", _GOOD.replace("old", "bloody old") + ".", False,
         "a page with a bad word ('bloody') passes: the bad-word rule is missing or inverted"),
        ("bad word inside a word", _GOOD.replace("small book", "small scrapbook") + ".", True,
         "a bad word is matched inside another word ('crap' in 'scrapbook'); match whole words"),
        ("no punctuation", no_punct, False,
         "a page without punctuation passes: the punctuation rule is missing or inverted"),
        ("one punctuation mark", no_punct + ".", True,
         "off by one: a page with exactly one punctuation mark must pass (at least 1)"),
        ("only whitespace", " \n\t  \n", False,
         "a page of only whitespace passes: reject text that is empty after strip()"),
        ("empty", "", False, "an empty page passes: reject text that is empty after strip()"),
        ("ratio below 0.8", _with_ratio(_GOOD, len(_GOOD) // 2), False,
         "a page with under 80% alphanumeric, punctuation or whitespace characters passes: the "
         "character-ratio rule is missing or inverted"),
        ("ratio exactly 0.8", _with_ratio(text, quarter), True,
         "off by one: a page with exactly 80% allowed characters must pass (>= 0.8)"),
        ("ratio just below 0.8", _with_ratio(text, quarter + 1), False,
         "a page just under 80% allowed characters passes: the threshold is too low"),
    ]


def check_heuristic_quality_filter(fn) -> bool:
    """heuristic_quality_filter(text) -> bool: True to keep. The course's four rules: no bad word
    (whole words, the kit's data/bad_word_list.txt), at least one punctuation mark, not only
    whitespace, at least 80% of characters alphanumeric, punctuation or whitespace. Passing
    cases are long, ordinary English, so the optional Gopher rules keep them too."""
    name = "check_heuristic_quality_filter"
    cases = _quality_cases()
    results = [call(fn, name, text) for _, text, _, _ in cases]
    for (label, text, _, _), got in zip(cases, results):
        if not isinstance(got, bool):
            _fail(name, text, f"returned {type(got).__name__}, not bool (case: {label})")
    wrong = [(c, g) for c, g in zip(cases, results) if g != c[2]]
    if len(wrong) == len(cases):
        _fail(name, cases[0][1], "every answer is inverted: return True for a page to keep")
    if wrong and all(got for _, got in wrong) and all(results):
        _fail(name, cases[1][1], "every page passes: the rules are never applied")
    for (label, text, _, diagnosis), _ in wrong:
        _fail(name, text, f"{diagnosis} (case: {label})")
    print(f"{name}: passed on {len(cases)} pages (each rule and its threshold)")
    return True


# --- is_english_text -------------------------------------------------------------------------
_ENGLISH = [
    "The weather was warm, so we walked along the river and talked about the books we had "
    "read during the long winter.",
    "To install the package, open a terminal and run the command shown below; then restart "
    "your computer and try again.",
    "Our team won the match on Saturday after a difficult first half and a brilliant goal in "
    "the final minute of the game.",
]
_OTHER = [
    ("French", "Le temps était doux, alors nous avons marché le long de la rivière en parlant "
     "des livres que nous avions lus pendant l'hiver."),
    ("German", "Das Wetter war warm, also gingen wir am Fluss entlang und sprachen über die "
     "Bücher, die wir im langen Winter gelesen hatten."),
    ("Spanish", "El tiempo era cálido, así que caminamos junto al río y hablamos de los libros "
     "que habíamos leído durante el largo invierno."),
    ("Indonesian", "Cuaca hari itu hangat, jadi kami berjalan di sepanjang sungai dan berbicara "
     "tentang buku yang kami baca selama musim dingin."),
    ("Chinese", "天气很暖和，所以我们沿着河边散步，聊起了我们在漫长的冬天里读过的书。"),
    ("Russian", "Погода была тёплой, поэтому мы гуляли вдоль реки и говорили о книгах, которые "
     "прочитали долгой зимой."),
]


def check_is_english_text(fn) -> bool:
    """is_english_text(text) -> bool: True for English prose, False for other languages."""
    name = "check_is_english_text"
    for text in _ENGLISH:
        got = call(fn, name, text)
        if not isinstance(got, bool):
            _fail(name, text, f"returned {type(got).__name__}, not bool")
        if not got:
            _fail(name, text, "English text is rejected: check the language code ('en') and that "
                  "the threshold is not too strict")
    wrong = [(lang, text) for lang, text in _OTHER if call(fn, name, text)]
    if len(wrong) == len(_OTHER):
        _fail(name, _OTHER[0][1], "every text is called English: compare the detected language "
              "with 'en' (and its score with the threshold)")
    if wrong and all(t.isascii() or lang in ("French", "German", "Spanish") for lang, t in wrong):
        if not any(lang in ("Chinese", "Russian") for lang, _ in wrong):
            _fail(name, wrong[0][1], f"{wrong[0][0]} is called English: Latin letters are not "
                  "English; use a language identifier (e.g. langid or fastText)")
    if wrong:
        _fail(name, wrong[0][1], f"{wrong[0][0]} is called English")
    print(f"{name}: passed ({len(_ENGLISH)} English, {len(_OTHER)} other languages)")
    return True


# --- deduplicate_texts -----------------------------------------------------------------------
_DOC_A = (
    "Mia found a small blue kite in the attic of her grandmother's house. It had a long tail "
    "made of ribbons, and a tiny hole near the top. Her grandmother showed her how to patch the "
    "hole with paper and glue. On Sunday they carried the kite to the hill behind the school, "
    "waited for the wind, and watched it climb above the trees."
)
_DOC_A_NEAR = _DOC_A.replace("On Sunday", "On Saturday").replace("small blue", "little blue")
_DOC_B = (
    "The bakery on Elm Street opens at six every morning. Its owner, Mr. Patel, bakes bread, "
    "rolls and cinnamon buns before sunrise, and the smell reaches the bus stop on the corner. "
    "Students buy warm buns on their way to class, and nurses from the hospital come for coffee "
    "after the night shift."
)
_DOC_C = (
    "Volcanoes form where molten rock rises through cracks in the crust of the earth. Some erupt "
    "with explosions of ash and gas; others pour out slow rivers of lava. Scientists measure "
    "small earthquakes and changes in the ground to warn people who live nearby."
)


def check_deduplicate_texts(fn) -> bool:
    """deduplicate_texts(texts) -> list[str]: drop exact and near duplicates, keep the first
    text of each group and the input order; distinct texts all stay."""
    name = "check_deduplicate_texts"
    texts = [_DOC_A, _DOC_B, _DOC_A, _DOC_A_NEAR, _DOC_C, _DOC_B]
    want = [_DOC_A, _DOC_B, _DOC_C]
    labels = {_DOC_A: "A", _DOC_A_NEAR: "A'", _DOC_B: "B", _DOC_C: "C"}
    case = "[A, B, A, A' (A with two words changed), C, B]"
    out = call(fn, name, list(texts))
    if not isinstance(out, list) or not all(isinstance(t, str) for t in out):
        _fail(name, case, f"return a list of the kept texts (got {type(out).__name__})")
    got = [labels.get(t, "?") for t in out]
    shown = f"kept [{', '.join(got)}]"
    if "?" in got:
        _fail(name, case, f"{shown}: return the original texts unchanged (not normalised)")
    if got.count("A") > 1 or got.count("B") > 1:
        _fail(name, case, f"{shown}: exact duplicates are kept")
    if "A" in got and "A'" in got:
        _fail(name, case, f"{shown}: only exact duplicates are removed; a near copy must go too "
              "(e.g. Jaccard similarity of word sets or shingles, MinHash)")
    if "A" not in got and "A'" not in got:
        _fail(name, case, f"{shown}: a document and its near copy are both dropped; keep the first")
    if "A'" in got:
        _fail(name, case, f"{shown}: the later near copy is kept; keep the first text of a group")
    if sorted(got) != sorted(want_l := [labels[t] for t in want]):
        _fail(name, case, f"{shown}: distinct texts are dropped (threshold too low?)")
    if got != want_l:
        _fail(name, case, f"{shown}: order not kept; return texts in their input order")
    for single in ([], [_DOC_C]):
        out = call(fn, name, list(single))
        if list(out) != single:
            _fail(name, single, f"a list without duplicates must come back unchanged; got "
                  f"{len(out)} text(s)")
    print(f"{name}: passed (exact and near duplicates, first kept, order)")
    return True
