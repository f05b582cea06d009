"""Reliability suite (issue 8): hostile web data, unsafe checkpoints, faults while saving, kills.

Every test records its figures with `record(...)`; tests/conftest.py prints them after the run,
and `python -m hwlib.bench reliability` measures the same scenarios. Hypothesis runs
derandomized (the same examples on every machine) and without a database; time per input is
asserted explicitly instead of through hypothesis deadlines.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import io
import json
import os
import pickle
import random
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.warcwriter import WARCWriter

from conftest import tiny_run
from hwlib import extract, quality
from hwlib import preprocess as pp
from hwlib import train as T
from hwlib.bench_reliability import kill_trainer, resume_trainer
from hwlib.checkpoint import load_checkpoint, save_checkpoint
from hwlib.cli import config_to_flags
from hwlib.model import Llama, LlamaConfig
from hwlib.sample_data import article_html, http_response
from hwlib.sample_pages import ARTICLES
from hwlib.stories import generate_stories
from hwlib.tokenizer import Tokenizer, tokenize_directory, train_tokenizer
from hwlib.train import TrainConfig, main, train
from hwlib.utils import CheckpointError, safe_torch_load

SEED = 8  # picks the kill points, the garbage bytes and the truncation points
SLOW_S = 2.0  # generous bound on one call of a text stage, even for 400k-character inputs
FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture
def record(record_property):
    """Report a figure in the end-of-run reliability summary (see tests/conftest.py)."""
    return lambda name, value: record_property(f"reliability: {name}", value)


# --------------------------------------------------------------------------- hostile web text
TEXT_STAGES = {
    "html_to_text": extract.html_to_text,
    "clean_text": quality.clean_text,
    "replace_pii": quality.replace_pii,
    "heuristic_quality_filter": quality.heuristic_quality_filter,
    "is_english_text": quality.is_english_text,
}
_TRICKY = "0123456789.-@()+ \n\t\r#…•*-_'’\"%$,;:!?<>/=&xyzAB\x00\x0b\u2028\ufffd"
_HTML_BITS = ["<p>", "</p>", "<div class='nav menu'>", "</div>", "<script>", "</script>",
              "<style>", "<!--", "-->", "<br>", "<li>", "<table><tr><td>", "<head>", "</head>",
              "<svg>", "<template>", "<![CDATA[", "]]>", "&amp;", "&#0;", "&#x110000;", "&",
              "<meta charset='utf-7'>", "+2AA-", "<a href='mailto:x@y.z'>", "<", ">", "</",
              "<header hidden>", "<nav>", " ", "\n", "Hello, world.", "call 555-123-4567"]
hostile_text = st.one_of(
    st.text(max_size=3000),  # any code point (no lone surrogates: they are not text)
    st.text(alphabet=_TRICKY, max_size=3000),  # what the PII and punctuation regexes look at
    st.lists(st.sampled_from(_HTML_BITS), max_size=300).map("".join),
)


def timed(fn, arg):
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def langid_loaded():
    quality.is_english_text("warm up")  # loading langid's model (~1 s) is not per-input time


def test_text_stages_never_raise_on_random_and_adversarial_input(langid_loaded, record):
    n = 0

    @FUZZ
    @given(hostile_text)
    def run(text):
        nonlocal n
        n += 1
        for name, fn in TEXT_STAGES.items():
            assert timed(fn, text) < SLOW_S, name
        assert timed(extract.html_to_text, text.encode("utf-8")) < SLOW_S

    run()
    record("text inputs fuzzed (x5 stages)", n)


def test_html_to_text_never_raises_on_random_bytes(record):
    n = 0

    @FUZZ
    @given(st.binary(max_size=4000), st.sampled_from([None, "utf-8", "utf-7", "bogus", "utf_16"]))
    def run(data, charset):
        nonlocal n
        n += 1
        assert isinstance(extract.html_to_text(data, charset), str)

    run()
    record("byte pages fuzzed", n)


def test_text_decoded_as_utf7_or_escapes_is_still_text():
    """Charsets that decode to lone surrogates (which are not text) must not crash extraction."""
    for charset, body in [("utf-7", b"Hello +2AA- world."), ("unicode_escape", b"Hi \\ud800."),
                          ("raw_unicode_escape", b"Hi \\udfff.")]:
        page = b"<meta charset='" + charset.encode() + b"'><p>" + body + b"</p>"
        text = extract.html_to_text(page)
        text.encode("utf-8")  # real text: no lone surrogates left
        assert text.startswith("H")
    assert quality.is_english_text("The tide is out \ud800 today.") in (True, False)
    extract.html_to_text("<p>A lone \udc80 surrogate.</p>").encode("utf-8")


# A unit repeated 50k times: long runs of what each regex (and the pre-parse scan) looks at.
ADVERSARIAL_UNITS = ["1", ".", "-", "@", "1.", "1-", "a@", "a.", "a-", "555 ", "(555) ",
                     "1.1.1.", "123-45-", "+1", "a'", "...", "#", "\u2022 ", "x" * 99 + " ",
                     "<", "<!--", "<script ", "<style>", "<svg>", "<head>", "<div>", "</div>",
                     "<a b='", "&#", "<meta charset=", "\n", " ", "\r\n\t"]


@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS, ids=repr)
def test_long_adversarial_strings_take_bounded_time(unit, langid_loaded, record):
    text = unit * 50_000
    slowest = max(timed(fn, text) for fn in TEXT_STAGES.values())
    assert slowest < SLOW_S, f"{unit!r} x 50k took {slowest:.1f} s"
    emails = "x@" + "a-" * 25_000 + "b.com"  # a 50k-character domain label: bounded, not masked
    assert timed(quality.replace_pii, emails) < SLOW_S
    record("adversarial 50k-repeat strings (x5 stages)", 1)


def _digits(n: int):
    return st.text("0123456789", min_size=n, max_size=n)


@st.composite
def phones(draw) -> str:
    """Each US format the masker promises: +1 5551234567, (555) 123-4567, 555-123-4567, ..."""
    a, e, n = draw(_digits(3)), draw(_digits(3)), draw(_digits(4))
    s = draw(st.sampled_from(" .-"))
    return draw(st.sampled_from([
        f"+1 {a}{e}{n}", f"+1{a}{e}{n}", f"{a}{s}{e}{s}{n}", f"1{s}{a}{s}{e}{s}{n}",
        f"+1{s}{a}{s}{e}{s}{n}", f"({a}) {e}{s}{n}", f"({a}){e}-{n}", f"1 ({a}) {e}-{n}",
        f"+1 ({a}) {e}{s}{n}", f"+1({a}) {e}-{n}",
    ]))


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
emails = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,30}", fullmatch=True),
    st.lists(_LABEL, min_size=1, max_size=3), st.from_regex(r"[a-z]{2,6}", fullmatch=True))
ssns = st.builds(lambda a, b, c: f"{a}-{b}-{c}", _digits(3), _digits(2), _digits(4))
ipv4s = st.lists(st.integers(0, 255), min_size=4, max_size=4).map(
    lambda xs: ".".join(map(str, xs)))
pii = st.one_of(emails, phones(), ssns, ipv4s)


def test_generated_pii_in_random_text_is_always_masked(record):
    n = 0

    @FUZZ
    @given(st.text(max_size=60), st.sampled_from([" ", " (", ' "', ": ", " <"]), pii,
           st.sampled_from([" ", ". ", ", ", ") ", '" ', "> ", "; ", "? "]), st.text(max_size=60))
    def run(left, before, secret, after, right):
        nonlocal n
        n += 1
        masked = quality.replace_pii(left + before + secret + after + right)
        assert secret not in masked
        assert any(m in masked for m in (quality.EMAIL_MASK, quality.PHONE_MASK,
                                         quality.SSN_MASK, quality.IP_MASK))

    run()
    record("generated PII strings masked", n)


# ----------------------------------------------------------------------------- hostile WARCs
GOOD = sorted(ARTICLES)  # distinct real articles: each passes every stage and must be kept
MAX_PAGE = 64 * 1024  # a small --max_page_bytes, so a "giant" page is cheap to build


def _member(url: str, http: bytes) -> bytes:
    """One WARC response record as its own gzip member (Common Crawl's layout)."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    fixed = {"WARC-Date": "2024-05-01T12:00:00Z",  # fixed bytes: the same file on every run
             "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>"}
    w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(http),
                                        length=len(http), warc_headers_dict=fixed))
    return buf.getvalue()


