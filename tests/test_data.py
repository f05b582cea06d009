"""hwlib.data: TokenBlocks (boundaries, targets, order, memmap, bad input), batches, stories."""

import pickle

import numpy as np
import pytest
import torch

from hwlib.data import TokenBlocks, iter_stories, prefetch


@pytest.fixture
def two_files(tmp_path):
    """File a holds 0..24 (25 tokens), file b holds 1000..1011 (12 tokens)."""
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    np.arange(25, dtype=np.uint16).tofile(a)
    np.arange(1000, 1012, dtype=np.uint16).tofile(b)
    return [a, b]


def test_blocks_never_straddle_files(two_files):
    ds = TokenBlocks(two_files, block_size=4)
    assert len(ds) == 25 // 5 + 12 // 5 == 7
    x, y = ds.get_batch(np.arange(7))
    assert x.dtype == y.dtype == torch.int64 and x.shape == y.shape == (7, 4)
    assert x[0].tolist() == [0, 1, 2, 3] and y[0].tolist() == [1, 2, 3, 4]
    assert x[4].tolist() == [20, 21, 22, 23] and y[4].tolist() == [21, 22, 23, 24]
    assert x[5].tolist() == [1000, 1001, 1002, 1003]  # b starts fresh, not a's tail
    assert x[6].tolist() == [1005, 1006, 1007, 1008] and y[6].tolist() == [1006, 1007, 1008, 1009]
    assert torch.equal(x[:, 1:], y[:, :-1])
    xi, yi = ds[5]
    assert torch.equal(xi, x[5]) and torch.equal(yi, y[5])


def test_batches_in_any_order(two_files):
    ds = TokenBlocks(two_files, block_size=4)
    x, _ = ds.get_batch([6, 0, 6])
    assert x[:, 0].tolist() == [1005, 0, 1005]
    with pytest.raises(IndexError):
        ds.get_batch([7])


def test_order_is_a_seeded_permutation_per_epoch(two_files):
    ds = TokenBlocks(two_files, block_size=1, seed=3)  # 12 + 6 = 18 blocks
    o0, o1 = ds.order(0), ds.order(1)
    assert sorted(o0.tolist()) == list(range(len(ds))) == sorted(o1.tolist())
    assert not np.array_equal(o0, o1)
    assert np.array_equal(o0, TokenBlocks(two_files, block_size=1, seed=3).order(0))
    assert not np.array_equal(o0, TokenBlocks(two_files, block_size=1, seed=4).order(0))


def test_memmap_and_pickle_without_the_data(two_files, tmp_path):
    big = tmp_path / "big.bin"
    np.zeros(200_000, dtype=np.uint16).tofile(big)
    ds = TokenBlocks([big, *two_files], block_size=4)
    assert all(isinstance(a, np.memmap) for a in ds.arrays)
    blob = pickle.dumps(ds)
    assert len(blob) < 10_000  # paths and offsets, not 400 kB of tokens
    copy = pickle.loads(blob)
    assert torch.equal(copy.get_batch([len(ds) - 1])[0], ds.get_batch([len(ds) - 1])[0])


def test_no_blocks_names_files_counts_and_block_size(two_files):
    with pytest.raises(ValueError) as e:
        TokenBlocks(two_files, block_size=25)
    msg = str(e.value)
    assert msg.startswith("No pretraining sequences available: ") and "\n" not in msg
    assert "a.bin (25 tokens)" in msg and "b.bin (12 tokens)" in msg and "block_size 25" in msg


def test_empty_and_bad_files(tmp_path, two_files):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert len(TokenBlocks([empty, two_files[0]], block_size=4)) == 5
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"abc")
    with pytest.raises(ValueError, match="odd.bin"):
        TokenBlocks([odd], block_size=1)
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        TokenBlocks([tmp_path / "missing.bin"], block_size=1)


def test_iter_stories_reads_both_layouts(tmp_path):
    raw = tmp_path / "raw.txt"  # TinyStories' raw layout: stories between markers
    raw.write_text("Tom had a ball.\nHe liked it.\n<|endoftext|>\nSue had a  cat.\n\n"
                   "The cat slept.\n<|endoftext|>\n<|endoftext|>\nMax ran.")
    assert list(iter_stories(raw)) == ["Tom had a ball. He liked it.",
                                       "Sue had a cat. The cat slept.", "Max ran."]
    assert list(iter_stories(raw, limit=2)) == ["Tom had a ball. He liked it.",
                                                "Sue had a cat. The cat slept."]
    lines = tmp_path / "s.val"
    lines.write_text("One  story.\n\nTwo story.\n")
    assert list(iter_stories(lines)) == ["One story.", "Two story."]
    # a marker that shares a line with text still separates
    inline = tmp_path / "inline.txt"
    inline.write_text("A b.<|endoftext|>C d.\n")
    assert list(iter_stories(inline)) == ["A b.", "C d."]


def test_prefetch_keeps_order_and_stops_early():
    for depth in (0, 1, 3):
        assert list(prefetch(iter(range(10)), depth)) == list(range(10))
    it = prefetch(iter(range(10)), 2)
    assert next(it) == 0
    it.close()  # a loop that breaks early leaves no thread behind
