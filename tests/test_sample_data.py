"""hwlib.sample_data: the bundled data regenerates bit-identically and has the promised content."""

import gzip
import json

from warcio.archiveiterator import ArchiveIterator

from hwlib import sample_data
from hwlib.utils import DATA_DIR

def test_regenerates_bit_identically(tmp_path):
    written = sample_data.write_all(tmp_path)
    assert written, "nothing written"
    for path in written:
        rel = path.relative_to(tmp_path)
        assert path.read_bytes() == (DATA_DIR / rel).read_bytes(), f"{rel} differs from data/"


def test_cli_writes_everything(tmp_path):
    sample_data.main(["--out", str(tmp_path)])
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {
        "sample.warc.gz",
        "topic_dataset.json",
        "bad_word_list.txt",
        "stories/stories.train",
        "stories/stories.val",
        "stories/stories.test",
    } <= names


def test_gzip_members_carry_no_timestamp():
    raw = (DATA_DIR / "sample.warc.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\x00\x00\x00\x00"  # mtime field is zero
    gzip.decompress(raw)  # every member is complete


def test_warc_layout():
    with open(DATA_DIR / "sample.warc.gz", "rb") as f:
        recs = [
            (
                r.rec_type,
                r.rec_headers.get_header("WARC-Target-URI"),
                r.rec_headers.get_header("WARC-Record-ID"),
                r.http_headers.get_header("Content-Type") if r.http_headers else None,
            )
            for r in ArchiveIterator(f)
        ]
    assert recs[0][0] == "warcinfo"
    pairs = recs[1:]
    assert [t for t, *_ in pairs] == ["request", "response"] * (len(pairs) // 2)
    assert all(a[1] == b[1] for a, b in zip(pairs[::2], pairs[1::2]))  # each pair, one URL
    assert len({rid for _, _, rid, _ in recs}) == len(recs)
    types = [ct for t, _, _, ct in pairs if t == "response" and ct]
    assert "image/png" in types and "text/plain" in types
    assert any("iso-8859-1" in ct for ct in types)
    urls = [u for t, u, _, _ in pairs if t == "response"]
    assert sample_data.GARBAGE_URL in urls and len(urls) >= 20


def test_pages_cover_every_case():
    raw = dict(sample_data.sample_records())
    assert (
        raw["https://mirror.example.net/honeybees"]
        == raw["https://honeybees.example.org/articles/honeybees"]
    )
    cafe = raw["https://cafe.example.com/guide"]
    assert b"charset=utf-8" in cafe and b"\x93" in cafe  # windows-1252 quote under a utf-8 label
    assert b"charset=windows-1251" in raw["https://ru.example.org/chai"]
    assert b'<meta charset="gb2312">' in raw["https://zh.example.org/cha"]
    assert b"(555) 123-4567" in raw["https://library.example.net/visit"]
    assert b"damn" in raw["https://reviews.example.com/umbrella"]
    assert b"cookie" in raw["https://news.example.com/local/community-garden"]


def test_topic_dataset_format_and_plants():
    data = json.loads((DATA_DIR / "topic_dataset.json").read_text(encoding="utf-8"))
    texts = [item["text"] for item in data["data"]]
    gen, planted = sample_data.topic_texts()
    assert texts == gen
    assert len(planted) >= 6 and len(texts) - len(planted) >= 25
    assert all(p > 0 for p in planted)


def test_bad_word_list_small_and_lowercase():
    words = (DATA_DIR / "bad_word_list.txt").read_text(encoding="utf-8").split()
    assert 5 <= len(words) <= 50 and all(w == w.lower() for w in words)


def test_bundled_sizes():
    total = sum(
        p.stat().st_size
        for p in DATA_DIR.rglob("*")
        if p.is_file()
        and p.relative_to(DATA_DIR).parts[0]
        in ("sample.warc.gz", "topic_dataset.json", "bad_word_list.txt", "stories")
    )
    assert total < 5_000_000
    assert (DATA_DIR / "sample.warc.gz").stat().st_size < 300_000
