"""Benchmarks of the data stages: tokenizing, cleaning web pages, the datatrove pipeline.

    python -m hwlib.bench tokenize | preprocess | scale [options]
"""

from __future__ import annotations


def bench_tokenize(argv: list[str]) -> None:
    """tokenize_directory throughput with 1 and N pool workers on the bundled stories, repeated."""
    import argparse
    import os
    import tempfile
    import time
    from pathlib import Path

    from hwlib.tokenizer import Tokenizer, tokenize_directory, train_tokenizer
    from hwlib.utils import DATA_DIR

    p = argparse.ArgumentParser(prog="python -m hwlib.bench tokenize")
    p.add_argument("--mb", type=float, default=8.0, help="corpus size (the stories repeated)")
    p.add_argument("--files", type=int, default=4, help="the corpus is split over this many files")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--tokenizer", default=None, help=".model (default: 4096-piece BPE on stories)")
    a = p.parse_args(argv)
    stories_dir = DATA_DIR / "stories"
    text = "".join((stories_dir / f"stories.{s}").read_text("utf-8") for s in ("train", "val"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok_path = a.tokenizer or train_tokenizer(stories_dir / "stories.train", 4096, tmp / "t")
        tok = Tokenizer(tok_path)
        corpus = tmp / "corpus"
        corpus.mkdir()
        copies = max(1, round(a.mb * 1e6 / a.files / len(text)))
        for i in range(a.files):
            (corpus / f"part{i}.txt").write_text(text * copies, encoding="utf-8")
        size = sum(f.stat().st_size for f in corpus.iterdir())
        print(f"tokenize: {a.files} files, {size / 1e6:.1f} MB, {tok}, {os.cpu_count()} cores")
        for w in sorted({1, a.workers}):
            t0 = time.perf_counter()
            bins = tokenize_directory(corpus, tmp / f"out{w}", tok, True, w, progress=False)
            dt = time.perf_counter() - t0
            n = sum(b.stat().st_size for b in bins) // 2
            print(f"  workers {w:2d}: {n / dt:12,.0f} tokens/s  {size / dt / 1e6:6.1f} MB/s  "
                  f"({n:,} tokens in {dt:.2f} s)")
        t0 = time.perf_counter()
        tokenize_directory(corpus, tmp / f"out{w}", tok, workers=w, progress=False)
        print(f"  cache hit (unchanged sources): {1e3 * (time.perf_counter() - t0):.1f} ms")


def bench_preprocess(argv: list[str]) -> None:
    """Records/s per worker for the whole pipeline and per stage; dedup on 10k and 100k texts."""
    import argparse
    import os
    import random
    import tempfile
    import time
    from pathlib import Path

    from hwlib import preprocess as pp
    from hwlib import dedup, extract, quality, warc
    from hwlib.utils import DATA_DIR

    p = argparse.ArgumentParser(prog="python -m hwlib.bench preprocess")
    p.add_argument("warc", nargs="?", default=str(DATA_DIR / "sample.warc.gz"))
    p.add_argument("--min_records", type=int, default=1000, help="repeat the file up to this")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--extractor", default="bs4")
    p.add_argument("--dedup_sizes", default="10000,100000")
    a = p.parse_args(argv)

    raw = Path(a.warc).read_bytes()
    per_copy = sum(1 for _ in warc.iter_records(a.warc))
    copies = max(1, -(-a.min_records // max(per_copy, 1)))
    with tempfile.TemporaryDirectory() as d:
        # Concatenated .warc.gz files are one valid multi-member .warc.gz.
        big = Path(d) / ("big.warc.gz" if a.warc.endswith(".gz") else "big.warc")
        big.write_bytes(raw * copies)
        n = per_copy * copies
        print(f"{a.warc}: {per_copy} response records x {copies} copies = {n} records")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              "per CPU-second rates are less affected by other processes")
        for workers in sorted({1, a.workers}):
            t0, c0 = time.perf_counter(), _cpu_seconds()
            stats = pp.run_pipeline(fname=str(big), output=None, dfname=None, workers=workers,
                                    num_records=None, extractor=a.extractor, progress=False)
            dt, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
            print(f"  full pipeline, {workers} worker(s): {n / dt:8.1f} records/s wall "
                  f"({n / dt / workers:.1f} per worker), {n / cpu:.1f} records per CPU-second; "
                  f"{stats['html']} pages, {stats['deduplicated']} kept, {dt:.2f} s")

    # Per stage, one process; each rate counts the records that reach that stage.
    records = [r for r in warc.iter_records(a.warc) if r[0] == "html"] * copies
    rules = quality.QualityRules(bad_word_list=quality.load_bad_words())
    quality.english_probability("warm up the model")
    stages = ["decode+extract", "clean", "pii", "quality", "english", "minhash"]
    took, seen = dict.fromkeys(stages, 0.0), dict.fromkeys(stages, 0)

    def timed(name, fn, *args):
        t0 = time.process_time()
        out = fn(*args)
        took[name] += time.process_time() - t0
        seen[name] += 1
        return out

    for _, _, html, charset in records:
        text = timed("decode+extract", lambda: extract.html_to_text(html, charset, a.extractor))
        text = timed("clean", quality.clean_text, text)
        if not text:
            continue
        text = timed("pii", quality.replace_pii, text)
        if timed("quality", quality.failed_rules, text, rules):
            continue
        if timed("english", quality.english_probability, text) < quality.ENGLISH_THRESHOLD:
            continue
        timed("minhash", dedup.minhash_signature, text)
    print("  per stage (1 process, CPU time):")
    for name in stages:
        rate = seen[name] / took[name] if took[name] else float("inf")
        print(f"    {name:<15} {rate:10.1f} records/s  ({seen[name]} records, "
              f"{1000 * took[name] / max(seen[name], 1):.3f} ms each)")

    # Dedup: short synthetic texts, 10% of them near copies of an earlier one.
    vocab = sorted({w.lower().strip(".,;:") for _, paras in _articles() for para in paras
                    for w in para.split()})
    for size in (int(s) for s in a.dedup_sizes.split(",") if s):
        rng = random.Random(0)
        texts = []
        for i in range(size):
            if i > 10 and rng.random() < 0.1:
                words = texts[rng.randrange(i)].split()
                words[rng.randrange(len(words))] = rng.choice(vocab)
                texts.append(" ".join(words))
            else:
                texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(15, 40))))
        t0 = time.perf_counter()
        kept = dedup.deduplicate_texts(texts)
        dt = time.perf_counter() - t0
        print(f"  deduplicate_texts {size:>7} texts: {dt:6.2f} s "
              f"({1e6 * dt / size:.0f} us/text, {size - len(kept)} removed)")


