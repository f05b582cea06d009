"""Small shared helpers: paths to bundled data, seeding, device/dtype/autocast, safe torch I/O.

Every stage imports these instead of pasting its own copy (one helper per idea). torch is imported
inside the functions that need it, so the web-data stages (and their worker processes) never pay
for it.
"""

from __future__ import annotations

import contextlib
import os
import random
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: missing, truncated, unsafe or foreign."""


# Where ./download_data.sh puts each target, so a missing file can name the target that brings it.
DOWNLOAD_TARGETS = {"cc": "cc", "babylm": "babylm", "tinystories": "tinystories",
                    "llama2": "tokenizer", "checkpoints": "checkpoint",
                    "bad_words_full.txt": "badwords"}


def require_file(path: str | os.PathLike, target: str | None = None) -> Path:
    """Return `path` as a Path, or fail in one line naming it and the download target.

    Without `target`, a path under data/ that download_data.sh fills names its target anyway.
    """
    path = Path(path)
    if path.exists():
        return path
    if target is None:
        try:
            first = path.resolve().relative_to(DATA_DIR.resolve()).parts[0]
        except (ValueError, IndexError):
            first = None
        target = DOWNLOAD_TARGETS.get(first)
    hint = f"; run ./download_data.sh {target} to fetch it" if target else ""
    raise FileNotFoundError(f"{path}: file not found{hint}")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and all GPUs) in one call."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(use_gpu: bool = True) -> torch.device:
    """CUDA if asked for and present, then Apple's MPS, else CPU."""
    import torch

    if use_gpu and torch.cuda.is_available():
        return torch.device("cuda")
    if use_gpu and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


DTYPES = ("float32", "bfloat16", "float16")  # names of torch dtypes the kit trains in


def autocast_context(device: torch.device | str, dtype: str = "float32"):
    """Mixed precision on GPU for bf16/fp16; a no-op context for float32 and on CPU."""
    import torch

    device = torch.device(device)
    if dtype == "float32" or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=getattr(torch, dtype))


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", fsync: bool = False):
    """Open a temp file beside `path`; on success rename it over `path`, on failure delete it.

    A kill or a full disk mid-write leaves the previous file at `path` untouched. The file gets
    the mode a plain open() would give it: an existing file's own, else 0666 less the umask.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _cannot_write(path, e) from e
    try:  # mkstemp makes the file 0600 (private while unnamed); publish it with the usual mode
        mode_bits = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
        os.chmod(fd, mode_bits)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            if fsync:  # checkpoints: make the bytes durable before the rename publishes them
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _cannot_write(path, e) from e
        raise


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it and set it back
    os.umask(mask)
    return mask


def _cannot_write(path: Path, e: OSError) -> OSError:
    """The same kind of OSError, naming the file that was being written (ENOSPC names none)."""
    msg = f"cannot write {path}: {e.strerror or e}; any earlier version of it is unchanged"
    return type(e)(e.errno, msg) if e.errno is not None else type(e)(msg)


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save through `atomic_write` (fsynced), so `path` always holds a whole checkpoint."""
    import torch

    with atomic_write(path, "wb", fsync=True) as f:
        torch.save(obj, f)


def _course_pickle_globals() -> list:
    """The non-tensor types the course's save_model pickles (issue 13), allowlisted by name.

    argparse.Namespace and types.SimpleNamespace hold only already-unpickled values; the numpy
    entries rebuild arrays and scalars (RNG state, np.float64 metrics) and call nothing else.
    numpy 2 pickles `numpy._core...`, numpy 1 `numpy.core...`: both names are accepted.
    """
    import argparse
    import types

    core = getattr(np, "_core", None) or np.core
    allowed: list = [argparse.Namespace, types.SimpleNamespace, np.ndarray, np.dtype]
    # numpy >= 1.25 pickles a dtype by its class (numpy.dtypes.UInt32DType): numbers and bools only
    for dtype_class in vars(getattr(np, "dtypes", types.SimpleNamespace())).values():
        if isinstance(dtype_class, type) and issubclass(getattr(dtype_class, "type", type),
                                                        (np.number, np.bool_)):
            allowed.append(dtype_class)
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        allowed += [(core.multiarray._reconstruct, f"{module}._reconstruct"),
                    (core.multiarray.scalar, f"{module}.scalar")]
    return allowed


