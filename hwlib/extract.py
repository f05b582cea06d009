"""HTML to text for hwlib.preprocess: charset decoding, boilerplate removal, block-aware text.

    from hwlib.extract import html_to_text

BeautifulSoup with lxml builds the tree; one iterative walk (deep nesting is safe) skips
scripts, styles, <head>, navigation, footers, cookie banners and other site chrome (by tag, ARIA
role and class/id words), and puts each block element on its own line. `extractor="resiliparse"`
swaps in Resiliparse's main-content extractor (the `fast` extra), imported only when chosen.
"""

from __future__ import annotations

import codecs
import re

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Script, Stylesheet, TemplateString

MAX_BAD_CHAR_RATIO = 0.1  # decoded text with more U+FFFD/control chars than this is undecodable

_META_CHARSET = re.compile(rb"<meta[^>]{0,300}?charset\s*=\s*[\"']?\s*([\w.:-]{1,40})", re.I)
# WHATWG Encoding Standard: these labels mean a superset in practice.
_CODEC_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "shift_jis": "cp932",
    "ks_c_5601-1987": "cp949",
}


def _codec(label) -> str | None:
    if not label:
        return None
    label = (label.decode("ascii", "ignore") if isinstance(label, bytes) else label).lower()
    label = _CODEC_ALIASES.get(label, label)
    if label.startswith(("utf-16", "utf-32")):
        return "utf-8"  # an ASCII-compatible page cannot really be UTF-16 (WHATWG rule)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def decode_bytes(data: bytes, charset: str | None = None) -> tuple[str, bool]:
    """decode_html, also saying whether U+FFFD had to replace bytes no codec could decode.

    Order: a byte-order mark (UTF-8 or UTF-16) decides; else the HTTP charset, <meta charset>,
    UTF-8 and windows-1252, each strict, so a mislabelled page (cp1252 bytes under a UTF-8
    header) decodes under the next guess; only when all fail are bad bytes replaced.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = data[len(bom) :].decode(codec, errors="replace")
            return text, "\ufffd" in text
    meta = _META_CHARSET.search(data, 0, 4096)
    tried = [c for c in (_codec(charset), _codec(meta.group(1) if meta else None)) if c]
    for codec in dict.fromkeys(tried + ["utf-8", "cp1252"]):
        try:
            return data.decode(codec), False
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(tried[0] if tried else "utf-8", errors="replace"), True


def decode_html(data: bytes, charset: str | None = None) -> str:
    """Bytes to str: BOM, then the HTTP charset, <meta charset>, UTF-8, cp1252, then U+FFFD."""
    return decode_bytes(data, charset)[0]


def undecodable(text: str) -> bool:
    """True when the decoded page is mostly U+FFFD or control characters (binary data)."""
    head = text[:20000]
    bad = head.count("\ufffd") + sum(head.count(c) for c in "\x00\x01\x02\x03\x04\x05\x06\x07")
    return bad > MAX_BAD_CHAR_RATIO * max(len(head), 1)


_DROP_TAGS = frozenset(
    "script style noscript template head iframe object embed svg canvas nav footer aside "
    "button select option input textarea dialog menu".split()
)
_BLOCK_TAGS = frozenset(
    "address article blockquote br dd details div dl dt fieldset figcaption figure form h1 h2 "
    "h3 h4 h5 h6 header hr li main ol p pre section summary table tbody tfoot thead tr ul "
    "caption center".split()
)
_CELL_TAGS = frozenset(("td", "th"))
_NEVER_DROP = frozenset(("html", "body", "main", "article"))
# Class/id words of site chrome; whole words only, so "menu-item" matches but "menus" does not.
_BOILERPLATE = re.compile(
    r"(?<![a-z])(?:nav|navbar|navigation|menu|menubar|breadcrumbs?|sidebar|footer|cookies?|"
    r"consent|gdpr|share|sharing|social|newsletter|subscribe|advert\w{0,12}|ads|sponsored|"
    r"popup|modal|skip-link|related-posts|site-header|masthead|topbar|top-bar)(?![a-z])",
    re.I,
)
_CHROME_ROLES = frozenset(
    (
        "navigation",
        "banner",
        "contentinfo",
        "complementary",
        "search",
        "dialog",
        "alertdialog",
        "menu",
        "menubar",
    )
)
_SKIP_STRINGS = (PreformattedString, Script, Stylesheet, TemplateString)  # comments, doctype, ..
_END = object()  # marks the end of a block element on the traversal stack


def _is_chrome(tag) -> bool:
    # A <header> is not dropped by name: page builders put whole articles in "hero header"
    # sections. Its menus go by name or class, and a bare site title has no punctuation, so
    # clean_text drops it.
    name = tag.name
    if name in _DROP_TAGS:
        return True
    if name in _NEVER_DROP:
        return False
    attrs = tag.attrs
    if not attrs:
        return False
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    if attrs.get("role") in _CHROME_ROLES:
        return True
    cls = attrs.get("class")
    words = (" ".join(cls) if isinstance(cls, list) else cls or "") + " " + (attrs.get("id") or "")
    return bool(words.strip()) and _BOILERPLATE.search(words) is not None


def _soup_text(soup) -> str:
    """Visible text with block elements on their own lines (iterative: deep trees are safe)."""
    out: list[str] = []
    stack: list = [soup]
    while stack:
        node = stack.pop()
        if node is _END:
            out.append("\n")
        elif isinstance(node, NavigableString):
            if not isinstance(node, _SKIP_STRINGS):  # a newline in source text is just a space
                out.append(node.replace("\n", " ").replace("\r", " "))
        elif not _is_chrome(node):
            name = node.name
            if name in _BLOCK_TAGS:
                out.append("\n")
                stack.append(_END)
            elif name in _CELL_TAGS:
                out.append(" ")
            stack.extend(reversed(node.contents))
    return "".join(out)


# Lone surrogates are not text (UTF-7 or escape-codec pages decode to them, and a caller's str
# may hold them); lxml and langid cannot encode them, so they become U+FFFD like other bad bytes.
_SURROGATE = re.compile("[\ud800-\udfff]")
_RAW_OPEN = re.compile(r"<(script|style|noscript|template|svg|head)(?=[\s>/])|<!--", re.I)
_RAW_CLOSE = {
    t: re.compile(rf"</{t}\s*>", re.I)
    for t in ("script", "style", "noscript", "template", "svg", "head")
}
_RAW_CLOSE[None] = re.compile("-->")


def _cut_invisible(html: str) -> str:
    """Cut scripts, styles, comments, <head> etc. with plain scans before parsing.

    They are dropped anyway, and on real pages they are often half the bytes, so BeautifulSoup
    (the slowest step) gets less to build. A block without its closing tag is left alone.
    """
    parts, pos, unclosed = [], 0, set()
    while (m := _RAW_OPEN.search(html, pos)) is not None:
        tag = m.group(1).lower() if m.group(1) else None
        # No closing tag after this opening means none after a later one either; remembering
        # that keeps 100k unclosed "<!--" linear instead of 100k scans to the end.
        end = None if tag in unclosed else _RAW_CLOSE[tag].search(html, m.end())
        parts.append(html[pos : m.start()])
        if end is None:
            unclosed.add(tag)
            parts.append(html[m.start() : m.end()])
            pos = m.end()
        else:
            parts.append(" ")
            pos = end.end()
    parts.append(html[pos:])
    return "".join(parts)


def _collapse(text: str) -> str:
    """Collapse runs of whitespace inside lines and drop empty lines."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(html: bytes | str, charset: str | None = None, extractor: str = "bs4") -> str:
    """Visible text of a page without menus, footers, banners or scripts; one block per line.

    `extractor="resiliparse"` uses Resiliparse's main-content extractor (pip install hwlib[fast]).
    """
    text = decode_html(html, charset) if isinstance(html, bytes) else html
    text = _SURROGATE.sub("\ufffd", text)
    if extractor == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text  # optional, fast

        return _collapse(
            extract_plain_text(
                text, main_content=True, alt_texts=False, links=False, list_bullets=False
            )
        )
    if extractor != "bs4":
        raise ValueError(f"unknown extractor {extractor!r}; use 'bs4' or 'resiliparse'")
    return _collapse(_soup_text(BeautifulSoup(_cut_invisible(text), "lxml")))
