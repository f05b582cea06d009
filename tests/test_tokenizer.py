"""Tokenizer, train_tokenizer and the token cache, checked against sentencepiece itself."""

import json
import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sentencepiece as spm

from hwlib import tokenizer as tk
from hwlib.tokenizer import Tokenizer, tokenize_directory, train_tokenizer
from hwlib.utils import DATA_DIR

STORIES = DATA_DIR / "stories"
LLAMA_FIXTURE = Path("/work/shared/fixtures/llama2/tokenizer.model")
ODD_TEXT = "Lily, 7, saw 1234 owls!  Two  spaces\tand a tab. Café naïve 日本 😀 \u00a0end "


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A 1024-piece BPE model trained on the bundled training stories (about 0.1 s)."""
    return train_tokenizer(STORIES / "stories.train", 1024,
                           tmp_path_factory.mktemp("tok") / "tok1024")


@pytest.fixture(scope="module")
def tok(model) -> Tokenizer:
    return Tokenizer(model)


def test_encode_decode_match_sentencepiece(tok, model):
    sp = spm.SentencePieceProcessor(model_file=str(model))
    text = "Once upon a time, there was a little fox named Pip."
    assert tok.encode(text) == [sp.bos_id()] + sp.encode(text)
    assert tok.encode(text, bos=False, eos=True) == sp.encode(text) + [sp.eos_id()]
    assert tok.decode(tok.encode(text, eos=True)) == text
    assert (tok.vocab_size, tok.bos_id, tok.eos_id, tok.pad_id) == (1024, 1, 2, -1)


def check_llama_like(tok: Tokenizer) -> None:
    """The Llama-2 tokenizer's conventions, which our models share."""
    sp = tok.sp
    assert [sp.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert [sp.id_to_piece(i) for i in (3, 258)] == ["<0x00>", "<0xFF>"]  # byte fallback
    ids = tok.encode(ODD_TEXT, bos=False)
    assert tok.decode(ids) == ODD_TEXT  # identity normalisation: spaces and tabs survive
    assert 0 not in ids  # unseen characters become bytes, never <unk>
    emoji = sp.encode("😀", out_type=str)
    assert emoji[-4:] == ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]
    assert [p for p in sp.encode("1234", out_type=str) if p != "▁"] == ["1", "2", "3", "4"]


def test_trained_model_behaves_like_llama2(tok):
    check_llama_like(tok)


@pytest.mark.skipif(not LLAMA_FIXTURE.exists(), reason="Llama-2 tokenizer fixture not present")
def test_llama2_model_loads_and_behaves():
    llama = Tokenizer(LLAMA_FIXTURE)
    assert llama.vocab_size == 32000
    assert llama.encode("Hello world") == [1, 15043, 3186]
    check_llama_like(llama)


def test_training_is_deterministic(tmp_path, tok):
    again = Tokenizer(train_tokenizer(STORIES / "stories.train", 1024, tmp_path / "again"))
    assert again.fingerprint == tok.fingerprint
    assert (tmp_path / "again.vocab").read_text(encoding="utf-8").splitlines()[1].startswith("<s>")


def test_default_vocab_fits_the_bundled_stories(tmp_path):
    path = train_tokenizer(STORIES / "stories.train", model_prefix=tmp_path / "tok")
    assert Tokenizer(path).vocab_size == 4096


def test_bad_tokenizer_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.model.*download_data.sh tokenizer"):
        Tokenizer(tmp_path / "tokenizer.model")
    for name, data in (("junk.model", b"not a model" * 10), ("empty.model", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=f"{name}: not a SentencePiece model"):
            Tokenizer(tmp_path / name)


def test_training_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError) as e:
        train_tokenizer(STORIES / "stories.val", 60000, tmp_path / "big")
    assert "stories.val" in str(e.value) and "\n" not in str(e.value)
    assert "Vocabulary size too high" in str(e.value)
    with pytest.raises(FileNotFoundError, match="nothing.txt"):
        train_tokenizer(tmp_path / "nothing.txt", 100, tmp_path / "x")


def test_pickles_for_pool_workers(tok):
    copy = pickle.loads(pickle.dumps(tok))
    assert copy.fingerprint == tok.fingerprint and copy.encode(ODD_TEXT) == tok.encode(ODD_TEXT)


# --- the token cache ---------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    stories = (STORIES / "stories.val").read_text(encoding="utf-8").splitlines()
    (d / "a.train").write_text("\n".join(stories[:200]) + "\n\n   \n", encoding="utf-8")
    (d / "b.val").write_text("\n".join(stories[200:]) + "\n", encoding="utf-8")
    (d / "c.txt").write_text("only one line, no newline", encoding="utf-8")
    (d / "ignored.md").write_text("not a course text file", encoding="utf-8")
    return d


