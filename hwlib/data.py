"""Training blocks over the token cache: uint16 `.bin` files read through np.memmap.

    from hwlib.data import TokenBlocks
    ds = TokenBlocks(tokenize_directory("data/stories"), block_size=256, seed=0)
    x, y = ds.get_batch(ds.order(epoch=0)[:8])        # (8, 256) int64 each, y = x shifted by one

Each file is cut into non-overlapping blocks of block_size + 1 tokens (the last, shorter piece of a
file is dropped), so a block never joins the end of one file to the start of the next. Only the
rows asked for are read from disk: memory does not grow with the corpus.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from hwlib.tokenizer import tokenize_directory

END_OF_TEXT = "<|endoftext|>"  # TinyStories' separator between multi-line stories


class TokenBlocks:
    """Non-overlapping (block_size + 1)-token blocks over uint16 token files, shuffled per epoch."""

    def __init__(self, bin_paths: str | os.PathLike | list, block_size: int, seed: int = 0):
        if isinstance(bin_paths, (str, os.PathLike)):
            bin_paths = [bin_paths]
        if block_size < 1:
            raise ValueError(f"block_size must be at least 1, got {block_size}")
        self.paths = [Path(p) for p in bin_paths]
        self.block_size, self.seed = block_size, seed
        self.token_counts = []
        for path in self.paths:
            if not path.is_file():
                raise FileNotFoundError(f"{path}: token file not found (run tokenize_directory)")
            size = path.stat().st_size
            if size % 2:
                raise ValueError(f"{path}: {size} bytes is not a whole number of uint16 tokens")
            self.token_counts.append(size // 2)
        blocks = [n // (block_size + 1) for n in self.token_counts]
        # offsets[k] = index of file k's first block; a global block index maps to one file
        self.offsets = np.concatenate([[0], np.cumsum(blocks)]).astype(np.int64)
        if self.offsets[-1] == 0:
            files = ", ".join(f"{p} ({n} tokens)" for p, n in zip(self.paths, self.token_counts))
            raise ValueError(f"No pretraining sequences available: {files or 'no token files'}; "
                             f"block_size {block_size} needs {block_size + 1} tokens in one file")
        self._arrays: list | None = None

    @property
    def arrays(self) -> list[np.memmap | None]:
        """The files as read-only memmaps, opened on first use (and again after pickling)."""
        if self._arrays is None:  # np.memmap cannot map an empty file
            self._arrays = [np.memmap(p, dtype=np.uint16, mode="r") if n else None
                            for p, n in zip(self.paths, self.token_counts)]
        return self._arrays

    def __getstate__(self) -> dict:  # DataLoader workers get paths, never a copy of the data
        return {**self.__dict__, "_arrays": None}

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def num_tokens(self) -> int:
        return int(sum(self.token_counts))

    def order(self, epoch: int) -> np.ndarray:
        """A permutation of the block indices, the same for the same (seed, epoch)."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self))

    def get_batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets, int64 (len(indices), block_size); targets are inputs moved by one."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"block index out of range 0..{len(self) - 1}: "
                             f"{idx.min()}..{idx.max()}")
        files = np.searchsorted(self.offsets, idx, side="right") - 1
        span = self.block_size + 1
        rows = np.empty((len(idx), span), dtype=np.int64)
        for r, (k, i) in enumerate(zip(files, idx)):
            start = int(i - self.offsets[k]) * span
            rows[r] = self.arrays[k][start : start + span]
        rows = torch.from_numpy(rows)
        return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One block as ((block_size,), (block_size,)), for a torch DataLoader."""
        x, y = self.get_batch([i])
        return x[0], y[0]

    def __repr__(self) -> str:
        return (f"TokenBlocks({len(self.paths)} files, {self.num_tokens:,} tokens, "
                f"{len(self):,} blocks of {self.block_size}+1)")


SPLIT_SUFFIXES = {"train": (".train",), "val": (".val", ".dev"), "test": (".test",)}


def load_split(path: str | os.PathLike | None, cache: str | os.PathLike | None, split: str,
               block_size: int, seed: int, rank: int = 0, world: int = 1,
               **tokenize) -> TokenBlocks | None:
    """A split's blocks (None without its path), its text tokenized into the cache first.

    A folder holding files with the split's suffix (.train; .val or .dev; .test) gives those,
    else every text file there. Rank 0 tokenizes first, so processes never race on the cache.
    """
    if not path:
        return None
    if rank == 0:
        bins = tokenize_directory(path, cache, **tokenize)
    if world > 1:
        dist.barrier()
        if rank != 0:
            bins = tokenize_directory(path, cache, **{**tokenize, "overwrite": False,
                                                      "progress": False})
    mine = [b for b in bins if Path(b.stem).suffix in SPLIT_SUFFIXES[split]]  # stories.val.bin
    return TokenBlocks(mine or bins, block_size, seed=seed)


def micro_batches(ds: TokenBlocks, epoch: int, start: int, batch_size: int, micro: int,
                  rank: int = 0, world: int = 1, pin: bool = False) -> Iterator[list]:
    """Per update from `start` on: this process's (x, y) micro-batches, strided over processes.

    Update u takes blocks order[u * batch_size : (u + 1) * batch_size] of the epoch's order, cut
    into micro-batches of `micro`; process `rank` of `world` takes every world-th of them.
    """
    order = ds.order(epoch)
    for u in range(start, len(order) // batch_size):
        batch = order[u * batch_size : (u + 1) * batch_size]
        chunks = [batch[i : i + micro] for i in range(0, batch_size, micro)][rank::world]
        pairs = [ds.get_batch(idx) for idx in chunks]
        if pin:  # pinned pages let the copy to the GPU run asynchronously
            pairs = [(x.pin_memory(), y.pin_memory()) for x, y in pairs]
        yield pairs


def prefetch(it: Iterator, depth: int) -> Iterator:
    """Yield from `it`, produced `depth` items ahead by one background thread."""
    if depth <= 0:
        yield from it
        return
    end = object()
    pool = ThreadPoolExecutor(1)  # one worker, so `it` is advanced in order
    try:
        ahead = deque(pool.submit(next, it, end) for _ in range(depth))
        while (item := ahead.popleft().result()) is not end:
            ahead.append(pool.submit(next, it, end))
            yield item
    finally:
        pool.shutdown(cancel_futures=True)


# -------------------------------------------------------------------------------- raw stories
def iter_stories(path: str | os.PathLike, limit: int | None = None) -> Iterator[str]:
    """Stories of a text file, each on one line with whitespace collapsed.

    A file with <|endoftext|> markers (TinyStories' raw files) holds one story between markers;
    any other file holds one story per line. Streams: a 2 GB file is never held in memory.
    """
    count = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        separated = END_OF_TEXT in f.read(1 << 20)
        f.seek(0)
        if separated:
            stories = (" ".join(chunk.split()) for chunk in _between_markers(f))
        else:
            stories = (" ".join(line.split()) for line in f)
        for story in stories:
            if story:
                yield story
                count += 1
                if limit is not None and count >= limit:
                    return


def _between_markers(lines) -> Iterator[str]:
    buf = []
    for line in lines:
        while END_OF_TEXT in line:
            head, line = line.split(END_OF_TEXT, 1)
            yield " ".join(buf) + " " + head
            buf = []
        buf.append(line)
    yield " ".join(buf)