def _cpu_seconds() -> float:
    """CPU time of this process plus its reaped children (the pool's workers)."""
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _articles():
    from hwlib.sample_pages import ARTICLES

    return ARTICLES.values()


def bench_scale(argv: list[str]) -> None:
    """Records per CPU-second through hwlib.scale (datatrove, local executor) vs run_pipeline."""
    import argparse
    import os
    import tempfile
    import time
    from pathlib import Path

    from hwlib import preprocess as pp
    from hwlib import quality, scale, warc
    from hwlib.utils import DATA_DIR

    p = argparse.ArgumentParser(prog="python -m hwlib.bench scale")
    p.add_argument("warc", nargs="?", default=str(DATA_DIR / "sample.warc.gz"))
    p.add_argument("--copies", type=int, default=16, help="input files, each a copy of WARC")
    p.add_argument("--tasks", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--extractor", default="bs4")
    p.add_argument("--dedup", action="store_true", help="add the four MinHash stages")
    a = p.parse_args(argv)

    def cpu() -> float:  # this process and its reaped children (datatrove's pool workers)
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    raw = Path(a.warc).read_bytes()
    n = sum(1 for _ in warc.iter_records(a.warc)) * a.copies
    quality.english_probability("load langid before timing")
    print(f"{a.copies} copies of {a.warc}: {n} records; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as d:
        for i in range(a.copies):
            (Path(d) / "in" / f"{i:04d}.warc.gz").parent.mkdir(exist_ok=True)
            (Path(d) / "in" / f"{i:04d}.warc.gz").write_bytes(raw)
        (Path(d) / "all.warc.gz").write_bytes(raw * a.copies)  # one multi-member file
        t0, c0 = time.perf_counter(), cpu()
        pp.run_pipeline(fname=str(Path(d) / "all.warc.gz"), output=None, dfname=None,
                        num_records=None, extractor=a.extractor, progress=False)
        dt, c = time.perf_counter() - t0, cpu() - c0
        print(f"  hwlib.preprocess, 1 process:  {n / c:7.1f} records per CPU-second "
              f"({dt:.1f} s wall)")
        t0, c0 = time.perf_counter(), cpu()
        funnel = scale.run_scale(input=str(Path(d) / "in"), output=str(Path(d) / "out"),
                                 tasks=a.tasks, workers=a.workers, dedup=a.dedup,
                                 extractor=a.extractor)
        dt, c = time.perf_counter() - t0, cpu() - c0
        print(f"  hwlib.scale, {a.tasks} tasks, {a.workers} workers, dedup {a.dedup}: "
              f"{n / c:7.1f} records per CPU-second, {n / dt:.1f} records/s wall "
              f"({dt:.1f} s, {funnel['deduplicated']} kept)")
