"""download_data.sh end to end against a loopback HTTP server serving tiny stand-in files.

The server answers at the real URLs' paths (HWLIB_DOWNLOAD_BASE swaps only scheme and host, and
is the Hugging Face client's HF_ENDPOINT), honours Range requests like the real hosts, sends the
headers hf_hub_download reads (ETag, X-Repo-Commit, and X-Linked-Etag/-Size on a redirect), can
stall mid-body, and logs every request, so the tests can tell a skipped file from a re-fetched one
and a resumed download from a restarted one. Nothing here touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "download_data.sh"
REAL_TOKENIZER = REPO.parent / "shared" / "fixtures" / "llama2" / "tokenizer.model"

# The real files' URL paths (hosts differ; the paths alone do not collide).
CC_DIR = "/crawl-data/CC-MAIN-2018-17/segments/1524125937193.1"
CC_STEM = "CC-MAIN-20180420081400-20180420101400-00000"
CC_PATHS = {
    f"{CC_STEM}.warc.gz": f"{CC_DIR}/warc/{CC_STEM}.warc.gz",
    f"{CC_STEM}.warc.wet.gz": f"{CC_DIR}/wet/{CC_STEM}.warc.wet.gz",
    f"{CC_STEM}.warc.wat.gz": f"{CC_DIR}/wat/{CC_STEM}.warc.wat.gz",
}
OSF_IDS = {"train_10M": "y7djq", "train_100M": "ywea7", "dev": "uyd7v", "test": "ftwu3"}
TS = "/datasets/roneneldan/TinyStories/resolve/main"
TS_VALID_SIZE = 22502601
TOKENIZER = "/karpathy/llama2.c/master/tokenizer.model"
TOKENIZER_SIZE = 499723
TOKENIZER_SHA256 = "9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347"
CHECKPOINT = "/yuzhen17/llama2-42M-babylm/resolve/main/llama2-42M-babylm.pt"
BADWORDS = "/LDNOOBW/List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words/master/en"
URLS = {"badwords": "https://raw.githubusercontent.com" + BADWORDS}
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # any 40-hex commit will do for the Hub client
HAS_HUB = subprocess.run([sys.executable, "-c", "import huggingface_hub"]).returncode == 0


def etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()  # what the Hub sends for a large (LFS) file


class _Handler(BaseHTTPRequestHandler):
    """GET/HEAD from the server's `files` dict, with 302 `redirects` and byte ranges."""

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        srv = self.server
        srv.log.append((self.command, self.path, self.headers.get("Range")))
        if self.path in srv.redirects:  # OSF and Hugging Face answer with a redirect to storage
            target = srv.redirects[self.path]
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{srv.server_address[1]}{target}")
            self.send_header("Content-Length", "0")
            if target in srv.files:  # the Hub describes the file behind its redirect
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{etag(srv.files[target])}"')
                self.send_header("X-Linked-Size", str(len(srv.files[target])))
            self.end_headers()
            return
        data = srv.files.get(self.path)
        if data is None:
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)
            return
        start, end, status = 0, len(data), 200
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) + 1, len(data)) if m.group(2) else len(data)
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{srv.etags.get(self.path, etag(data))}"')
        self.send_header("X-Repo-Commit", COMMIT)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        stall = srv.stall.pop(self.path, None) if send_body else None
        if stall is not None:  # send that many bytes, then nothing until the client gives up
            self.wfile.write(data[start : start + stall])
            self.wfile.flush()
            time.sleep(8)
            return
        if send_body:
            self.wfile.write(data[start:end])

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


