"""Where a training process runs: one process, or one of torchrun's; and the dtype it trains in.

    torchrun --nproc_per_node 2 -m hwlib.train --option pretrain ...   # init_distributed reads
                                                                       # WORLD_SIZE, LOCAL_RANK
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.distributed as dist

from hwlib.utils import pick_device


class Dist(NamedTuple):
    """This process's place in a (possibly one-process) run."""

    rank: int
    world: int
    device: torch.device


def init_distributed(use_gpu: bool) -> Dist:
    """One process, or one of WORLD_SIZE started by torchrun (NCCL on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(0, 1, pick_device(use_gpu))
    cuda = use_gpu and torch.cuda.is_available()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(dist.get_rank(), world, device)


def train_dtype(dtype: str, device: torch.device) -> str:
    """The dtype this device can train in (float32 off CUDA); turns on TF32 matmuls on CUDA."""
    if device.type != "cuda":
        return "float32"  # autocast_context is CUDA-only
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # Ampere+
    if dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        print("this GPU has no bfloat16; using float16 with a GradScaler")
        return "float16"
    return dtype
