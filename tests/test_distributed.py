"""hwlib.distributed: one process without torchrun; the dtype a device trains in."""

import torch

from hwlib.distributed import init_distributed, train_dtype


def test_one_process_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    d = init_distributed(use_gpu=False)
    assert (d.rank, d.world, d.device.type) == (0, 1, "cpu")


def test_off_cuda_training_is_float32():
    for dtype in ("bfloat16", "float16", "float32"):
        assert train_dtype(dtype, torch.device("cpu")) == "float32"
