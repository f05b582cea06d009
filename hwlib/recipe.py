"""The TinyStories recipe: prepare the data, size the micro-batch, estimate the time, train.

    ./download_data.sh tinystories
    python -m hwlib.recipe prepare                               # one story per line + tokenizers
    python -m hwlib.recipe estimate configs/tinystories.json     # hours per GPU at the MFU target
    python -m hwlib.recipe train configs/tinystories.json 42M    # = python -m hwlib.train + probe
    python -m hwlib.recipe export runs/ts42M/ts42M-best.pt runs/ts42M/hf   # transformers folder

A recipe file holds named TrainConfig dicts ("common" merged under each recipe); `train` fills a
missing micro_batch_size with the largest one that fits the GPU (`probe_micro_batch`), then calls
`hwlib.train.train`. The estimates are arithmetic (FLOPs per token over the GPU's bf16 peak at
an assumed MFU), not measurements.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from hwlib.checkpoint import export_hf, load_checkpoint
from hwlib.data import iter_stories
from hwlib.metrics import PEAK_FLOPS
from hwlib.model import Llama, LlamaConfig
from hwlib.tokenizer import check_vocab, checkpoint_tokenizer
from hwlib.train import TrainConfig, train
from hwlib.utils import DATA_DIR, atomic_write, autocast_context, require_file

RECIPE_KEYS = ("tokenizer_vocab_size", "tokens", "notes")  # recipe keys that are not flags


def prepare_tinystories(src_dir: str | os.PathLike = DATA_DIR / "tinystories",
                        out_dir: str | os.PathLike | None = None) -> list[Path]:
    """TinyStoriesV2 train/valid -> <out_dir>/tinystories.{train,val,test}, one story a line.

    The published valid split is halved: .val picks the best checkpoint, .test is held out for
    hwlib.evaluate, so no reported figure was used to choose the model.
    """
    src = Path(src_dir)
    out = Path(out_dir) if out_dir else src / "stories"
    out.mkdir(parents=True, exist_ok=True)
    train_src = require_file(src / "TinyStoriesV2-GPT4-train.txt", "tinystories")
    valid = list(iter_stories(require_file(src / "TinyStoriesV2-GPT4-valid.txt", "tinystories")))
    half = len(valid) // 2
    paths = []
    for name, stories in (("train", iter_stories(train_src)), ("val", valid[:half]),
                          ("test", valid[half:])):
        path = out / f"tinystories.{name}"
        with atomic_write(path, "w") as f:  # a kill never leaves a short split under its name
            for story in stories:
                f.write(story + "\n")
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------ recipes
def load_recipes(path: str | os.PathLike) -> dict[str, dict]:
    """{name: {"config": TrainConfig, **recipe keys}} from a recipe JSON file."""
    path = require_file(path)
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("recipes"), dict):
        raise ValueError(f"{path}: expected an object with a 'recipes' object of named configs")
    flags = {f.name for f in dataclasses.fields(TrainConfig)}
    out = {}
    for name, r in raw["recipes"].items():
        merged = {**raw.get("common", {}), **r}
        unknown = sorted(set(merged) - flags - set(RECIPE_KEYS))
        if unknown:
            raise ValueError(f"{path}: recipe {name!r} has unknown keys {unknown}")
        cfg = TrainConfig(**{k: v for k, v in merged.items() if k in flags})
        out[name] = {"config": cfg, **{k: merged[k] for k in RECIPE_KEYS if k in merged}}
    return out


def recipe_model(recipe: dict) -> Llama:
    """The recipe's model on the meta device (shapes only: no memory, no init cost)."""
    cfg = recipe["config"]
    mc = LlamaConfig.preset(cfg.model_config, vocab_size=recipe["tokenizer_vocab_size"],
                            max_seq_len=cfg.block_size)
    with torch.device("meta"):
        return Llama(mc)


def estimate(recipe: dict, gpu: str, mfu: float = 0.45) -> dict:
    """Parameters, FLOPs, tokens and hours of a recipe on `gpu` (a key of PEAK_FLOPS) at `mfu`."""
    cfg, model = recipe["config"], recipe_model(recipe)
    flops = model.flops_per_token(cfg.block_size)  # PaLM appendix B, attention included
    tokens = cfg.max_steps * cfg.batch_size * cfg.block_size
    tokens_per_s = mfu * PEAK_FLOPS[gpu] / flops
    return {"params": model.num_params(), "flops_per_token": flops, "tokens": tokens,
            "tokens_per_param": tokens / model.num_params(), "tokens_per_s": tokens_per_s,
            "hours": tokens / tokens_per_s / 3600}


# ------------------------------------------------------------------------------------- probe
def _fits(model: Llama, micro: int, block_size: int, device, dtype: str, budget: int) -> bool:
    """Whether forward + backward of `micro` sequences stays within `budget` bytes."""
    g = torch.Generator().manual_seed(0)  # never touches the global RNG that training uses
    x = torch.randint(0, model.config.vocab_size, (micro, block_size + 1), generator=g)
    x = x.to(device)
    try:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with autocast_context(device, dtype):
            loss = model(x[:, :-1], x[:, 1:])[1]
        loss.backward()
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
        return peak <= budget
    except torch.OutOfMemoryError:
        return False
    finally:
        model.zero_grad(set_to_none=True)
        loss = x = None
        if device.type == "cuda":
            torch.cuda.empty_cache()