def _gz_members(*chunks: bytes) -> bytes:
    # Common Crawl files are many gzip members back to back (one per record).
    return b"".join(gzip.compress(c, mtime=0) for c in chunks)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _story_bytes(n: int) -> bytes:
    line = b"Once upon a time a small fox found a red ball in the park.\n"
    return (line * (n // len(line) + 1))[:n]


# Stand-in split files per BabyLM zip; `dev` is packed flat (no top folder) to check that
# both layouts land in data/babylm/<split>/, and `train_10M` carries macOS zip junk.
BABYLM_FILES = {
    "train_10M": {"childes.train": b"hello baby\n", "simple_wiki.train": b"A cat is an animal.\n"},
    "train_100M": {"childes.train": b"more words\n" * 3, "gutenberg.train": b"Chapter one.\n"},
    "dev": {"childes.dev": b"dev line\n"},
    "test": {"childes.test": b"test line\n"},
}


def standins() -> tuple[dict[str, bytes], dict[str, str]]:
    """(files by URL path, redirects) for every download target."""
    files: dict[str, bytes] = {}
    redirects: dict[str, str] = {}
    for name, path in CC_PATHS.items():
        files[path] = _gz_members(f"WARC/1.0\r\n{name} record 1\r\n".encode(), b"record 2\r\n")
    for split, members in BABYLM_FILES.items():
        if split == "dev":
            entries = dict(members)
        else:
            entries = {f"{split}/{k}": v for k, v in members.items()}
        if split == "train_10M":
            entries["__MACOSX/._childes.train"] = b"junk"
        storage = f"/osf-storage/{split}.zip"
        files[storage] = _zip(entries)
        redirects[f"/download/{OSF_IDS[split]}/"] = storage
    files[f"{TS}/TinyStoriesV2-GPT4-train.txt"] = _story_bytes(200_000)
    files[f"{TS}/TinyStoriesV2-GPT4-valid.txt"] = _story_bytes(5_000)
    files[TOKENIZER] = b"stand-in sentencepiece model"
    files["/xet-storage/checkpoint"] = b"PK stand-in checkpoint bytes"
    redirects[CHECKPOINT] = "/xet-storage/checkpoint"
    files[BADWORDS] = b"badword\nworse word\n"
    return files, redirects


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.redirects, srv.log, srv.stall, srv.etags = {}, {}, [], {}, {}
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def srv(server):
    server.files, server.redirects = standins()
    server.log.clear()
    server.stall.clear()
    server.etags.clear()
    return server


def base_url(srv) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def run(args: list[str], tmp_path: Path, base: str | None, **env_extra: str):
    """Run the script with a clean environment: no proxies, no curlrc/wgetrc, no stray vars."""
    if base is not None and not (shutil.which("curl") or shutil.which("wget")):
        pytest.skip("download_data.sh needs curl or wget")
    env = {
        k: v
        for k, v in os.environ.items()
        if "proxy" not in k.lower() and not k.startswith(("HWLIB_", "CC_"))
    }
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), HWLIB_DATA_DIR=str(tmp_path / "data"), HWLIB_PYTHON=sys.executable)
    if base is not None:
        env["HWLIB_DOWNLOAD_BASE"] = base
    env.update(env_extra)
    return subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def gets(srv, path: str) -> list:
    return [entry for entry in srv.log if entry[1] == path]


def test_script_is_executable():
    assert os.access(SCRIPT, os.X_OK), f"{SCRIPT} must be executable (git update-index --chmod=+x)"


def test_no_argument_prints_usage_with_every_target(tmp_path):
    res = run([], tmp_path, base=None)
    assert res.returncode == 0
    assert "Usage" in res.stdout
    for target in ("cc", "babylm", "tinystories", "tokenizer", "checkpoint", "badwords", "all"):
        assert re.search(rf"^\s+{target}\s", res.stdout, re.M), target