def _page(name: str) -> bytes:
    return http_response(article_html(name).encode("utf-8"), "text/html; charset=utf-8")


def _hostile(kind: str, rng: random.Random) -> bytes:
    """A damaged or unwanted member; each is one counted skip (see EXPECTED_SKIP)."""
    if kind == "garbage_gzip":  # a gzip member whose content is not a WARC record
        return gzip.compress(rng.randbytes(rng.randrange(1, 3000)), mtime=0)
    if kind == "truncated":  # a real record whose gzip member stops part-way
        whole = _member("http://cut/", _page(rng.choice(GOOD)))
        return whole[: rng.randrange(20, len(whole) - 10)]
    if kind == "giant":
        return _member("http://giant/", http_response(b"<p>Big page, big words.</p>" * 5000,
                                                        "text/html"))
    if kind == "http_500":
        return _member("http://err/", http_response(b"oops", "text/html", status="500 Oops"))
    if kind == "png":
        return _member("http://img/", http_response(rng.randbytes(500), "image/png"))
    if kind == "binary_html":
        return _member("http://bin/", http_response(rng.randbytes(4000), "text/html"))
    raise ValueError(kind)


EXPECTED_SKIP = {"garbage_gzip": "broken", "truncated": "broken", "giant": "too_large",
                 "http_500": "http_status", "png": "non_html", "binary_html": "undecodable"}


