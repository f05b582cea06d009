"""Regenerate every bundled sample under data/ bit-identically, from text written for this kit.

    python -m hwlib.sample_data [--out data]

Writes `sample.warc.gz` (hand-written pages that exercise each stage of hwlib.preprocess),
`topic_dataset.json` (the course format, with planted exact and near duplicates),
`bad_word_list.txt` (a short list of mild words; the full list comes from download_data.sh) and,
through hwlib.stories, the story splits under `stories/`. Every page and text here was written for
this kit; nothing is copied from the web. Fixed dates, record ids and gzip headers make the bytes
the same on every run.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import uuid
import zlib
from pathlib import Path

from warcio.warcwriter import WARCWriter

from hwlib.sample_pages import (
    ARTICLES,
    BOILERPLATE_NAV,
    CHINESE_PAGE,
    COOKIE_BANNER,
    FOOTER,
    FRENCH_PAGE,
    GERMAN_PAGE,
    PII_PAGE,
    RANT_PAGE,
    RUSSIAN_PAGE,
    SPANISH_PAGE,
    TOPIC_EXTRA,
)
from hwlib.stories import write_story_splits
from hwlib.utils import DATA_DIR

# Mild words only: enough to exercise the whole-word, case-insensitive bad-word rule offline.
BAD_WORDS = ["arse", "bloody", "bollocks", "bugger", "crap", "damn", "darn", "piss", "shite"]

WARC_DATE = "2024-05-01T12:00:{:02d}Z"  # one fixed second per record keeps the file reproducible
HTTP_DATE = "Wed, 01 May 2024 12:00:00 GMT"
RECORD_NS = uuid.UUID("8f0e1c52-3a1d-4a57-9b7e-2f1d0c6b5a10")  # namespace for uuid5 record ids


def page(title: str, body: str, head_extra: str = "", lang: str = "en") -> str:
    """A complete HTML document around `body`."""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n{head_extra}'
        f"<title>{title}</title>\n<style>body {{ font-family: serif; }}</style>\n"
        f"<script>window.analytics = {{page: '{title}'}};</script>\n</head>\n<body>\n{body}\n"
        "</body>\n</html>\n"
    )


def article_html(key: str, boilerplate: bool = False, edits: dict | None = None) -> str:
    """An article page; `boilerplate` wraps it in menus, a cookie banner and a footer."""
    title, paragraphs = ARTICLES[key]
    text = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    for old, new in (edits or {}).items():
        text = text.replace(old, new)
    body = f"<article>\n<h1>{title}</h1>\n{text}\n</article>"
    if boilerplate:
        body = f"{COOKIE_BANNER}\n{BOILERPLATE_NAV}\n<main>\n{body}\n</main>\n{FOOTER}"
    return page(title, body)


def tiny_png() -> bytes:
    """A valid 2x2 grey PNG, built by hand so the image record needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    raw = b"\x00\x80\x80" * 2  # two rows: filter byte 0, then two grey pixels
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def http_response(body: bytes, content_type: str, status: str = "200 OK", length=None) -> bytes:
    """HTTP/1.1 response bytes; `length` can lie, as a truncated capture's header does."""
    length = len(body) if length is None else length
    head = (
        f"HTTP/1.1 {status}\r\nDate: {HTTP_DATE}\r\nServer: hwlib-sample\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    )
    return head.encode("ascii") + body


def sample_records() -> list[tuple[str, bytes]]:
    """(url, raw HTTP response) for every captured page, in WARC order."""
    recs: list[tuple[str, bytes]] = [
        (
            "https://www.example.org/robots.txt",
            http_response(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
        ),
    ]
    for key in ARTICLES:
        if key not in ("garden", "volcanoes", "cafe"):  # those three are served below
            recs.append((f"https://{key}.example.org/articles/{key}", html(article_html(key))))
    recs += [
        # Site boilerplate around a real article: extraction must keep only the article.
        (
            "https://news.example.com/local/community-garden",
            html(article_html("garden", boilerplate=True)),
        ),
        # A page that is nothing but menus: empty after extraction or cleaning.
        (
            "https://news.example.com/tags",
            html(page("Tags", f"{COOKIE_BANNER}\n{BOILERPLATE_NAV}\n{FOOTER}")),
        ),
        (
            "https://shop.example.com/coming-soon",
            html(page("Coming soon", "<h1>Coming soon</h1><p>Our new shop opens in June.</p>")),
        ),
        ("https://library.example.net/visit", html(PII_PAGE)),
        ("https://reviews.example.com/umbrella", html(RANT_PAGE)),
        (
            "https://outdoors.example.org/checklist",
            html(
                page(
                    "Packing list",
                    "".join(
                        f"<p>\u2022 {item}, packed and checked twice before leaving.</p>"
                        for item in (
                            "The tent",
                            "A warm sleeping bag",
                            "Two water bottles",
                            "The camp stove",
                            "A small first aid kit",
                            "Matches in a dry bag",
                            "A head torch with batteries",
                            "Spare socks",
                            "A paper map of the park",
                            "Rope and pegs",
                            "The cooking pot",
                            "A rain jacket",
                        )
                    ),
                )
            ),
        ),
        (
            "https://fr.example.org/pain",
            html(FRENCH_PAGE, "text/html; charset=iso-8859-1", "latin-1"),
        ),
        ("https://de.example.org/wald", html(GERMAN_PAGE)),
        ("https://es.example.org/mar", html(SPANISH_PAGE)),
        # Charset declared only in a <meta> tag, in two legacy encodings.
        ("https://ru.example.org/chai", html(RUSSIAN_PAGE, "text/html", "windows-1251")),
        ("https://zh.example.org/cha", html(CHINESE_PAGE, "text/html", "gb2312")),
        # Mislabelled: windows-1252 bytes under a utf-8 header (curly quotes, accents).
        (
            "https://cafe.example.com/guide",
            html(article_html("cafe"), "text/html; charset=utf-8", "windows-1252"),
        ),
        # An exact copy at a second URL, and a print view with other markup but the same text.
        ("https://mirror.example.net/honeybees", recs[1][1]),
        (
            "https://honeybees.example.org/articles/honeybees?print=1",
            html(
                page(
                    "Print",
                    "<div class='print'><h1>How Honeybees Make Honey</h1>"
                    + "".join(f"<div>{p}</div>" for p in ARTICLES["honeybees"][1])
                    + "</div>",
                )
            ),
        ),
        # A near duplicate: a syndicated copy with a few words changed.
        (
            "https://cycling.example.net/history",
            html(
                article_html(
                    "bicycle",
                    edits={
                        "wooden": "timber",
                        "Within a few years": "Within several years",
                        "rubber": "air-filled rubber",
                    },
                )
            ),
        ),
        ("https://www.example.org/logo.png", http_response(tiny_png(), "image/png")),
        (
            "https://www.example.org/old-page",
            http_response(b"", "text/html", "301 Moved Permanently"),
        ),
    ]
    # A capture cut short: the header promises more bytes than the crawler stored.
    volcano = article_html("volcanoes").encode("utf-8")
    recs.append(
        (
            "https://volcano.example.org/articles/volcanoes",
            http_response(
                volcano[: len(volcano) * 3 // 4], "text/html; charset=utf-8", length=len(volcano)
            ),
        )
    )
    return recs


def html(doc: str, content_type: str = "text/html; charset=utf-8", encoding: str = "utf-8"):
    """HTTP response bytes for an HTML document stored in `encoding`."""
    return http_response(doc.encode(encoding), content_type)


# A response whose HTTP block is random bytes (not an HTTP message): readers must skip it.
GARBAGE_URL = "https://broken.example.com/garbage"


def garbage_block() -> bytes:
    state, out = 12345, bytearray()
    for _ in range(400):  # a fixed LCG so the bytes never change
        state = (state * 1103515245 + 12345) % 2**31
        out.append(state >> 16 & 0xFF)
    return bytes(out)


def _rid(url: str, kind: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(RECORD_NS, kind + ' ' + url)}>"


def _write(writer, url: str, kind: str, payload: bytes, headers: dict) -> None:
    """One WARC record with fixed headers (dates and ids), so the file is bit-identical."""
    writer.write_record(writer.create_warc_record(url, kind, payload=io.BytesIO(payload),
                                                  length=len(payload),
                                                  warc_headers_dict=headers))


def write_warc(path: str | Path) -> Path:
    """Write the sample WARC: warcinfo, a request+response pair per page, one garbage record."""
    path = Path(path)
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    info = (
        b"software: hwlib.sample_data\r\nformat: WARC File Format 1.0\r\n"
        b"description: hand-written sample pages for the hwlib preprocessing stage\r\n"
    )
    _write(writer, "", "warcinfo", info, {"WARC-Date": WARC_DATE.format(0),
                                         "WARC-Record-ID": _rid("", "info"),
                                         "WARC-Filename": "sample.warc.gz"})
    second = 1
    records = sample_records()
    records.insert(len(records) // 2, (GARBAGE_URL, b""))
    for url, response in records:
        date = WARC_DATE.format(second % 60)
        second += 1
        host = url.split("/")[2]
        target = "/" + url.split("/", 3)[3] if url.count("/") > 2 else "/"
        req = (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hwlib-sample-crawler/1.0\r\n"
            "Accept: */*\r\n\r\n"
        ).encode("ascii")
        _write(writer, url, "request", req, {"WARC-Date": date,
                                             "WARC-Record-ID": _rid(url, "request"),
                                             "WARC-Concurrent-To": _rid(url, "response")})
        if url == GARBAGE_URL:
            buf.write(_raw_member(url, date, garbage_block()))
            continue
        _write(writer, url, "response", response,
               {"WARC-Date": date, "WARC-Record-ID": _rid(url, "response")})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def _raw_member(url: str, date: str, block: bytes) -> bytes:
    """One gzip member holding a response record whose block warcio would refuse to write."""
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\nWARC-Date: {date}\r\n"
        f"WARC-Record-ID: {_rid(url, 'response')}\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n"
    ).encode("ascii")
    # Same settings as warcio's writer: zlib's gzip header carries no name and mtime 0.
    comp = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return comp.compress(head + block + b"\r\n\r\n") + comp.flush()


def topic_texts() -> tuple[list[str], list[int]]:
    """The topic dataset's texts and the indices of the planted duplicates (exact or near).

    Distinct texts are the article paragraphs plus a few short extras on shared topics; each
    planted duplicate repeats an earlier text with case/space/punctuation changes (exact after
    normalisation) or with a phrase changed or a sentence added (near).
    """
    base = [p for _, paras in ARTICLES.values() for p in paras] + TOPIC_EXTRA
    variants = [  # (source index in base, planted copy)
        (0, base[0].upper()),
        (4, "  " + base[4].replace(". ", ".   ").replace(",", "") + "  "),
        (9, base[9].replace(".", "!")),
        (15, base[15].lower()),
        (2, base[2].replace("fresh wax", "fresh beeswax")),
        (7, base[7].replace("a little more than a day", "just over a day")),
        (12, base[12] + " It is still true today."),
        (len(base) - 2, base[-2].replace("quiet", "calm")),
    ]
    texts = list(base)
    for src, copy in variants:  # a few texts after its source, as duplicates sit in a crawl
        texts.insert(texts.index(base[src]) + 3, copy)
    planted = sorted(texts.index(copy) for _, copy in variants)
    return texts, planted


# One-sentence topic texts in the style of the course's topic dataset, where a later text
# restates an earlier one in other words (word-set Jaccard 0.5 to 0.8: the course's rule drops
# it, the kit's 3-word shingles do not) or only shares its topic (below 0.5: both keep it).
SHORT_TOPICS = [
    "Honeybees turn flower nectar into honey and store it in wax cells for the winter.",
    "Bicycles give people a cheap, quiet and healthy way to travel around busy cities.",
    "Tides rise and fall twice a day because the moon pulls on the oceans of the earth.",
    "Sourdough bread rises slowly because wild yeast and bacteria live in the starter.",
    "Lighthouses warned sailors about dangerous rocks long before radio and satellites.",
    "Volcanoes form where melted rock from deep inside the earth reaches the surface.",
    "Honeybees turn the nectar of flowers into honey and keep it in wax cells for winter.",
    "Bicycles give people a cheap and healthy way to get around crowded cities every day.",
    "The moon pulls on the oceans, so tides rise and fall twice every day on most coasts.",
    "Bakers feed a sourdough starter with flour and water to keep its wild yeast alive.",
    "Old lighthouses warned sailors about rocks long before radio existed.",
    "Volcanoes can also form deep under the sea, where new islands are slowly built.",
]


def write_topic_dataset(path: str | Path) -> Path:
    texts, _ = topic_texts()
    path = Path(path)
    path.write_text(
        json.dumps({"data": [{"text": t} for t in texts]}, indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return path


def write_all(out: str | Path = DATA_DIR) -> list[Path]:
    """Regenerate every bundled file under `out`; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    words = out / "bad_word_list.txt"
    words.write_text("\n".join(BAD_WORDS) + "\n", encoding="utf-8")
    paths = [
        write_warc(out / "sample.warc.gz"),
        write_topic_dataset(out / "topic_dataset.json"),
        words,
        *write_story_splits(out / "stories"),
    ]
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DATA_DIR), help="folder to write (default: data/)")
    args = parser.parse_args(argv)
    for p in write_all(args.out):
        print(f"wrote {p} ({p.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