def expected_tokens(path: Path, model: Path) -> np.ndarray:
    sp = spm.SentencePieceProcessor(model_file=str(model))
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():  # blank lines are skipped; every other line is BOS ... EOS
            ids += [sp.bos_id()] + sp.encode(line.strip()) + [sp.eos_id()]
    return np.array(ids, dtype=np.uint16)


def test_tokenize_directory_matches_sentencepiece(corpus, model, tok):
    bins = tokenize_directory(corpus, tokenizer=tok, workers=1, progress=False)
    out = corpus / "tokenized"
    assert bins == [out / "a.train.bin", out / "b.val.bin", out / "c.txt.bin"]
    for src, b in zip(sorted(corpus.glob("[abc].*")), bins):
        assert np.array_equal(np.fromfile(b, dtype=np.uint16), expected_tokens(src, model))
    meta = json.loads((out / "metadata.json").read_text())
    entry = {e["token_file"]: e for e in meta["files"]}["a.train.bin"]
    # The course's reader: {"dtype", "files": [{"source", "token_file", "token_count"}]}.
    assert meta["dtype"] == "uint16" and meta["version"] == tk.CACHE_VERSION
    assert entry["source"] == str((corpus / "a.train").resolve())
    assert entry["token_count"] == len(expected_tokens(corpus / "a.train", model))
    assert entry["tokenizer_fingerprint"] == tok.fingerprint
    assert entry["source_size"] == (corpus / "a.train").stat().st_size
    assert entry["source_mtime_ns"] == (corpus / "a.train").stat().st_mtime_ns
    assert sorted(p.name for p in out.iterdir()) == [b.name for b in bins] + ["metadata.json"]


def test_pool_of_workers_gives_the_same_bytes(corpus, tok, tmp_path, monkeypatch):
    one = tokenize_directory(corpus, tmp_path / "one", tok, workers=1, progress=False)
    monkeypatch.setattr(tk, "CHUNK_CHARS", 2000)  # many chunks per file, so the pool is used
    two = tokenize_directory(corpus, tmp_path / "two", tok, workers=2, progress=False)
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]


def test_cache_reuse_and_invalidation(corpus, tok, model, tmp_path):
    bins = tokenize_directory(corpus, tokenizer=tok, workers=1, progress=False)
    stamps = [b.stat().st_mtime_ns for b in bins]
    assert tokenize_directory(corpus, tokenizer=tok, workers=1, progress=False) == bins
    assert [b.stat().st_mtime_ns for b in bins] == stamps  # reused, not rewritten

    with open(corpus / "c.txt", "a", encoding="utf-8") as f:  # a source changes
        f.write("\nand a second line")
    tokenize_directory(corpus, tokenizer=tok, workers=1, progress=False)
    assert [b.stat().st_mtime_ns == s for b, s in zip(bins, stamps)] == [True, True, False]
    assert np.array_equal(np.fromfile(bins[2], np.uint16), expected_tokens(corpus / "c.txt", model))

    stamps = [b.stat().st_mtime_ns for b in bins]
    tokenize_directory(corpus, tokenizer=tok, workers=1, overwrite=True, progress=False)
    assert all(b.stat().st_mtime_ns != s for b, s in zip(bins, stamps))

    other = Tokenizer(train_tokenizer(STORIES / "stories.test", 600, tmp_path / "other"))
    tokenize_directory(corpus, tokenizer=other, workers=1, progress=False)  # tokenizer changes
    meta = json.loads((corpus / "tokenized" / "metadata.json").read_text())
    assert {e["tokenizer_fingerprint"] for e in meta["files"]} == {other.fingerprint}
    assert np.array_equal(np.fromfile(bins[0], np.uint16),
                          expected_tokens(corpus / "a.train", other.model_path))


@pytest.mark.parametrize("old_keys", [True, False])  # False: only the layout tells them apart
def test_a_cache_written_the_old_way_is_rebuilt_not_misread(corpus, tok, model, old_keys):
    """Version 1 wrote BOS only and no layout: such a cache is stale, and the rebuild ends lines
    with EOS (a block reader would otherwise train on stories that never end)."""
    bins = tokenize_directory(corpus, tokenizer=tok, workers=1, progress=False)
    out = corpus / "tokenized"
    meta = json.loads((out / "metadata.json").read_text())
    sp = spm.SentencePieceProcessor(model_file=str(model))
    for e in meta["files"]:  # rewrite it as the old version did: BOS-only files, old keys
        old = np.fromfile(out / e["token_file"], np.uint16)
        old = old[old != sp.eos_id()]
        old.tofile(out / e["token_file"])
        e["token_count"] = len(old)
        if old_keys:
            e["source_file"] = e.pop("source")
        del e["layout"]
    del meta["version"], meta["layout"], meta["format"]
    (out / "metadata.json").write_text(json.dumps(meta))
    tokenize_directory(corpus, tokenizer=tok, workers=1, progress=False)
    for src, b in zip(sorted(corpus.glob("[abc].*")), bins):
        ids = np.fromfile(b, dtype=np.uint16)
        assert np.array_equal(ids, expected_tokens(src, model))
        assert (ids == sp.eos_id()).sum() == (ids == sp.bos_id()).sum() > 0
        assert ids[-1] == sp.eos_id()