def _run_warc(path, data: bytes) -> tuple[dict, list[str]]:
    path.write_bytes(data)
    out = path.with_suffix(".txt")
    stats = pp.run_pipeline(fname=str(path), output=str(out), dfname=None, progress=False,
                            max_page_bytes=MAX_PAGE, num_records=None)
    return stats, out.read_text(encoding="utf-8").splitlines()


def _first_sentence(name: str) -> str:
    return ARTICLES[name][1][0].split(". ")[0]


def test_hostile_warc_members_are_counted_and_every_good_record_kept(tmp_path, record):
    """Garbage gzip members, truncated members (mid-file and last), giant pages, errors."""
    good = {n: _member(f"http://good/{n}", _page(n)) for n in GOOD}
    skipped = kept = 0

    @FUZZ
    @given(st.lists(st.tuples(st.sampled_from(sorted(EXPECTED_SKIP)), st.integers(1, len(GOOD)),
                              st.integers(0, 2**32)), max_size=8))
    def run(inserts):
        nonlocal skipped, kept
        parts = [good[n] for n in GOOD]  # the first record is readable, as in any real file
        for kind, at, seed in sorted(inserts, key=lambda x: -x[1]):
            parts.insert(at, _hostile(kind, random.Random(seed)))
        stats, docs = _run_warc(tmp_path / "hostile.warc.gz", b"".join(parts))
        assert len(docs) == stats["deduplicated"] == len(GOOD)  # nothing good is lost
        for name in GOOD:
            assert any(_first_sentence(name) in d for d in docs), name
        for skip in set(EXPECTED_SKIP.values()):
            want = sum(EXPECTED_SKIP[k] == skip for k, _, _ in inserts)
            # Random bytes can parse as a bogus record before failing: a damaged member counts
            # once or more, never zero times.
            assert stats[skip] == want if skip != "broken" else stats[skip] >= want, skip
        assert stats["records_read"] == stats["html"] + sum(stats[k] for k in pp.SKIP_KINDS)
        skipped += stats["records_read"] - stats["html"]
        kept += len(docs)

    run()
    record("WARC records skipped (counted)", skipped)
    record("WARC good records kept", kept)


