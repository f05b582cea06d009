"""Exact and near-duplicate removal for hwlib.preprocess: MinHash with LSH banding, line dedup.

    from hwlib.dedup import deduplicate_texts, deduplicate_lines

Exact duplicates are found by hashing a normalised text (case, whitespace and punctuation
removed). Near duplicates follow Broder's MinHash: each text becomes a set of word n-gram
shingles, 128 hash permutations estimate the Jaccard similarity of two sets, and LSH banding
(Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets", ch. 3) proposes candidate pairs, so
the cost is linear in the number of texts instead of quadratic. A candidate counts as a duplicate
when its estimated Jaccard similarity reaches the threshold; the first text of a group is kept.

`rules="course"` is the course's topic-dataset rule instead: two texts are duplicates when the
Jaccard similarity of their sets of words (unigrams) is at least 0.5, checked exactly on every
candidate pair that MinHash proposes (129 of the course's 219 texts stay). The kit's default
(3-word shingles, 0.8, estimated) only catches copies that share whole phrases, which is what a
web crawl repeats; the course's rule also drops paraphrases on the same topic.
"""

from __future__ import annotations

import functools
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
_SHINGLE_MULT = _U64(0x9E3779B97F4A7C15)  # golden-ratio constant for mixing word hashes
# rules -> (threshold, ngram, exact Jaccard check of candidates)
DEDUP_RULES = {"kit": (DEDUP_THRESHOLD, NGRAM, False), "course": (0.5, 1, True)}


@functools.lru_cache(maxsize=8)
def _hash_params(num_perm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, band multipliers) for `num_perm` permutations, the same in every process.

    Multiply-shift hashing: h(x) = (a*x + b mod 2^64) >> 32, with a odd, is a universal family.
    The first 128 of each are what they always were, so stored signatures stay comparable.
    """
    if not (isinstance(num_perm, (int, np.integer)) and num_perm > 0):
        raise ValueError(f"num_perm must be a positive integer, got {num_perm!r}")
    parts = [_draw(np.random.default_rng(_SEED), NUM_PERM)]
    if num_perm > NUM_PERM:  # more hashes come from a second stream, after the first 128
        parts.append(_draw(np.random.default_rng([_SEED, 1]), num_perm - NUM_PERM))
    a, b, band = (np.concatenate(p) for p in zip(*parts))
    return a[:num_perm], b[:num_perm], band[:num_perm]


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


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = rng.integers(1, 2**63, size=n, dtype=np.uint64) * _U64(2) + _U64(1)  # odd
    b = rng.integers(0, 2**63, size=n, dtype=np.uint64)
    return a, b, rng.integers(1, 2**63, size=n, dtype=np.uint64) | _U64(1)


def minhash_signature(text: str, num_perm: int = NUM_PERM, ngram: int = NGRAM) -> np.ndarray:
    """The (num_perm,) uint32 MinHash signature of a text's word n-gram shingles."""
    return _signature(_shingles(text, ngram), num_perm)


def _shingles(text: str, ngram: int) -> np.ndarray:
    words = _WORD.findall(text.lower())
    return _shingle_hashes(words, ngram) if words else np.zeros(0, dtype=np.uint64)


