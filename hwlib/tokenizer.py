"""SentencePiece tokenizers and the token cache: text files become uint16 `.bin` token files.

    python -m hwlib.tokenizer train --input data/stories/stories.train --vocab_size 4096 \
        --model_prefix runs/tokenizers/tok4096
    python -m hwlib.tokenizer tokenize --data_path data/stories \
        --tokenizer runs/tokenizers/tok4096.model

The cache follows the course: every `*.train, *.val, *.test, *.txt, *.dev` file of a directory is
read line by line, each line becomes BOS ... EOS (so a model learns where a story ends), and the
lines of one file become one `<file>.bin` (uint16) beside a `metadata.json` the course's reader
reads ({"dtype": "uint16", "files": [{"source", "token_file", "token_count", ...}]}, plus a
version). The cache is reused until a source file, the tokenizer or the line layout changes (a
cache written the old way, BOS only, is rebuilt). Encoding streams through a process pool in
chunks, so memory does not grow with the corpus.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import sentencepiece as spm
from tqdm.auto import tqdm

from hwlib.utils import DATA_DIR, REPO_ROOT, atomic_write, require_file, safe_torch_load

TEXT_SUFFIXES = (".train", ".val", ".test", ".txt", ".dev")
LLAMA2_TOKENIZER = DATA_DIR / "llama2" / "tokenizer.model"
METADATA = "metadata.json"
CHUNK_CHARS = 1 << 20  # text per pool task: large enough to hide pickling, small enough to stream
MAX_UINT16_VOCAB = 65535  # the course's .bin files are uint16
# Version 2: every line BOS ... EOS, like the course. Version 1 (no "layout" key) wrote BOS only.
CACHE_VERSION, LINE_LAYOUT = 2, "bos ids eos"


class Tokenizer:
    """A SentencePiece model (the Llama-2 tokenizer.model or one from `train_tokenizer`)."""

    def __init__(self, model_path: str | os.PathLike = LLAMA2_TOKENIZER):
        # only the Llama-2 model comes from download_data.sh; our own come from train_tokenizer
        llama = Path(model_path).name == "tokenizer.model"
        self.model_path = require_file(model_path, "tokenizer" if llama else None)
        self._load(self.model_path.read_bytes())

    def _load(self, proto: bytes) -> None:
        self._proto = proto
        self.sp = spm.SentencePieceProcessor()
        loaded = False
        if proto:
            try:
                self.sp.LoadFromSerializedProto(proto)
                loaded = self.sp.vocab_size() > 0
            except Exception:  # the library's message is a C++ assertion, not useful to a reader
                pass
        if not loaded:
            raise ValueError(f"{self.model_path}: not a SentencePiece model (corrupt or other)")
        self.vocab_size: int = self.sp.vocab_size()
        self.bos_id: int = self.sp.bos_id()
        self.eos_id: int = self.sp.eos_id()
        self.pad_id: int = self.sp.pad_id()
        self.fingerprint: str = hashlib.sha256(proto).hexdigest()

    def __getstate__(self) -> dict:  # pool workers get the model's bytes, not the C++ object
        return {"model_path": self.model_path, "proto": self._proto}

    def __setstate__(self, state: dict) -> None:
        self.model_path = state["model_path"]
        self._load(state["proto"])

    def __repr__(self) -> str:
        return f"Tokenizer({str(self.model_path)!r}, vocab_size={self.vocab_size})"

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        """Token ids of `text`, with BOS in front and EOS at the end when asked (Llama's way)."""
        ids = self.sp.encode(text)
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a list of ids; BOS/EOS/pad ids are dropped by SentencePiece."""
        return self.sp.decode([int(i) for i in ids])

    def encode_lines(self, lines: list[str], num_threads: int = 1) -> np.ndarray:
        """One uint16 stream for many lines: each stripped non-blank line as [BOS] + ids + [EOS]."""
        lines = [s for s in (line.strip() for line in lines) if s]
        flat: list[int] = []  # one Python list, one conversion: faster than filling numpy slices
        for ids in self.sp.encode(lines, num_threads=num_threads):
            flat.append(self.bos_id)
            flat.extend(ids)
            flat.append(self.eos_id)
        return np.array(flat, dtype=np.uint16)


def load_tokenizer(path: str | os.PathLike | None = None) -> Tokenizer:
    """The tokenizer at `path`, by default Llama-2's (a missing one names its download target)."""
    return Tokenizer(path or LLAMA2_TOKENIZER)


def checkpoint_tokenizer(checkpoint: str | os.PathLike, path: str | os.PathLike | None = None
                         ) -> Tokenizer:
    """`path` if given, else the tokenizer a checkpoint recorded at training time.

    The one fallback rule: a checkpoint that records no tokenizer (the course's, llama2.c's) was
    trained with Llama-2's; one that records a file no longer there is refused, since another
    tokenizer of the same size would decode its ids into other text without any error.
    """
    if path is not None:
        return Tokenizer(path)
    ck = safe_torch_load(require_file(checkpoint))
    recorded = ck.get("tokenizer") if isinstance(ck, dict) else None  # else refused when loaded
    if recorded is None:
        return load_tokenizer(None)
    if not isinstance(recorded, str) or not Path(recorded).exists():
        raise FileNotFoundError(f"{checkpoint}: pass --tokenizer (the checkpoint records "
                                f"{recorded!r}, which is not there)")
    return Tokenizer(recorded)


def check_vocab(model, tok: Tokenizer, source) -> None:
    """Refuse a model (anything with config.vocab_size) whose vocabulary is not the tokenizer's."""
    if model.config.vocab_size != tok.vocab_size:
        raise ValueError(f"{source}: the model's vocabulary has {model.config.vocab_size} tokens "
                         f"but the tokenizer's has {tok.vocab_size}; pass the matching --tokenizer")


def _input_lines(files: list[Path]) -> Iterator[str]:
    for path in files:
        for _, lines, _, _ in _chunks([path]):
            yield from (s for s in (line.strip() for line in lines) if s)


def train_tokenizer(
    input_files: str | os.PathLike | Iterable[str | os.PathLike],
    vocab_size: int = 4096,
    model_prefix: str | os.PathLike | None = None,
    **kw,
) -> Path:
    """Train a byte-fallback BPE SentencePiece model like Llama-2's; return `<prefix>.model`.

    Same settings as the Llama-2 tokenizer (ids unk=0, bos=1, eos=2, no pad; digits split; bytes
    for unseen characters; text kept as is, whitespace included). `kw` overrides any trainer option.
    """
    if isinstance(input_files, (str, os.PathLike)):
        input_files = [input_files]
    files = [require_file(f) for f in input_files]
    prefix = Path(model_prefix or REPO_ROOT / "runs" / "tokenizers" / f"tok{vocab_size}")
    options = dict(
        model_type="bpe", vocab_size=vocab_size, byte_fallback=True, split_digits=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, allow_whitespace_only_pieces=True,
        character_coverage=0.99995,  # Llama-2's: rarer characters are spelled in bytes
        # the first 2M lines, in file order: shuffling would draw from an unseeded generator
        input_sentence_size=2_000_000, shuffle_input_sentence=False,
        max_sentence_length=4192, num_threads=min(4, os.cpu_count() or 1), minloglevel=2,
    )
    options.update(kw)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=_input_lines(files), model_writer=model,
                                       **options)
    except (RuntimeError, ValueError) as e:  # keep the reason, drop the C++ file and line
        reason = str(e).strip().splitlines()[0].split("] ")[-1]
        names = ", ".join(str(f) for f in files)
        msg = f"{names}: cannot train a {vocab_size}-piece tokenizer: {reason}"
        raise ValueError(msg) from None
    path = Path(f"{prefix}.model")
    with atomic_write(path) as f:
        f.write(model.getvalue())
    tok = Tokenizer(path)  # the .vocab file is for reading only: piece and score per line
    vocab = "".join(f"{tok.sp.id_to_piece(i)}\t{tok.sp.get_score(i):g}\n"
                    for i in range(tok.vocab_size))
    with atomic_write(f"{prefix}.vocab", "w") as f:
        f.write(vocab)
    return path


