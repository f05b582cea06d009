"""hwlib.recipe: story files, TinyStories preparation, the recipe file, estimates, the probe."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hwlib import recipe as RC
from hwlib.model import Llama, LlamaConfig
from hwlib.recipe import estimate, largest_fitting, load_recipes, prepare_tinystories
from hwlib.metrics import PEAK_FLOPS
from hwlib.train import TrainConfig
from hwlib.utils import REPO_ROOT

RAW = ("Tom had a ball.\nHe liked it.\n<|endoftext|>\nSue had a  cat.\n\nThe cat slept.\n"
       "<|endoftext|>\n<|endoftext|>\nMax ran.")


def test_prepare_splits_valid_into_val_and_test(tmp_path):
    src = tmp_path / "tinystories"
    src.mkdir()
    (src / "TinyStoriesV2-GPT4-train.txt").write_text(RAW)
    valid = "".join(f"Story {i}.\nEnd {i}.\n<|endoftext|>\n" for i in range(5))
    (src / "TinyStoriesV2-GPT4-valid.txt").write_text(valid)
    paths = prepare_tinystories(src)
    assert [p.name for p in paths] == ["tinystories.train", "tinystories.val", "tinystories.test"]
    assert paths[0].read_text().splitlines()[0] == "Tom had a ball. He liked it."
    val, test = (p.read_text().splitlines() for p in paths[1:])
    assert val == ["Story 0. End 0.", "Story 1. End 1."] and len(test) == 3
    with pytest.raises(FileNotFoundError, match="download_data.sh tinystories"):
        prepare_tinystories(tmp_path / "empty")


def test_the_tinystories_recipes_meet_the_issue():
    recipes = load_recipes(REPO_ROOT / "configs" / "tinystories.json")
    assert set(recipes) == {"15M", "42M", "110M"}
    for name, r in recipes.items():
        cfg = r["config"]
        assert isinstance(cfg, TrainConfig) and cfg.model_config == name
        assert 256 <= cfg.block_size <= 512
        assert cfg.batch_size * cfg.block_size >= 100_000  # tokens per optimizer update
        assert (cfg.schedule, cfg.dtype, cfg.option) == ("cosine", "bfloat16", "pretrain")
        assert 0 < cfg.warmup_steps < cfg.max_steps and cfg.compile and cfg.use_gpu
        assert r["tokenizer_vocab_size"] in (4096, 8192)
        assert str(r["tokenizer_vocab_size"]) in cfg.tokenizer
        assert cfg.micro_batch_size is None  # probed on the GPU
        assert cfg.block_size <= LlamaConfig.preset(name).max_seq_len


def test_estimate_is_the_flops_arithmetic():
    r = load_recipes(REPO_ROOT / "configs" / "tinystories.json")["15M"]
    cfg = r["config"]
    real = Llama(LlamaConfig.preset("15M", vocab_size=r["tokenizer_vocab_size"]))
    e = estimate(r, "A100", mfu=0.5)
    assert e["params"] == real.num_params()
    assert e["flops_per_token"] == real.flops_per_token(cfg.block_size)
    tokens = cfg.max_steps * cfg.batch_size * cfg.block_size
    assert e["tokens"] == tokens and e["tokens_per_param"] == tokens / real.num_params()
    seconds = tokens * e["flops_per_token"] / (0.5 * PEAK_FLOPS["A100"])
    assert e["hours"] == pytest.approx(seconds / 3600)
    assert estimate(r, "H100")["hours"] < estimate(r, "A100")["hours"]


def test_bad_recipe_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match="r.json: not valid JSON"):
        load_recipes(bad)
    bad.write_text(json.dumps({"recipes": {"x": {"model_config": "tiny", "learning_rate": 1}}}))
    with pytest.raises(ValueError, match=r"recipe 'x' has unknown keys \['learning_rate'\]"):
        load_recipes(bad)
    bad.write_text(json.dumps({"common": {}}))
    with pytest.raises(ValueError, match="r.json"):
        load_recipes(bad)
    with pytest.raises(SystemExit, match="no recipe '9M'"):
        RC.main(["train", str(REPO_ROOT / "configs" / "tinystories.json"), "9M"])


def test_largest_fitting_is_a_binary_search_over_divisors():
    asked = []

    def fits(mb):
        asked.append(mb)
        return mb <= 40

    assert largest_fitting(384, fits) == 32  # divisors of 384 up to 40: ..., 24, 32
    assert len(asked) <= math.ceil(math.log2(len([d for d in range(1, 385) if 384 % d == 0]))) + 1
    assert largest_fitting(12, lambda mb: True) == 12
    assert largest_fitting(12, lambda mb: False) is None


class _OOMAbove(torch.nn.Module):
    """A tiny model whose forward runs out of memory above a micro-batch size."""

    def __init__(self, limit: int):
        super().__init__()
        self.inner, self.limit = Llama(LlamaConfig.preset("tiny")), limit
        self.config = self.inner.config

    def forward(self, x, y):
        if x.size(0) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(x, y)


def test_a_micro_batch_that_runs_out_of_memory_does_not_fit():
    model = _OOMAbove(4)
    device = torch.device("cpu")
    assert RC._fits(model, 4, 16, device, "float32", budget=1)
    assert all(p.grad is None for p in model.parameters())  # the probe leaves no gradients
    assert not RC._fits(model, 6, 16, device, "float32", budget=1)
    assert largest_fitting(24, lambda mb: RC._fits(model, mb, 16, device, "float32", 1)) == 4
    # on CPU nothing is probed: the configured batch comes back
    assert RC.probe_micro_batch(model.inner, 16, 24) == 24


def test_export_runs_in_transformers_with_the_tokenizer_beside_it(tmp_path):
    from transformers import LlamaForCausalLM

    from hwlib.checkpoint import save_checkpoint
    from hwlib.stories import generate_stories
    from hwlib.tokenizer import train_tokenizer

    (tmp_path / "s.train").write_text("\n".join(generate_stories(200, seed=2)) + "\n")
    tok = train_tokenizer([tmp_path / "s.train"], vocab_size=512, model_prefix=tmp_path / "t")
    torch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny", vocab_size=512)).eval()
    save_checkpoint(tmp_path / "m.pt", model, tokenizer=str(tok))
    out = RC.export(tmp_path / "m.pt", tmp_path / "hf")  # the recorded tokenizer
    assert (out / "tokenizer.model").read_bytes() == tok.read_bytes()
    hf = LlamaForCausalLM.from_pretrained(out).eval()
    x = torch.randint(0, 512, (1, 12))
    with torch.no_grad():
        assert torch.allclose(hf(input_ids=x).logits, model(x)[0], atol=1e-4)
    tok.unlink()
    with pytest.raises(SystemExit, match="pass --tokenizer"):
        RC.main(["export", str(tmp_path / "m.pt"), str(tmp_path / "hf2")])