def _signature(shingles: np.ndarray, num_perm: int) -> np.ndarray:
    a, b, _ = _hash_params(num_perm)
    a, b = a[:, None], b[:, None]
    sig = np.full(num_perm, 0xFFFFFFFF, dtype=np.uint64)
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
    bands * rows may be less than num_perm (the last few hashes then only serve the estimate).
    """
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands >= 0.99:
            best = (bands, rows)
    return best


class DuplicateIndex:
    """Streaming dedup state: feed texts in order; each is new, an exact or a near duplicate.

    Only kept texts enter the index, so memory grows with the documents kept (a 16-byte key, a
    512-byte signature and one integer per band each), never with the texts themselves; with
    `exact=True` each kept text's shingle set is kept too, to check candidates exactly.
    """

    def __init__(
        self,
        threshold: float = DEDUP_THRESHOLD,
        num_perm: int = NUM_PERM,
        ngram: int = NGRAM,
        exact: bool = False,
    ):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"dedup threshold must be in (0, 1], got {threshold}")
        self.threshold, self.num_perm, self.ngram, self.exact = threshold, num_perm, ngram, exact
        self.bands, self.rows = lsh_bands(threshold, num_perm)
        band_mult = _hash_params(num_perm)[2]
        self._band_mult = band_mult[: self.bands * self.rows].reshape(self.bands, self.rows)
        self._exact: set[bytes] = set()
        self._buckets: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        self._sigs = np.empty((0, num_perm), dtype=np.uint32)  # row i: kept text i's signature
        self._n = 0
        self._sets: list[frozenset] = []  # exact=True: each kept text's shingle hashes

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
        hashes = _shingles(text, self.ngram) if self.exact or sig is None else None
        if sig is None:
            sig = _signature(hashes, self.num_perm)
        shingles = frozenset(hashes.tolist()) if self.exact else None
        keys = self._band_keys(sig)
        cands: list[int] = []
        for band, k in zip(self._buckets, keys):
            cands.extend(band.get(k, ()))
        if cands and self._any_similar(np.unique(np.array(cands)), sig, shingles):
            return "near"
        self._exact.add(key)
        doc = self._n
        self._store(sig)
        if shingles is not None:
            self._sets.append(shingles)
        for band, k in zip(self._buckets, keys):
            band.setdefault(k, []).append(doc)
        return "new"

    def _store(self, sig: np.ndarray) -> None:
        if self._n == len(self._sigs):  # grow by doubling: amortised O(1) per text
            grown = np.empty((max(64, 2 * self._n), self.num_perm), dtype=np.uint32)
            grown[: self._n] = self._sigs[: self._n]
            self._sigs = grown
        self._sigs[self._n] = sig
        self._n += 1

    def _any_similar(self, cands: np.ndarray, sig: np.ndarray, shingles) -> bool:
        """True when a candidate reaches the threshold: estimated, or checked exactly."""
        agree = np.count_nonzero(self._sigs[cands] == sig, axis=1) / self.num_perm
        if shingles is None:
            return bool((agree >= self.threshold).any())
        # The estimate only screens: a pair at the threshold estimates this low with
        # probability < 1e-4 (4 standard errors at 128 hashes), and the set check decides.
        close = agree >= self.threshold - 4 * 0.5 / self.num_perm**0.5
        for j in cands[close][np.argsort(-agree[close], kind="stable")].tolist():  # likeliest first
            other = self._sets[j]
            union = len(shingles | other)
            if union and len(shingles & other) >= self.threshold * union:
                return True
        return False


def deduplicate_texts(
    texts: Iterable[str],
    threshold: float | None = None,
    num_perm: int = NUM_PERM,
    ngram: int | None = None,
    rules: str = "kit",
) -> list[str]:
    """Drop exact and near duplicates (MinHash + LSH), keeping first occurrences in order.

    `rules="course"`: word-set Jaccard >= 0.5, checked exactly (the course's topic-dataset rule);
    `threshold` and `ngram` override the preset's.
    """
    index = dedup_index(rules, threshold, num_perm, ngram)
    return [t for t in texts if index.add(t) == "new"]


def dedup_index(
    rules: str = "kit",
    threshold: float | None = None,
    num_perm: int = NUM_PERM,
    ngram: int | None = None,
) -> DuplicateIndex:
    """A DuplicateIndex for the named preset ("kit" or "course"), with optional overrides."""
    if rules not in DEDUP_RULES:
        raise ValueError(f"unknown dedup rules {rules!r}; use one of {sorted(DEDUP_RULES)}")
    t, n, exact = DEDUP_RULES[rules]
    return DuplicateIndex(t if threshold is None else threshold, num_perm, ngram or n, exact)


def _line_key(line: str) -> str:
    return " ".join(line.split())


def deduplicate_lines(docs: Iterable[str], keep_first: bool = True) -> list[str]:
    """Remove lines repeated across the corpus (site boilerplate), keeping each doc's order.

    keep_first=True follows C4 ("all but one" occurrence survives: the first); keep_first=False
    removes every copy of a repeated line, as CS336's exact line deduplication does. Lines are
    compared after collapsing whitespace, but a kept line is kept byte for byte (indentation,
    its line ending); blank lines are dropped. Returns one entry per doc.
    """
    docs = list(docs)
    if keep_first:
        dedup = LineDeduplicator()
        return [dedup.filter(d) for d in docs]
    counts = Counter(_line_key(x) for d in docs for x in d.splitlines() if x.strip())
    return [_keep_lines(d, lambda key: counts[key] == 1) for d in docs]


def _keep_lines(doc: str, keep) -> str:
    """The lines of `doc` whose whitespace-collapsed key `keep` accepts, unchanged."""
    kept = "".join(x for x in doc.splitlines(keepends=True) if x.strip() and keep(_line_key(x)))
    if not doc.endswith(("\n", "\r")):  # the last kept line got no line end it did not have
        kept = kept.rstrip("\r\n")
    return kept


class LineDeduplicator:
    """Streaming C4-style line dedup: a line survives only where it first appears."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def _first(self, key: str) -> bool:
        h = hash(key)  # never leaves this process, so the salted str hash is fine
        if h in self._seen:
            return False
        self._seen.add(h)
        return True

    def filter(self, text: str) -> str:
        """`text` without the lines seen in earlier texts (or earlier in this one)."""
        return _keep_lines(text, self._first)