def find_text_files(data_path: str | os.PathLike) -> list[Path]:
    """The course's text files in a directory (sorted), or the single file given."""
    path = Path(data_path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: data path not found")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in TEXT_SUFFIXES)
    if not files:
        raise ValueError(f"{path}: no *.train, *.val, *.test, *.txt or *.dev files to tokenize")
    return files


def read_metadata(tokenized_dir: str | os.PathLike) -> dict[str, dict]:
    """The cache's entries by token file name ({} when there is no readable metadata.json)."""
    try:
        meta = json.loads((Path(tokenized_dir) / METADATA).read_text(encoding="utf-8"))
        return {e["token_file"]: e for e in meta["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_metadata(tokenized_dir: Path, entries: dict[str, dict]) -> None:
    meta = {"dtype": "uint16", "files": [entries[k] for k in sorted(entries)],
            "format": "hwlib-token-cache", "version": CACHE_VERSION, "layout": LINE_LAYOUT}
    with atomic_write(tokenized_dir / METADATA, "w") as f:
        f.write(json.dumps(meta, indent=2) + "\n")


def _is_fresh(entry: dict | None, src: Path, tok: Tokenizer, tokenized_dir: Path) -> bool:
    if not entry:
        return False
    st, bin_path = src.stat(), tokenized_dir / entry["token_file"]
    return (entry.get("source") == str(src.resolve())
            and entry.get("layout") == LINE_LAYOUT  # older caches: BOS only, rebuilt
            and entry.get("tokenizer_fingerprint") == tok.fingerprint
            and entry.get("source_size") == st.st_size
            and entry.get("source_mtime_ns") == st.st_mtime_ns
            and bin_path.is_file() and bin_path.stat().st_size == 2 * entry.get("token_count", -1))


def _chunks(files: list[Path]) -> Iterator[tuple[int, list[str], int, bool]]:
    """(file index, lines, characters, is last chunk of the file), reading lazily in order."""
    for i, path in enumerate(files):
        lines, chars = [], 0
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    lines.append(line)
                    chars += len(line)
                    if chars >= CHUNK_CHARS:
                        yield i, lines, chars, False
                        lines, chars = [], 0
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 text (line {_first_bad_line(path)}: {e.reason})"
                             ) from None
        yield i, lines, chars, True


def _first_bad_line(path: Path) -> int:
    """Line number of the first undecodable line (the decoder reads ahead in blocks)."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return 0


_worker_tokenizer: Tokenizer | None = None


def _init_worker(tok: Tokenizer) -> None:
    global _worker_tokenizer
    _worker_tokenizer = tok


def _encode_in_worker(lines: list[str]) -> np.ndarray:
    return _worker_tokenizer.encode_lines(lines)


def tokenize_directory(
    data_path: str | os.PathLike,
    tokenized_dir: str | os.PathLike | None = None,
    tokenizer: Tokenizer | str | os.PathLike | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """Tokenize every text file of `data_path` into `<tokenized_dir>/<file>.bin`; return the paths.

    `tokenized_dir` defaults to `<data_path>/tokenized` (the course's), `tokenizer` to the Llama-2
    model in data/llama2/. Files whose source and tokenizer are unchanged are reused unless
    `overwrite`. Each .bin is renamed into place only when complete, and metadata.json is updated
    after each file, so an interrupted run keeps the finished files and redoes the rest.
    """
    files = find_text_files(data_path)
    base = Path(data_path) if Path(data_path).is_dir() else Path(data_path).parent
    out_dir = Path(tokenized_dir) if tokenized_dir else base / "tokenized"
    tok = tokenizer
    if not isinstance(tok, Tokenizer):
        tok = Tokenizer(tokenizer or LLAMA2_TOKENIZER)
    if tok.vocab_size > MAX_UINT16_VOCAB:
        raise ValueError(f"{tok.model_path}: vocabulary of {tok.vocab_size} does not fit the "
                         f"uint16 token files (at most {MAX_UINT16_VOCAB})")
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = read_metadata(out_dir)
    bins = [out_dir / f"{src.name}.bin" for src in files]
    todo = [i for i, (src, b) in enumerate(zip(files, bins))
            if overwrite or not _is_fresh(entries.get(b.name), src, tok, out_dir)]
    if not todo:
        return bins
    stale = [files[i] for i in todo]
    workers = max(1, os.cpu_count() or 1) if workers is None else max(1, workers)
    total = sum(p.stat().st_size for p in stale)
    pool = None
    if workers > 1 and total > CHUNK_CHARS:  # a pool only pays off with several chunks
        pool = multiprocessing.get_context().Pool(workers, _init_worker, (tok,))
    pending: collections.deque = collections.deque()
    handles: dict[int, tuple] = {}
    counts = collections.Counter()
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="tokenize", disable=not progress)

    def drain_one() -> None:
        j, result, chars, last = pending.popleft()
        ids = result.get() if pool else result
        if j not in handles:
            fd, tmp = tempfile.mkstemp(prefix=f".{bins[todo[j]].name}.", suffix=".tmp", dir=out_dir)
            handles[j] = (os.fdopen(fd, "wb"), tmp)
        f, tmp = handles[j]
        f.write(ids.tobytes())
        counts[j] += len(ids)
        bar.update(chars)
        if last:
            f.close()
            os.replace(tmp, bins[todo[j]])
            del handles[j]
            src = stale[j]
            st = src.stat()
            entries[bins[todo[j]].name] = {
                "source": str(src.resolve()), "token_file": bins[todo[j]].name,
                "token_count": counts[j], "layout": LINE_LAYOUT,
                "tokenizer_fingerprint": tok.fingerprint,
                "tokenizer_path": str(tok.model_path), "vocab_size": tok.vocab_size,
                "source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns,
            }
            _write_metadata(out_dir, entries)

    try:
        for j, lines, chars, last in _chunks(stale):
            if pool:
                result = pool.apply_async(_encode_in_worker, (lines,))
            else:
                result = tok.encode_lines(lines, num_threads=1)
            pending.append((j, result, chars, last))
            while len(pending) > 2 * workers:  # bounded look-ahead keeps memory flat
                drain_one()
        while pending:
            drain_one()
    finally:
        bar.close()
        if pool:
            pool.terminate()
        for f, tmp in handles.values():  # an interrupted file never reaches its .bin name
            f.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return bins


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Train a tokenizer or tokenize a data directory.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a BPE SentencePiece model")
    t.add_argument("--input", nargs="+", required=True, help="text files, one sentence per line")
    t.add_argument("--vocab_size", type=int, default=4096)
    t.add_argument("--model_prefix", default=None, help="writes <prefix>.model and <prefix>.vocab")
    k = sub.add_parser("tokenize", help="cache *.train/*.val/*.test/*.txt/*.dev as uint16 .bin")
    k.add_argument("--data_path", required=True)
    k.add_argument("--tokenized_dir", default=None)
    k.add_argument("--tokenizer", default=str(LLAMA2_TOKENIZER))
    k.add_argument("--overwrite_tokenized", action="store_true")
    k.add_argument("--workers", type=int, default=None)
    args = p.parse_args(argv)
    try:
        if args.command == "train":
            path = train_tokenizer(args.input, args.vocab_size, args.model_prefix)
            print(f"wrote {path} ({Tokenizer(path).vocab_size} pieces)")
            return
        bins = tokenize_directory(args.data_path, args.tokenized_dir, args.tokenizer,
                                  args.overwrite_tokenized, args.workers)
    except (OSError, ValueError) as e:  # bad input: one line, no traceback
        raise SystemExit(f"error: {e}") from None
    meta = read_metadata(bins[0].parent)
    for b in bins:
        print(f"{b}: {meta[b.name]['token_count']:,} tokens")


if __name__ == "__main__":
    main()