def largest_fitting(batch_size: int, fits: Callable[[int], bool]) -> int | None:
    """The largest divisor d of batch_size with fits(d), by binary search (fits is monotone)."""
    divisors = [d for d in range(1, batch_size + 1) if batch_size % d == 0]
    lo, hi, best = 0, len(divisors) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(divisors[mid]):
            best, lo = divisors[mid], mid + 1
        else:
            hi = mid - 1
    return best


def probe_micro_batch(model: Llama, block_size: int, batch_size: int, dtype: str = "bfloat16",
                      headroom: float = 0.9) -> int:
    """The largest divisor of batch_size whose training step fits in the GPU's memory.

    The budget is `headroom` of the GPU's memory less AdamW's two fp32 moments, which the probe
    does not allocate. On CPU nothing is probed and batch_size comes back.
    """
    device = model.output.weight.device
    if device.type != "cuda":
        return batch_size
    total = torch.cuda.get_device_properties(device).total_memory
    budget = int(headroom * total) - 8 * model.num_params()
    best = largest_fitting(batch_size,
                           lambda mb: _fits(model, mb, block_size, device, dtype, budget))
    if best is None:
        raise RuntimeError(f"not even one sequence of {block_size} tokens fits in "
                           f"{total / 2**30:.0f} GiB; lower --block_size")
    return best


# ------------------------------------------------------------------------------------ export
def export(checkpoint: str | os.PathLike, out_dir: str | os.PathLike,
           tokenizer: str | os.PathLike | None = None) -> Path:
    """A transformers LlamaForCausalLM folder with the sentencepiece model as tokenizer.model.

    llama.cpp converts that folder as it is: python convert_hf_to_gguf.py OUT --outtype f16.
    The tokenizer defaults to the one the checkpoint recorded at training time.
    """
    tok = checkpoint_tokenizer(checkpoint, tokenizer)
    model = load_checkpoint(checkpoint)
    check_vocab(model, tok, checkpoint)
    out = export_hf(model, out_dir)
    shutil.copyfile(tok.model_path, out / "tokenizer.model")
    return out


# ---------------------------------------------------------------------------------------- CLI
def _train(recipe: dict) -> dict:
    cfg = recipe["config"]
    if cfg.micro_batch_size is None and cfg.use_gpu and torch.cuda.is_available():
        mc = LlamaConfig.preset(cfg.model_config, vocab_size=recipe["tokenizer_vocab_size"],
                                max_seq_len=cfg.block_size)
        # Under torchrun each process probes its own GPU for its share of the global batch.
        world = int(os.environ.get("WORLD_SIZE", "1"))
        model = Llama(mc).to(torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))))
        mb = probe_micro_batch(model, cfg.block_size, cfg.batch_size // world, cfg.dtype)
        del model
        torch.cuda.empty_cache()
        print(f"micro-batch probe: {mb} sequences of {cfg.block_size} tokens fit; "
              f"{cfg.batch_size // (mb * world)} accumulation steps per update")
        cfg = dataclasses.replace(cfg, micro_batch_size=mb)
    return train(cfg)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hwlib.recipe", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare", help="split stories one per line; train the tokenizers")
    pp.add_argument("--src", default=str(DATA_DIR / "tinystories"))
    pp.add_argument("--vocab_sizes", default="4096,8192")
    pe = sub.add_parser("estimate", help="print parameters, tokens and hours per GPU")
    pe.add_argument("recipes")
    pe.add_argument("--mfu", type=float, default=0.45)
    pt = sub.add_parser("train", help="train one recipe (micro-batch probed on GPU)")
    pt.add_argument("recipes")
    pt.add_argument("name")
    px = sub.add_parser("export", help="write a transformers folder (+ tokenizer.model)")
    px.add_argument("checkpoint")
    px.add_argument("out_dir")
    px.add_argument("--tokenizer", default=None)
    a = p.parse_args(argv)
    try:
        if a.cmd == "prepare":
            from hwlib.tokenizer import train_tokenizer

            paths = prepare_tinystories(a.src)
            print("wrote " + ", ".join(map(str, paths)))
            for v in (int(s) for s in a.vocab_sizes.split(",")):
                prefix = Path("runs") / "tokenizers" / f"tinystories{v}"
                print(f"wrote {train_tokenizer([paths[0]], vocab_size=v, model_prefix=prefix)}")
        elif a.cmd == "estimate":
            for name, r in load_recipes(a.recipes).items():
                for gpu in ("A100", "H100"):
                    e = estimate(r, gpu, a.mfu)
                    print(f"{name:>5} {gpu}: {e['params'] / 1e6:.1f}M params, "
                          f"{e['tokens'] / 1e9:.2f}B tokens ({e['tokens_per_param']:.0f}/param), "
                          f"{e['tokens_per_s'] / 1e6:.2f}M tokens/s at {a.mfu:.0%} MFU, "
                          f"{e['hours']:.1f} h")
        elif a.cmd == "export":
            print(f"wrote {export(a.checkpoint, a.out_dir, a.tokenizer)}")
        else:
            recipes = load_recipes(a.recipes)
            if a.name not in recipes:
                raise ValueError(f"{a.recipes}: no recipe {a.name!r}; have {', '.join(recipes)}")
            _train(recipes[a.name])
    except (ValueError, OSError, RuntimeError) as e:  # CheckpointError is a RuntimeError
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