def test_unknown_target_lists_valid_ones_and_fetches_nothing(srv, tmp_path):
    res = run(["tokenizer", "tinystory"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "tinystory" in lines[0]
    for target in ("cc", "babylm", "tinystories", "tokenizer", "checkpoint", "badwords"):
        assert target in lines[0]
    assert srv.log == []  # checked before any download
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("client", ["curl", "wget"])
def test_all_targets_land_in_place_and_a_rerun_fetches_nothing(srv, tmp_path, client):
    if shutil.which(client) is None:
        pytest.skip(f"{client} is not installed")
    files = dict(srv.files)
    env = dict(HWLIB_DOWNLOAD_NO_VERIFY="1", HWLIB_DOWNLOADER=client)
    res = run(["all"], tmp_path, base_url(srv), **env)
    assert res.returncode == 0, res.stderr
    data = tmp_path / "data"
    for name, path in CC_PATHS.items():
        assert (data / "cc" / name).read_bytes() == files[path]
    for split, members in BABYLM_FILES.items():
        folder = data / "babylm" / split
        got = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".done"}
        assert got == members, split
        assert (folder / ".done").exists()
        assert not (data / "babylm" / f"{split}.zip").exists()
    assert not list((data / "babylm").glob("*unpacking*"))
    for split in ("train", "valid"):
        name = f"TinyStoriesV2-GPT4-{split}.txt"
        assert (data / "tinystories" / name).read_bytes() == files[f"{TS}/{name}"]
    assert (data / "llama2" / "tokenizer.model").read_bytes() == files[TOKENIZER]
    ckpt = data / "checkpoints" / "llama2-42M-babylm.pt"
    assert ckpt.read_bytes() == files["/xet-storage/checkpoint"]
    assert (data / "bad_words_full.txt").read_bytes() == files[BADWORDS]
    assert not list(data.rglob("*.part"))

    srv.log.clear()
    again = run(["all"], tmp_path, base_url(srv), **env)
    assert again.returncode == 0, again.stderr
    # nothing fetched again; the Hub client only asks for the files' ETags (HEAD)
    assert {method for method, _, _ in srv.log} <= {"HEAD"}
    assert {path for _, path, _ in srv.log} >= {f"{TS}/TinyStoriesV2-GPT4-train.txt", CHECKPOINT}
    assert "already" in again.stdout


def test_selected_targets_fetch_only_those(srv, tmp_path):
    res = run(["tokenizer", "badwords"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 0, res.stderr
    assert {path for _, path, _ in srv.log} == {TOKENIZER, BADWORDS}
    data = tmp_path / "data"
    landed = sorted(p.relative_to(data).as_posix() for p in data.rglob("*"))
    assert landed == ["bad_words_full.txt", "llama2", "llama2/tokenizer.model"]


@pytest.mark.parametrize("client", ["curl", "wget"])
def test_a_stalled_download_fails_in_one_line_and_the_rerun_resumes_it(srv, tmp_path, client):
    if shutil.which(client) is None:
        pytest.skip(f"{client} is not installed")
    full = srv.files[BADWORDS] = _story_bytes(200_000)
    srv.stall[BADWORDS] = 1000  # the server sends 1000 bytes, then nothing
    env = dict(HWLIB_DOWNLOAD_NO_VERIFY="1", HWLIB_DOWNLOADER=client, HWLIB_DOWNLOAD_STALL_S="1",
               HWLIB_DOWNLOAD_RETRIES="0")
    t0 = time.monotonic()
    res = run(["badwords"], tmp_path, base_url(srv), **env)
    assert time.monotonic() - t0 < 4  # the stall limit, not the server, ended it
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad_words_full.txt" in lines[0] and "partial file kept" in lines[0]
    dest = tmp_path / "data" / "bad_words_full.txt"
    part = dest.with_name(dest.name + ".part")
    assert part.read_bytes() == full[:1000] and not dest.exists()
    srv.log.clear()
    res = run(["badwords"], tmp_path, base_url(srv), **env)
    assert res.returncode == 0, res.stderr
    assert dest.read_bytes() == full and not part.exists()
    assert not dest.with_name(dest.name + ".part.src").exists()
    # One GET, ranged: the first 1000 bytes were not fetched again (wget also sends a HEAD).
    assert [rng for method, _, rng in gets(srv, BADWORDS) if method == "GET"] == ["bytes=1000-"]
    assert "from byte 1000" in res.stdout


@pytest.mark.parametrize("record", [None, "https://example.org/another/file"])
def test_a_part_file_this_script_did_not_start_is_never_resumed(srv, tmp_path, record):
    full = srv.files[BADWORDS]
    dest = tmp_path / "data" / "bad_words_full.txt"
    dest.parent.mkdir(parents=True)
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(b"junk from somewhere else")  # shorter than the file: looks resumable
    if record:
        part.with_name(part.name + ".src").write_text(record + "\n")
    res = run(["badwords"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 0, res.stderr
    assert dest.read_bytes() == full  # no junk plus the server's tail
    assert [rng for m, _, rng in gets(srv, BADWORDS) if m == "GET"] == [None]
    assert "discard" in res.stdout


@pytest.mark.parametrize("client", ["curl", "wget"])
def test_complete_part_file_is_finished_without_refetching(srv, tmp_path, client):
    if shutil.which(client) is None:
        pytest.skip(f"{client} is not installed")
    full = srv.files[BADWORDS]
    dest = tmp_path / "data" / "bad_words_full.txt"
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(full)
    dest.with_name(dest.name + ".part.src").write_text(URLS["badwords"] + "\n")  # ours
    res = run(
        ["badwords"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1", HWLIB_DOWNLOADER=client
    )
    assert res.returncode == 0, res.stderr
    assert dest.read_bytes() == full
    ranges = [rng for method, _, rng in gets(srv, BADWORDS) if method == "GET"]
    assert ranges == [f"bytes={len(full)}-"]  # answered 416: nothing past the end


@pytest.mark.parametrize("client", ["curl", "wget"])
def test_part_file_longer_than_the_remote_is_fetched_anew(srv, tmp_path, client):
    if shutil.which(client) is None:
        pytest.skip(f"{client} is not installed")
    full = srv.files[BADWORDS]
    dest = tmp_path / "data" / "bad_words_full.txt"
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(full + b"left over from another version\n")
    dest.with_name(dest.name + ".part.src").write_text(URLS["badwords"] + "\n")
    res = run(
        ["badwords"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1", HWLIB_DOWNLOADER=client
    )
    assert res.returncode == 0, res.stderr
    assert dest.read_bytes() == full
    assert [rng for m, _, rng in gets(srv, BADWORDS) if m == "GET"][-1] is None  # fetched anew


@pytest.mark.parametrize("client", ["curl", "wget"])
def test_missing_file_gives_one_line_naming_url_and_target(srv, tmp_path, client):
    if shutil.which(client) is None:
        pytest.skip(f"{client} is not installed")
    del srv.files[BADWORDS]
    env = dict(HWLIB_DOWNLOAD_NO_VERIFY="1", HWLIB_DOWNLOADER=client)
    res = run(["badwords"], tmp_path, base_url(srv), **env)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert base_url(srv) + BADWORDS in lines[0] and "bad_words_full.txt" in lines[0]
    assert re.search(r"(HTTP|ERROR) 404", lines[0]), lines[0]
    assert not list((tmp_path / "data").rglob("bad_words_full.txt*"))


def test_empty_body_is_rejected(srv, tmp_path):
    srv.files[BADWORDS] = b""
    res = run(["badwords"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "empty file" in lines[0]
    assert not list((tmp_path / "data").rglob("bad_words_full.txt*"))


def test_unreachable_server_gives_one_line(tmp_path):
    with socket.socket() as s:  # a port that was just free: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run(["tokenizer"], tmp_path, f"http://127.0.0.1:{port}", HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}{TOKENIZER}" in lines[0]


def test_known_sha256_rejects_a_wrong_file(srv, tmp_path):
    srv.files[TOKENIZER] = b"\0" * TOKENIZER_SIZE  # right size, wrong bytes: only sha256 can tell
    res = run(["tokenizer"], tmp_path, base_url(srv))  # checks on
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"expected {TOKENIZER_SHA256}" in lines[0]
    assert "tokenizer.model" in lines[0]
    assert not list((tmp_path / "data").rglob("tokenizer.model*"))


def test_known_size_is_checked(srv, tmp_path):
    valid = f"{TS}/TinyStoriesV2-GPT4-valid.txt"
    res = run(["tinystories"], tmp_path, base_url(srv))  # the 5 kB stand-in is the wrong size
    assert res.returncode == 1
    assert f"expected {TS_VALID_SIZE}" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    srv.files[valid] = _story_bytes(TS_VALID_SIZE)  # same size as the real file: accepted
    res = run(["tinystories"], tmp_path, base_url(srv))
    assert res.returncode == 0, res.stderr
    out = tmp_path / "data" / "tinystories" / "TinyStoriesV2-GPT4-valid.txt"
    assert out.stat().st_size == TS_VALID_SIZE


@pytest.mark.skipif(not REAL_TOKENIZER.exists(), reason="needs ../shared/fixtures (optional)")
def test_real_tokenizer_passes_the_pinned_sha256(srv, tmp_path):
    srv.files[TOKENIZER] = REAL_TOKENIZER.read_bytes()
    res = run(["tokenizer"], tmp_path, base_url(srv))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "data" / "llama2" / "tokenizer.model").read_bytes() == srv.files[TOKENIZER]


def test_truncated_gzip_is_rejected(srv, tmp_path):
    path = CC_PATHS[f"{CC_STEM}.warc.gz"]
    srv.files[path] = srv.files[path][:-5]
    res = run(["cc"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 1
    assert "not a complete gzip file" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "data" / "cc").glob(f"{CC_STEM}.warc.gz*"))


def test_no_verify_needs_the_base_override(tmp_path):
    res = run(["tokenizer"], tmp_path, base=None, HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 2
    assert "HWLIB_DOWNLOAD_BASE" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_cc_crawl_picks_a_line_of_warc_paths(srv, tmp_path):
    seg = "crawl-data/CC-MAIN-2024-22/segments/1715971057216.39"
    stems = [f"CC-MAIN-20240517233122-20240518023122-0000{i}" for i in range(2)]
    listing = "".join(f"{seg}/warc/{s}.warc.gz\n" for s in stems).encode()
    srv.files["/crawl-data/CC-MAIN-2024-22/warc.paths.gz"] = gzip.compress(listing)
    for kind, ext in (("warc", "warc.gz"), ("wet", "warc.wet.gz"), ("wat", "warc.wat.gz")):
        srv.files[f"/{seg}/{kind}/{stems[1]}.{ext}"] = _gz_members(f"{kind} stand-in".encode())
    env = dict(HWLIB_DOWNLOAD_NO_VERIFY="1", CC_CRAWL="CC-MAIN-2024-22", CC_FILE_INDEX="2")
    res = run(["cc"], tmp_path, base_url(srv), **env)
    assert res.returncode == 0, res.stderr
    cc = tmp_path / "data" / "cc"
    for ext in ("warc.gz", "warc.wet.gz", "warc.wat.gz"):
        assert gzip.decompress((cc / f"{stems[1]}.{ext}").read_bytes()).endswith(b"stand-in")
    env["CC_FILE_INDEX"] = "3"
    res = run(["cc"], tmp_path, base_url(srv), **env)
    assert res.returncode == 1 and "lists 2 files" in res.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"CC_WARC_PATH": "crawl-data/CC-MAIN-2024-22/segments/1/wet/x.warc.wet.gz"},
        {"CC_CRAWL": "2024-22"},
        {"CC_CRAWL": "CC-MAIN-2024-22", "CC_FILE_INDEX": "0"},
        {"CC_CRAWL": "CC-MAIN-2024-10", "CC_WARC_PATH": f"{CC_DIR[1:]}/warc/{CC_STEM}.warc.gz"},
        {"HWLIB_DOWNLOADER": "aria2c"},
        {"HWLIB_DOWNLOAD_STALL_S": "0"},
        {"HWLIB_DOWNLOAD_RETRIES": "-1"},
    ],
)
def test_bad_settings_fail_before_any_download(srv, tmp_path, env):
    res = run(["cc"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1", **env)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert srv.log == []


def test_environment_yml_matches_pyproject():
    yaml = pytest.importorskip("yaml")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + extras["notebooks"] + extras["test"] + extras["eval"]

    def name(spec: str) -> str:
        return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower()

    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["name"] == "hwlib"
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    have = {name(d) for d in conda} | {name(d) for d in pip if not d.startswith("-")}
    have |= {"torch"} if "pytorch" in have else set()  # conda's name for torch
    assert sorted({name(w) for w in wanted} - have) == []
    assert "python=3.11" in conda
    assert any(re.fullmatch(r"-e \.(\[.*\])?", d) for d in pip)


def test_a_final_file_with_the_right_size_but_wrong_bytes_is_refused(srv, tmp_path):
    dest = tmp_path / "data" / "llama2" / "tokenizer.model"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"\0" * TOKENIZER_SIZE)  # as long as the real file: only sha256 can tell
    res = run(["tokenizer"], tmp_path, base_url(srv))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "tokenizer.model" in lines[0] and TOKENIZER_SHA256 in lines[0]
    assert srv.log == [] and dest.read_bytes() == b"\0" * TOKENIZER_SIZE  # nothing touched


def test_a_folder_that_cannot_be_written_is_named_in_one_line(srv, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "llama2").write_text("a file where the folder should be")
    res = run(["tokenizer"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot create folder" in lines[0] and "llama2" in lines[0]
    assert srv.log == []
    if os.geteuid() == 0:  # root writes through any mode bits: the read-only case needs a user
        return
    (tmp_path / "data" / "llama2").unlink()
    (tmp_path / "data").chmod(0o555)
    try:
        res = run(["badwords"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1")
    finally:
        (tmp_path / "data").chmod(0o755)
    assert res.returncode == 1 and "not writable" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "curl exit code" not in res.stderr


@pytest.mark.skipif(not HAS_HUB, reason="huggingface_hub is not installed")
def test_hub_targets_go_through_huggingface_hub_which_resumes_a_stalled_transfer(srv, tmp_path):
    path = f"{TS}/TinyStoriesV2-GPT4-train.txt"
    chunk = 10 * 1024 * 1024  # the client writes to disk in chunks of 10 MiB
    full = srv.files[path] = _story_bytes(chunk + 5000)
    srv.stall[path] = chunk  # the first GET stalls after one chunk
    env = dict(HWLIB_DOWNLOAD_NO_VERIFY="1", HWLIB_DOWNLOAD_STALL_S="1")
    res = run(["tinystories"], tmp_path, base_url(srv), **env)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "data" / "tinystories" / "TinyStoriesV2-GPT4-train.txt").read_bytes() == full
    assert [rng for m, _, rng in gets(srv, path) if m == "GET"] == [None, f"bytes={chunk}-"]
    assert "hub " in res.stdout


@pytest.mark.skipif(not HAS_HUB, reason="huggingface_hub is not installed")
def test_hub_file_whose_bytes_do_not_match_the_published_sha256_is_removed(srv, tmp_path):
    srv.etags["/xet-storage/checkpoint"] = "0" * 64  # the Hub's sha256 disagrees with the bytes
    res = run(["checkpoint"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "llama2-42M-babylm.pt" in lines[0] and "0" * 64 in lines[0]
    assert not (tmp_path / "data" / "checkpoints" / "llama2-42M-babylm.pt").exists()


def test_without_huggingface_hub_the_hub_targets_fall_back_to_curl_and_say_so(srv, tmp_path):
    res = run(["checkpoint"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1",
              HWLIB_PYTHON="/bin/false")  # a "Python" that cannot import huggingface_hub
    assert res.returncode == 0, res.stderr
    said = [line for line in res.stdout.splitlines() if "huggingface_hub not found" in line]
    assert len(said) == 1
    ckpt = tmp_path / "data" / "checkpoints" / "llama2-42M-babylm.pt"
    assert ckpt.read_bytes() == srv.files["/xet-storage/checkpoint"]
    assert [m for m, _, _ in gets(srv, CHECKPOINT)] == ["GET"]  # curl, not the Hub client


@pytest.mark.skipif(not HAS_HUB, reason="huggingface_hub is not installed")
def test_a_complete_hub_file_needs_no_server_on_a_rerun(srv, tmp_path):
    res = run(["checkpoint"], tmp_path, base_url(srv), HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 0, res.stderr
    with socket.socket() as s:  # a port that was just free: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run(["checkpoint"], tmp_path, f"http://127.0.0.1:{port}", HWLIB_DOWNLOAD_NO_VERIFY="1")
    assert res.returncode == 0, res.stderr
    ckpt = tmp_path / "data" / "checkpoints" / "llama2-42M-babylm.pt"
    assert ckpt.read_bytes() == srv.files["/xet-storage/checkpoint"]