def safe_torch_load(path: str | os.PathLike, map_location="cpu"):
    """torch.load with weights_only=True; any failure becomes a one-line CheckpointError.

    Besides tensors and plain containers, exactly the course's namespace and numpy types load
    (torch's safe-globals allowlist, torch >= 2.5); anything else that could run code is refused.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    with open(path, "rb") as f:
        head = f.read(2)
    # torch.save writes a zip archive (PK..) or, in the legacy format, a pickle (0x80 ...).
    if head[:1] not in (b"P", b"\x80"):
        what = "an empty file" if not head else f"it starts with {head!r}"
        raise CheckpointError(f"{path}: not a checkpoint ({what}; a torch .pt file is a zip "
                              "archive or a pickle)")
    allow = getattr(torch.serialization, "safe_globals", None)
    try:
        with allow(_course_pickle_globals()) if allow else contextlib.nullcontext():
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle errors, truncated zip archives, refused globals
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            reason = "refused: it holds Python objects that could run code (weights_only=True)"
        raise CheckpointError(f"{path}: cannot load checkpoint: {reason}") from None


THREADS_ENV = "HWLIB_THREADS"  # an explicit thread count for every entry point (CLI --threads wins)
# The kit's models are small: a second intra-op thread buys ~1.4x on an idle 2-core machine, but
# when another process wants a core its spin-waits at every op cost 10-25x (see README,
# "Performance"). So several threads only for cores that are idle now and were over the last minute.
IDLE_LOAD_MARGIN = 0.5


def choose_threads(n: int | None = None) -> int:
    """CPU threads to use: `n`, else $HWLIB_THREADS, else the cores left idle (1 when busy)."""
    if n is None and os.environ.get(THREADS_ENV, "").strip():
        value = os.environ[THREADS_ENV].strip()
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{THREADS_ENV}={value!r}: expected a whole number") from None
    if n is not None:
        if n < 1:
            raise ValueError(f"threads must be at least 1, got {n}")
        return n
    cores = os.cpu_count() or 1
    load = machine_load()
    if load is None:  # nothing to go by (Windows): assume the machine is busy
        return 1
    return max(1, min(cores, int(cores - load - IDLE_LOAD_MARGIN + 1)))


def machine_load(window: float = 0.25) -> float | None:
    """Cores busy: the larger of the last minute's load average and the busy share of all cores
    over the last `window` seconds (Linux), since the average lags a job that just started."""
    try:
        averaged = os.getloadavg()[0]
    except (AttributeError, OSError):
        averaged = None
    now = _busy_cores_now(window)
    known = [x for x in (averaged, now) if x is not None]
    return max(known) if known else None


def _busy_cores_now(window: float) -> float | None:
    """Cores busy over the next `window` seconds, from /proc/stat's idle counters (Linux only)."""
    import time

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # all, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(window)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / (total1 - total0))


def set_threads(n: int | None = None) -> int:
    """Give torch `choose_threads(n)` intra-op threads and one inter-op thread; return the count."""
    import torch

    n = choose_threads(n)
    torch.set_num_threads(n)
    # Inter-op threads only run independent graph branches (TorchScript, autograd on CPU does not
    # use them); torch accepts this only before its first parallel work, so later calls skip it.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    return n


KEEP_MEMORY_ENV = "HWLIB_KEEP_FREED_MEMORY"  # "0" leaves the C allocator as it is


def keep_freed_memory() -> bool:
    """Let this process reuse the memory it frees instead of handing it back to the OS (glibc).

    By default glibc maps every block over 32 MB afresh and returns it when freed, so a CPU
    training step pays a page fault per 4 KB of its big tensors (logits, their gradients) every
    time: 42M model, 8 x 256, 2 cores: 4.1 s an update with 0.5 s of it in the kernel, 3.0 s
    without. Freed memory then stays with the process (its peak stays what it was). True when
    applied; False on other C libraries (macOS, Windows, musl) or with $HWLIB_KEEP_FREED_MEMORY=0.
    """
    import ctypes
    import ctypes.util

    if os.environ.get(KEEP_MEMORY_ENV, "").strip() == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # mallopt's options below are glibc's own
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30)
                and libc.mallopt(m_trim_threshold, (1 << 31) - 1)
                and libc.mallopt(m_top_pad, 1 << 28))
