"""Exact and near-duplicate removal for hwlib.preprocess: MinHash with LSH banding, line dedup.

    from hwlib.preprocess import deduplicate_texts, deduplicate_lines

Exact duplicates are found by hashing a normalised text (case, whitespace and punctuation
removed). Near duplicates follow Broder's MinHash: each text becomes a set of word n-gram
shingles, 128 hash permutations estimate the Jaccard similarity of two sets, and LSH banding
(Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets", ch. 3) proposes candidate pairs, so
the cost is linear in the number of texts instead of quadratic. A candidate counts as a duplicate
when its estimated Jaccard similarity reaches the threshold; the first text of a group is kept.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from collections.abc import Iterable

import numpy as np

DEDUP_THRESHOLD = 0.8  # Jaccard similarity at or above which two texts are near duplicates
NUM_PERM = 128  # MinHash permutations: the estimate's standard error is about 1/sqrt(128) = 0.09
NGRAM = 3  # words per shingle; 3 keeps short texts (a paragraph) comparable
SHINGLE_CHUNK = 4096  # shingles hashed per numpy call, bounding memory on huge documents
_SEED = 1729  # fixed, so signatures agree across processes and runs

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits; punctuation never matters
_U64 = np.uint64
_MAX32 = _U64(0xFFFFFFFF)
_rng = np.random.default_rng(_SEED)
# Multiply-shift hashing: h(x) = (a*x + b mod 2^64) >> 32, with a odd, is a universal family.
_PERM_A = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) * _U64(2) + _U64(1)
_PERM_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
_SHINGLE_MULT = _U64(0x9E3779B97F4A7C15)  # golden-ratio constant for mixing word hashes
_BAND_MULT = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | _U64(1)


def normalize_text(text: str) -> str:
    """Lowercase words joined by single spaces: the form in which exact duplicates are equal."""
    return " ".join(_WORD.findall(text.lower()))


def exact_key(text: str) -> bytes:
    """A 16-byte digest of the normalised text (constant memory per document kept)."""
    return hashlib.blake2b(normalize_text(text).encode("utf-8"), digest_size=16).digest()


def _shingle_hashes(words: list[str], ngram: int) -> np.ndarray:
    """64-bit hashes of every word n-gram, computed for all shingles of a document at once."""
    wh = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in words), np.uint64, len(words))
    if len(wh) < ngram:  # a very short text is one shingle of all its words
        ngram = len(wh)
    n = len(wh) - ngram + 1
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic mod 2^64 is the point
        for k in range(ngram):
            h = h * _SHINGLE_MULT + wh[k : k + n]
        h ^= h >> _U64(31)  # splitmix-style finaliser spreads the bits before permuting
        h *= _U64(0xBF58476D1CE4E5B9)
        h ^= h >> _U64(29)
    return h


def minhash_signature(text: str, num_perm: int = NUM_PERM, ngram: int = NGRAM) -> np.ndarray:
    """The (num_perm,) uint32 MinHash signature of a text's word n-gram shingles."""
    words = _WORD.findall(text.lower())
    sig = np.full(num_perm, 0xFFFFFFFF, dtype=np.uint64)
    if not words:
        return sig.astype(np.uint32)
    shingles = _shingle_hashes(words, ngram)
    a, b = _PERM_A[:num_perm, None], _PERM_B[:num_perm, None]
    with np.errstate(over="ignore"):
        for start in range(0, len(shingles), SHINGLE_CHUNK):
            x = shingles[None, start : start + SHINGLE_CHUNK]
            sig = np.minimum(sig, ((a * x + b) >> _U64(32)).min(axis=1))  # (num_perm,)
    return sig.astype(np.uint32)