def test_uncompressed_warc_with_garbage_between_records(tmp_path, record):
    rng = random.Random(SEED)
    records = []
    for name in GOOD[:4]:
        buf = io.BytesIO()
        w = WARCWriter(buf, gzip=False)
        http = _page(name)
        w.write_record(w.create_warc_record(f"http://plain/{name}", "response",
                                            payload=io.BytesIO(http), length=len(http)))
        records.append(buf.getvalue())
    garbage = [b"\r\n".join(rng.randbytes(rng.randrange(5, 200)) for _ in range(3)) + b"\r\n\r\n",
               b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 99999999\r\n\r\nshort"]
    data = records[0] + garbage[0] + records[1] + records[2] + garbage[1] + records[3]
    stats, docs = _run_warc(tmp_path / "plain.warc", data)
    assert len(docs) == 4 and stats["broken"] == 2, {k: v for k, v in stats.items() if v}
    record("WARC records skipped (counted)", 2)
    record("WARC good records kept", 4)


# ------------------------------------------------------------------ training runs and checkpoints
STEPS, SAVE_EVERY = 30, 5  # a tiny run with six rolling resume checkpoints



def _story_dir(root: Path, seed: int) -> Path:
    root.mkdir(parents=True)
    (root / "stories.train").write_text("\n".join(generate_stories(300, seed=seed)) + "\n")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    """Story text, a 512-piece tokenizer trained on it, and the token cache built once."""
    root = tmp_path_factory.mktemp("data")
    stories = _story_dir(root / "stories", SEED)
    tok = train_tokenizer([stories / "stories.train"], vocab_size=512, model_prefix=root / "tok")
    tokenize_directory(stories, tokenizer=Tokenizer(tok), workers=1, progress=False)
    return stories, Path(tok)


def run_config(out: Path, data: tuple[Path, Path], **kw) -> TrainConfig:
    """Warmup + cosine and dropout: resuming must restore the schedule and the RNG as well."""
    stories, tok = data
    return tiny_run(out, stories, tok, **{
        "warmup_steps": 4, "schedule": "cosine", "dropout": 0.1, "max_steps": STEPS,
        "save_every": SAVE_EVERY, "seed": SEED, "num_workers": 1, "progress": False, **kw})


@pytest.fixture(scope="module")
def straight(data, one_thread, tmp_path_factory) -> dict:
    """The uninterrupted run every interrupted one must reproduce exactly."""
    summary = train(run_config(tmp_path_factory.mktemp("straight"), data))
    return {"losses": [m["loss"] for m in summary["history"]],
            "weights": load_checkpoint(summary["checkpoint"]).state_dict()}


def assert_same_run(cfg: TrainConfig, straight: dict) -> None:
    """metrics.jsonl holds each step once with the uninterrupted losses; same final weights."""
    paths = T.run_paths(cfg)
    lines = [json.loads(s) for s in paths["metrics"].read_text().splitlines()]
    assert [m["step"] for m in lines] == list(range(1, STEPS + 1))
    assert [m["loss"] for m in lines] == straight["losses"]  # exact, not approximately
    final = load_checkpoint(T.latest_model_file(cfg)).state_dict()
    assert all(torch.equal(final[k], straight["weights"][k]) for k in final)


def resume_step(cfg: TrainConfig) -> int:
    """The step of the last resume checkpoint (0 if none), after loading it as a model."""
    path = T.run_paths(cfg)["resume_checkpoint"]
    if not path.exists():
        return 0
    ck = safe_torch_load(path)
    Llama(LlamaConfig.from_dict(ck["model_args"])).load_state_dict(ck["model"])
    assert ck["step"] % SAVE_EVERY == 0
    return ck["step"]


def one_line(e) -> str:
    msg = str(e.value if hasattr(e, "value") else e)
    assert msg and "\n" not in msg, msg
    return msg


# Runs `python -m hwlib.train` with torch.save patched so that the N-th save writes half its bytes
# into the temp file, says so on stdout and waits: the test kills it in the middle of that write.
# The product has no hook for this; the wrapper replaces torch.save before hwlib.train imports.
def cli_flags(cfg: TrainConfig) -> list[str]:
    flags = config_to_flags(cfg)
    assert T.parse_config(flags) == cfg
    return flags


def test_sigkill_at_seeded_points_then_auto_resume_equals_the_uninterrupted_run(
    data, straight, tmp_path, record
):
    """Kills after metric lines and during a checkpoint write; the last checkpoint always loads."""
    rng = random.Random(SEED)
    cfg = run_config(tmp_path, data)
    run_dir = T.run_paths(cfg)["run_dir"]
    survived = 0
    for kind in ("metric", "save", "metric", "save"):
        before = resume_step(cfg)
        if kind == "metric":  # some step past the next save, so work is lost and redone
            step = rng.randint(before + SAVE_EVERY + 1, before + 2 * SAVE_EVERY)
            kill_trainer(cfg, step=min(step, STEPS - 1))
            assert resume_step(cfg) >= before
        else:  # during the 1st or 2nd save of this process
            n = rng.randint(1, 2)
            kill_trainer(cfg, save=n)
            partial = [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
            assert partial, "the kill did not land inside an atomic write"
            with pytest.raises(CheckpointError):
                safe_torch_load(max(partial, key=os.path.getmtime))  # the half-written file...
            assert resume_step(cfg) == before + (n - 1) * SAVE_EVERY  # ...never replaced this
        survived += 1
    last = resume_step(cfg)
    assert T.parse_config(config_to_flags(cfg)) == cfg
    done = resume_trainer(cfg)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"at step {last}" in done.stdout
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")], "stale temp files"
    assert_same_run(cfg, straight)
    record("kill points survived (SIGKILL, then --auto_resume)", survived)


def _fail_on_save(monkeypatch, n: int, error: OSError) -> None:
    """Make the n-th torch.save write part of its bytes, then raise `error` (a full disk)."""
    real, calls = torch.save, []

    def save(obj, f, *args, **kw):
        calls.append(1)
        if len(calls) == n:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise error
        return real(obj, f, *args, **kw)

    monkeypatch.setattr(torch, "save", save)


def test_disk_full_while_saving_is_one_clear_line_and_keeps_the_last_checkpoint(
    data, straight, tmp_path, monkeypatch, record
):
    cfg = run_config(tmp_path, data)
    paths = T.run_paths(cfg)
    _fail_on_save(monkeypatch, 2, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    with pytest.raises(SystemExit) as e:
        main(cli_flags(cfg))
    msg = one_line(e)
    assert msg.startswith("error: ") and "No space left on device" in msg
    assert str(paths["resume_checkpoint"]) in msg  # which file could not be written
    assert resume_step(cfg) == SAVE_EVERY  # the save before the failed one, intact
    assert not [p for p in paths["run_dir"].iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()  # space freed: --auto_resume finishes the very same run
    train(dataclasses.replace(cfg, auto_resume=True))
    assert_same_run(cfg, straight)
    record("disk-full saves survived", 1)


def test_unwritable_output_directory_is_one_clear_line(data, tmp_path, monkeypatch, record):
    # CI runs as root, where chmod does not stop writes: a path under a regular file does.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the run folder should go\n")
    cfg = run_config(blocker / "runs", data)
    with pytest.raises(SystemExit) as e:
        main(cli_flags(cfg))
    assert str(blocker) in one_line(e)
    # The folder turns read-only mid-run (monkeypatched, as root ignores permissions).
    cfg = run_config(tmp_path / "runs", data, max_steps=2 * SAVE_EVERY)
    real = tempfile.mkstemp

    def mkstemp(*args, **kw):
        if resume_step(cfg):
            tmp = os.path.join(kw["dir"], kw["prefix"] + "k2j4" + kw["suffix"])
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), tmp)
        return real(*args, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with pytest.raises(SystemExit) as e:
        main(cli_flags(cfg))
    msg = one_line(e)
    assert "Permission denied" in msg and f"cannot write {T.run_paths(cfg)['run_dir']}/" in msg
    assert resume_step(cfg) == SAVE_EVERY
    record("unwritable-folder saves refused cleanly", 2)


class _Payload:
    """Unpickling this runs os.mkdir(marker): a stand-in for any code a .pt file can carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _tiny_checkpoint(**extra) -> dict:
    model = Llama(LlamaConfig.preset("tiny"))
    return {"model": model.state_dict(), "model_args": model.config.to_dict(), **extra}


def test_checkpoints_carrying_code_are_refused_and_the_code_never_runs(data, tmp_path, record):
    marker = tmp_path / "payload-ran"
    pickle.loads(pickle.dumps(_Payload(tmp_path / "proof")))  # the payload is live: it runs...
    assert (tmp_path / "proof").is_dir()
    ck = _tiny_checkpoint(extra=_Payload(marker))
    writers = {"zip.pt": lambda p: torch.save(ck, p),
               "legacy.pt": lambda p: torch.save(ck, p, _use_new_zipfile_serialization=False),
               "plain-pickle.pt": lambda p: p.write_bytes(pickle.dumps(ck, protocol=2))}
    cfg = run_config(tmp_path / "runs", data)
    refused = 0
    for name, write in writers.items():
        path = tmp_path / name
        write(path)
        for load in (safe_torch_load, load_checkpoint):
            with pytest.raises(CheckpointError) as e:
                load(path)
            assert str(path) in one_line(e) and "refused" in str(e.value)
        # ...the course's command line: a starting point, a model to sample, a resume file
        resume = T.run_paths(cfg)["resume_checkpoint"]
        resume.parent.mkdir(parents=True, exist_ok=True)
        resume.write_bytes(path.read_bytes())
        for argv in (cli_flags(dataclasses.replace(cfg, pretrained_model_path=str(path))),
                     ["--option", "generate", "--pretrained-model-path", str(path)],
                     [*cli_flags(cfg), "--auto_resume"]):
            with pytest.raises(SystemExit) as e:
                main(argv)
            assert "refused" in one_line(e)
        refused += 5
    assert not marker.exists()  # ...but never from a checkpoint
    record("code-carrying checkpoints refused (the code ran: never)", refused)


def test_truncated_checkpoints_are_one_line_errors(tmp_path, record):
    path = tmp_path / "good.pt"
    save_checkpoint(path, Llama(LlamaConfig.preset("tiny")), step=3)
    raw = path.read_bytes()
    rng = random.Random(SEED)
    cuts = sorted({0, 1, 64, len(raw) // 2, len(raw) - 1, *rng.sample(range(len(raw)), 5)})
    for n in cuts:
        cut = tmp_path / f"cut-{n}.pt"
        cut.write_bytes(raw[:n])
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(cut)
        assert cut.name in one_line(e)
    assert load_checkpoint(path)  # the file they were cut from is fine
    record("truncated checkpoints refused", len(cuts))


GPT2_STATE = {"wte.weight": torch.zeros(10, 4), "h.0.attn.c_attn.weight": torch.zeros(4, 12)}


def test_foreign_checkpoints_are_one_line_errors(tmp_path, record):
    args = LlamaConfig.preset("tiny").to_dict()
    params = [torch.nn.Parameter(torch.zeros(2))]
    foreign = {"bare-state-dict.pt": GPT2_STATE,
               "foreign-weights.pt": {"model": GPT2_STATE, "model_args": args},
               "optimizer.pt": torch.optim.AdamW(params).state_dict(),
               "tensor.pt": torch.zeros(3),
               "bad-args.pt": {**_tiny_checkpoint(), "model_args": {**args, "n_heads": "4"}}}
    for name, obj in foreign.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(tmp_path / name)
        assert name in one_line(e)
    record("foreign checkpoints refused", len(foreign))


# What a stranger's model_args can hold; each escaped load_checkpoint as ZeroDivisionError,
# RuntimeError, TypeError or AttributeError before it became a CheckpointError.
HOSTILE_ARGS = {
    "n_heads_zero": lambda a, m: {"model": m, "model_args": {**a, "n_heads": 0}},
    "negative_dim": lambda a, m: {"model": m, "model_args": {**a, "dim": -8}},
    "fractional_layers": lambda a, m: {"model": m, "model_args": {**a, "n_layers": 2.5}},
    "layers_as_text": lambda a, m: {"model": m, "model_args": {**a, "n_layers": "two"}},
    "model_args_none": lambda a, m: {"model": m, "model_args": None},
    "model_is_a_list": lambda a, m: {"model": [1, 2], "model_args": a},
    "int_and_str_keys": lambda a, m: {0: m, "model_args": a},
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ARGS))
def test_hostile_model_args_are_one_line_errors(case, tmp_path, record):
    ck = _tiny_checkpoint()
    path = tmp_path / f"{case}.pt"
    torch.save(HOSTILE_ARGS[case](ck["model_args"], ck["model"]), path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert path.name in one_line(e)
    record("foreign checkpoints refused", 1)


@pytest.mark.parametrize("vocab_size,seed", [(600, SEED), (512, SEED + 1)],
                         ids=["another vocabulary", "same size, other text"])
def test_resume_with_another_tokenizer_is_refused(data, tmp_path, record, vocab_size, seed):
    cfg = run_config(tmp_path / "runs", data, max_steps=SAVE_EVERY)
    train(cfg)
    text = data[0] if seed == SEED else _story_dir(tmp_path / "other", seed)
    other = train_tokenizer([text / "stories.train"], vocab_size=vocab_size,
                            model_prefix=tmp_path / "other_tok")
    assert Tokenizer(other).fingerprint != Tokenizer(data[1]).fingerprint
    cfg = dataclasses.replace(cfg, tokenizer=str(other), tokenized_dir=str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as e:
        main([*cli_flags(cfg), "--auto_resume"])
    assert f"written with the tokenizer {data[1]}, now {other}" in one_line(e)
    record("vocabulary mismatches refused", 1)


def test_resume_file_with_foreign_weights_is_a_one_line_error(data, tmp_path, record):
    cfg = run_config(tmp_path, data, max_steps=SAVE_EVERY)
    train(cfg)
    resume = T.run_paths(cfg)["resume_checkpoint"]
    torch.save({**safe_torch_load(resume), "model": GPT2_STATE}, resume)
    with pytest.raises(SystemExit) as e:
        main([*cli_flags(cfg), "--auto_resume"])
    assert str(resume) in one_line(e) and "Missing key(s)" in str(e.value)
    record("foreign checkpoints refused", 1)


def test_generate_from_a_non_dict_checkpoint_is_a_one_line_error(data, tmp_path, record):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    for tok in ([], ["--tokenizer", str(data[1])]):  # the recorded tokenizer, or the given one
        with pytest.raises(SystemExit) as e:
            main(["--option", "generate", "--pretrained-model-path", str(tmp_path / "tensor.pt"),
                  *tok])
        one_line(e)
    assert "tensor.pt: not a model checkpoint" in str(e.value)
    record("foreign checkpoints refused", 2)


def test_inf_loss_stops_at_that_step_and_keeps_the_last_good_checkpoint(
    data, tmp_path, monkeypatch, record
):
    """Complements test_train's NaN test (lr 1e30, step 2): a later step, inf, the CLI's line."""
    cfg = run_config(tmp_path, data, max_steps=2 * SAVE_EVERY + 2)
    bad_step, forward, calls = 2 * SAVE_EVERY - 2, Llama.forward, []

    def poisoned(self, tokens, targets=None):
        logits, loss = forward(self, tokens, targets)
        calls.append(1)
        if len(calls) > (bad_step - 1) * 2:  # two micro-batches per update
            loss = loss * float("inf")
        return logits, loss

    monkeypatch.setattr(Llama, "forward", poisoned)
    with pytest.raises(SystemExit) as e:
        main(cli_flags(cfg))
    assert f"loss is inf at step {bad_step};" in one_line(e)
    assert resume_step(cfg) == SAVE_EVERY  # the last save before the bad step, still loadable
    assert T.latest_model_file(cfg) is None  # no model file with broken weights
    record("non-finite losses stopped at the named step", 1)


# ------------------------------------------------------- issue 12: bad lr, divergence, resume
@pytest.mark.parametrize("lr", ["0", "-1e-3", "nan", "inf"])
def test_lr_must_be_positive_and_finite(data, tmp_path, record, lr):
    with pytest.raises(SystemExit) as e:
        main([*cli_flags(run_config(tmp_path, data)), f"--lr={lr}"])
    assert f"--lr {float(lr)}: the learning rate must be a positive number" in one_line(e)
    record("bad learning rates refused", 1)


@pytest.mark.parametrize("lr", [1e6, 1e38])
def test_a_diverging_run_stops_at_the_named_step(data, tmp_path, record, lr):
    """lr 1e6 pins the loss at ln V; 1e38 overflows the weights: both stop, in one line."""
    cfg = run_config(tmp_path, data, lr=lr, max_steps=60, warmup_steps=0, schedule="constant",
                     diverge_window=8, save_every=100)
    with pytest.raises(SystemExit) as e:
        main(cli_flags(cfg))
    msg = one_line(e)
    assert any(w in msg for w in ("diverged", "is nan", "is inf", "overflowed")), msg
    step = int(msg.split("at step ")[1].split()[0].strip(":;"))
    assert step < 60 and T.latest_model_file(cfg) is None  # stopped; no model file written
    record("diverging runs stopped at the named step", 1)


def test_auto_resume_may_run_longer_where_the_schedule_allows_it(data, tmp_path, record,
                                                                 capsys):
    kw = {"schedule": "constant", "warmup_steps": 2, "save_every": 100}
    straight = train(run_config(tmp_path / "straight", data, max_steps=5, **kw))
    short = run_config(tmp_path / "short", data, max_steps=3, **kw)
    train(short)
    longer = train(dataclasses.replace(short, max_steps=5, auto_resume=True))
    assert "--epochs 1 --max_steps 3 -> --epochs 1 --max_steps 5: 5 updates in all, was 3" in \
        capsys.readouterr().out
    assert [m["loss"] for m in longer["history"]] == [m["loss"] for m in straight["history"]]
    cos = run_config(tmp_path / "cos", data, max_steps=3, warmup_steps=2, schedule="cosine")
    train(cos)
    with pytest.raises(ValueError, match="cosine decays to its floor"):
        train(dataclasses.replace(cos, max_steps=5, auto_resume=True))
    for change, what in (({"block_size": 16}, "--block_size 32, now 16"),
                         ({"model_config": "260K"}, "--model_config 'tiny', now '260K'")):
        with pytest.raises(ValueError, match=what):
            train(dataclasses.replace(short, auto_resume=True, **change))
    record("longer resumed runs equal the straight run", 1)
