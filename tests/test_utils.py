"""hwlib.utils: missing-file hints, atomic saves, safe loads, lazy torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from hwlib.utils import DATA_DIR, CheckpointError, atomic_torch_save, require_file, safe_torch_load


def test_require_file_names_the_download_target(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"download_data\.sh cc to fetch it"):
        require_file(DATA_DIR / "cc" / "missing.warc.gz")
    with pytest.raises(FileNotFoundError, match=r"download_data\.sh tokenizer"):
        require_file(DATA_DIR / "llama2" / "tokenizer.model")
    with pytest.raises(FileNotFoundError) as e:  # outside data/: no target to name
        require_file(tmp_path / "x.txt")
    assert "download_data" not in str(e.value) and "x.txt" in str(e.value)
    assert require_file(DATA_DIR / "sample.warc.gz") == DATA_DIR / "sample.warc.gz"


def test_atomic_save_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    atomic_torch_save({"w": torch.ones(3)}, path)

    def disk_full(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic_torch_save({"w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(safe_torch_load(path)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temp file left behind


class _RunsCode:
    def __reduce__(self):
        return (print, ("payload ran",))


def test_safe_load_refuses_pickled_code_and_truncated_files(tmp_path, capsys):
    evil = tmp_path / "evil.pt"
    torch.save({"model": _RunsCode()}, evil)
    with pytest.raises(CheckpointError, match="evil.pt: .*refused"):
        safe_torch_load(evil)
    assert "payload ran" not in capsys.readouterr().out
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(100)}, good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cut.pt: cannot load checkpoint"):
        safe_torch_load(cut)
    with pytest.raises(CheckpointError, match="not found"):
        safe_torch_load(tmp_path / "none.pt")


def test_web_data_stages_do_not_import_torch():
    code = "import sys, hwlib.preprocess; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_atomic_write_gives_the_usual_mode_not_mkstemps_0600(tmp_path):
    import os
    import stat

    from hwlib.utils import atomic_write

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "new.txt", "w") as f:
            f.write("x")
        assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
        os.umask(0o077)
        with atomic_write(tmp_path / "private.txt", "w") as f:
            f.write("x")
        assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600
        (tmp_path / "new.txt").chmod(0o664)  # an existing file keeps its own mode, as open() does
        with atomic_write(tmp_path / "new.txt", "w") as f:
            f.write("y")
        assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o664
    finally:
        os.umask(old)


_FAULTS = """
import os, resource, sys
import torch
from hwlib.utils import keep_freed_memory
applied = keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):  # 64 MB blocks, freed at once: the first ones touch the reused memory
    torch.empty(2**24).fill_(1.0)
before = faults()
for _ in range(5):
    torch.empty(2**24).fill_(1.0)
print(applied, faults() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_keep_freed_memory_stops_page_faults_on_big_tensors():
    def run(env_value):
        env = {**__import__("os").environ, "HWLIB_KEEP_FREED_MEMORY": env_value}
        out = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True,
                             env=env, check=True).stdout.split()
        return out[0] == "True", int(out[1])

    applied, faults = run("1")
    if not applied:
        pytest.skip("not glibc")
    off, faults_off = run("0")  # glibc's default: each 64 MB block mapped afresh
    assert not off and faults_off >= 5 * 2**24 * 4 // 4096 // 2  # at least half its pages fault
    assert faults < 500, faults  # freed blocks are reused: their pages are already there