def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) for LSH: the fewest candidates that still find 99% of pairs at `threshold`.

    A pair with Jaccard similarity s shares a band with probability 1 - (1 - s^rows)^bands. More
    rows per band means fewer false candidates; we take the most rows whose recall at the
    threshold stays >= 99%, since a missed duplicate costs more than checking one more candidate.
    """
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        if num_perm % rows == 0 and 1.0 - (1.0 - threshold**rows) ** (num_perm // rows) >= 0.99:
            best = (num_perm // rows, rows)
    return best


class DuplicateIndex:
    """Streaming dedup state: feed texts in order; each is new, an exact or a near duplicate.

    Only kept texts enter the index, so memory grows with the documents kept (a 16-byte key, a
    512-byte signature and one integer per band each), never with the texts themselves.
    """

    def __init__(
        self, threshold: float = DEDUP_THRESHOLD, num_perm: int = NUM_PERM, ngram: int = NGRAM
    ):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"dedup threshold must be in (0, 1], got {threshold}")
        self.threshold, self.num_perm, self.ngram = threshold, num_perm, ngram
        self.bands, self.rows = lsh_bands(threshold, num_perm)
        self._band_mult = _BAND_MULT[: self.bands * self.rows].reshape(self.bands, self.rows)
        self._exact: set[bytes] = set()
        self._buckets: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        self._sigs: list[np.ndarray] = []

    def _band_keys(self, sig: np.ndarray) -> list[int]:
        rows = sig[: self.bands * self.rows].astype(np.uint64).reshape(self.bands, self.rows)
        with np.errstate(over="ignore"):
            return (rows * self._band_mult).sum(axis=1).tolist()  # one 64-bit key per band

    def add(self, text: str, key: bytes | None = None, sig: np.ndarray | None = None) -> str:
        """Return "exact", "near" or "new"; a new text is added to the index.

        `key` and `sig` may be precomputed (by worker processes) with exact_key/minhash_signature.
        """
        key = exact_key(text) if key is None else key
        if key in self._exact:
            return "exact"
        if sig is None:
            sig = minhash_signature(text, self.num_perm, self.ngram)
        keys = self._band_keys(sig)
        seen: set[int] = set()
        for band, k in zip(self._buckets, keys):
            for j in band.get(k, ()):
                if j in seen:
                    continue
                seen.add(j)
                if np.count_nonzero(self._sigs[j] == sig) >= self.threshold * self.num_perm:
                    return "near"
        self._exact.add(key)
        doc = len(self._sigs)
        self._sigs.append(sig)
        for band, k in zip(self._buckets, keys):
            band.setdefault(k, []).append(doc)
        return "new"


def deduplicate_texts(
    texts: Iterable[str],
    threshold: float = DEDUP_THRESHOLD,
    num_perm: int = NUM_PERM,
    ngram: int = NGRAM,
) -> list[str]:
    """Drop exact and near duplicates (MinHash + LSH), keeping first occurrences in order."""
    index = DuplicateIndex(threshold, num_perm, ngram)
    return [t for t in texts if index.add(t) == "new"]


def _line_key(line: str) -> str:
    return " ".join(line.split())


def deduplicate_lines(docs: Iterable[str], keep_first: bool = True) -> list[str]:
    """Remove lines repeated across the corpus (site boilerplate), keeping each doc's order.

    keep_first=True follows C4 ("all but one" occurrence survives: the first); keep_first=False
    removes every copy of a repeated line, as CS336's exact line deduplication does. Lines are
    compared after collapsing whitespace; empty lines are dropped. Returns one entry per doc.
    """
    docs = list(docs)
    split = [[_line_key(x) for x in d.splitlines() if x.strip()] for d in docs]
    if keep_first:
        dedup = LineDeduplicator()
        return [dedup.filter_lines(lines) for lines in split]
    counts = Counter(line for lines in split for line in lines)
    return ["\n".join(x for x in lines if counts[x] == 1) for lines in split]


class LineDeduplicator:
    """Streaming C4-style line dedup: a line survives only where it first appears."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def filter_lines(self, lines: list[str]) -> str:
        kept = []
        for line in lines:
            h = hash(line)  # never leaves this process, so the salted str hash is fine
            if h not in self._seen:
                self._seen.add(h)
                kept.append(line)
        return "\n".join(kept)

    def filter(self, text: str) -> str:
        return self.filter_lines([_line_key(x) for x in text.splitlines() if x.strip()])
