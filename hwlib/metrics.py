"""Training metrics: where they go (metrics.jsonl, console, wandb, TensorBoard) and MFU.

MFU (model FLOPs utilisation, PaLM appendix B) = achieved model FLOP/s over the GPU's peak; the
model's FLOPs per token come from `Llama.flops_per_token`, the peaks from the table below.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

PEAK_FLOPS = {  # dense bf16 tensor-core FLOP/s per GPU (fp16 for V100 and T4); first match wins
    "H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12,
    "L40": 181e12, "L4": 121e12, "A10": 125e12, "RTX 4090": 165e12, "V100": 125e12, "T4": 65e12,
}


def peak_flops(device: torch.device | str) -> float | None:
    """The detected GPU's peak FLOP/s for MFU; None on CPU or an unknown GPU."""
    if torch.device(device).type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_FLOPS.items() if k in name), None)


class MetricSinks:
    """metrics.jsonl always; wandb and TensorBoard only when asked (imported lazily)."""

    def __init__(self, cfg, run_dir: Path, history: list[dict]):
        """`cfg` is a TrainConfig: its wandb_*, tensorboard and run_name fields are read."""
        self.jsonl, self.wandb, self.tb = run_dir / "metrics.jsonl", None, None
        # Rewritten from the resume file's history: lines logged after that save are dropped.
        self.jsonl.write_text("".join(json.dumps(m) + "\n" for m in history))
        try:
            if cfg.wandb_project:
                import wandb

                self.wandb = wandb.init(project=cfg.wandb_project, entity=cfg.wandb_entity,
                                        name=cfg.run_name, config=asdict(cfg))
            if cfg.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError as e:
            print(f"skipping {e.name} logging: it is not installed")

    def log(self, m: dict) -> None:
        with self.jsonl.open("a") as f:
            f.write(json.dumps(m) + "\n")
        if self.wandb:
            self.wandb.log(m, step=m["step"])
        for k, v in m.items() if self.tb else ():
            if k != "step":
                self.tb.add_scalar(k, v, m["step"])

    def close(self) -> None:
        if self.wandb:
            self.wandb.finish()
        if self.tb:
            self.tb.close()


def metric_line(m: dict) -> str:
    """The console line: `step 200: train loss 2.3412, val loss 2.3987 (perplexity ...)`."""
    line = f"step {m['step']}: train loss {m['loss']:.4f}"
    if "val_loss" in m:
        line += f", val loss {m['val_loss']:.4f} (perplexity {m['val_perplexity']:.2f})"
    line += f", lr {m['lr']:.2e}, {m['tokens_per_s']:,.0f} tokens/s"
    return line + (f", MFU {m['mfu']:.1%}" if "mfu" in m else "")