def test_interrupted_run_keeps_finished_files_only(corpus, tok, monkeypatch):
    monkeypatch.setattr(tk, "CHUNK_CHARS", 5000)
    chunks_in_a = sum(1 for _ in tk._chunks([corpus / "a.train"]))
    calls = {"n": 0}
    real = Tokenizer.encode_lines

    def dies_inside_b(self, lines, num_threads=1):
        calls["n"] += 1
        if calls["n"] == chunks_in_a + 4:  # a is finished, b is half-way
            raise KeyboardInterrupt
        return real(self, lines, num_threads)

    monkeypatch.setattr(Tokenizer, "encode_lines", dies_inside_b)
    with pytest.raises(KeyboardInterrupt):
        tokenize_directory(corpus, tokenizer=tok, workers=1, progress=False)
    out = corpus / "tokenized"
    # no half-written b.val.bin, no temp file; metadata claims only the finished file
    assert sorted(os.listdir(out)) == ["a.train.bin", "metadata.json"]
    assert list(tk.read_metadata(out)) == ["a.train.bin"]
    stamp = (out / "a.train.bin").stat().st_mtime_ns
    monkeypatch.setattr(Tokenizer, "encode_lines", real)
    bins = tokenize_directory(corpus, tokenizer=tok, workers=1, progress=False)
    assert all(b.exists() for b in bins) and len(tk.read_metadata(out)) == 3
    assert (out / "a.train.bin").stat().st_mtime_ns == stamp  # the finished file was kept


def test_single_file_and_explicit_dir(corpus, tok, tmp_path):
    (b,) = tokenize_directory(corpus / "b.val", tmp_path / "cache", tok, progress=False)
    assert b == tmp_path / "cache" / "b.val.bin" and b.stat().st_size > 0


def test_bad_inputs(tmp_path, tok, corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty: no \\*.train"):
        tokenize_directory(empty, tokenizer=tok, progress=False)
    with pytest.raises(FileNotFoundError, match="missing: data path not found"):
        tokenize_directory(tmp_path / "missing", tokenizer=tok, progress=False)
    (corpus / "bad.txt").write_bytes(b"fine line\nbad \xff\xfe line\n")
    with pytest.raises(ValueError, match="bad.txt: not UTF-8 text \\(line 2"):
        tokenize_directory(corpus, tokenizer=tok, progress=False)
    huge = pickle.loads(pickle.dumps(tok))
    huge.vocab_size = 70000
    with pytest.raises(ValueError, match="70000 does not fit the uint16"):
        tokenize_directory(corpus, tokenizer=huge, progress=False)


def test_checkpoint_tokenizer_has_one_fallback_rule(tmp_path, tok, monkeypatch):
    """Given > recorded (if still there) > Llama-2's for a checkpoint that records none."""
    import torch

    given = tk.checkpoint_tokenizer(tmp_path / "never_read.pt", tok.model_path)
    assert given.fingerprint == tok.fingerprint
    recorded = tmp_path / "recorded.pt"
    torch.save({"tokenizer": str(tok.model_path)}, recorded)
    assert tk.checkpoint_tokenizer(recorded).fingerprint == tok.fingerprint
    gone = tmp_path / "gone.pt"
    torch.save({"tokenizer": str(tmp_path / "gone.model")}, gone)
    with pytest.raises(FileNotFoundError, match=r"gone.pt: pass --tokenizer .*gone.model"):
        tk.checkpoint_tokenizer(gone)
    course = tmp_path / "course.pt"  # the course's and llama2.c's checkpoints record none
    torch.save({"model": {}, "model_args": {}}, course)
    monkeypatch.setattr(tk, "LLAMA2_TOKENIZER", tok.model_path)
    assert tk.checkpoint_tokenizer(course).fingerprint == tok.fingerprint
    monkeypatch.setattr(tk, "LLAMA2_TOKENIZER", tmp_path / "llama2" / "tokenizer.model")
    with pytest.raises(FileNotFoundError, match="download_data.sh tokenizer"):
        tk.checkpoint_tokenizer(course)


def test_check_vocab_refuses_another_size(tok):
    def model(vocab_size: int) -> SimpleNamespace:
        return SimpleNamespace(config=SimpleNamespace(vocab_size=vocab_size))

    tk.check_vocab(model(tok.vocab_size), tok, "m.pt")
    with pytest.raises(ValueError, match=f"m.pt: the model's vocabulary has {tok.vocab_size + 1} "
                                         f"tokens but the tokenizer's has {tok.vocab_size}"):
        tk.check_vocab(model(tok.vocab_size + 1), tok, "m.pt")
