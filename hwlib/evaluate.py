"""Evidence that a small story model beats a big general one: samples, bits per byte, a judge.

    python -m hwlib.evaluate --checkpoint runs/ts42M/ts42M-best.pt \
        --tokenizer runs/tokenizers/tinystories4096.model --baseline gpt2-xl \
        --val_file data/tinystories/stories/tinystories.test --out runs/ts42M/eval

Writes <out>/eval.json, which `python -m hwlib.report RUN_DIR` turns into tables:
1. samples: both models continue the same prompts with the same sampling settings;
2. bits per byte: the summed next-token loss (nats) over the held-out stories divided by their
   UTF-8 bytes and ln 2 -- a perplexity that does not depend on the tokenizer, so a 4096-piece
   model and GPT-2's 50257-piece BPE can be compared;
3. an LLM judge grading completions of stories cut mid-sentence (hwlib.judge), when configured;
4. diversity and repetition: distinct-n, the repeated 4-gram rate and the prompt-copying rate.
The baseline is any transformers causal LM, by hub name or local folder ("none" skips it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from hwlib.checkpoint import load_checkpoint
from hwlib.cli import config_parser, flag, from_namespace
from hwlib.data import iter_stories
from hwlib.judge import MISSING, Judge, JudgeConfig, cut_mid_sentence, summarize
from hwlib.sample import continue_ids
from hwlib.tokenizer import Tokenizer, check_vocab, checkpoint_tokenizer
from hwlib.utils import DATA_DIR, CheckpointError, pick_device, require_file, set_threads

PROMPTS = (
    "Once upon a time, there was a little girl named Lily. She loved to",
    "Tom and his dog went to the park. They saw a big",
    "One day, a small bird could not find its mother. The bird",
    "Sara wanted to bake a cake for her mom, but",
    "The little boat was afraid of the big waves. One morning,",
)


@dataclass
class EvalConfig:
    """Every field is the command-line flag of the same name."""

    checkpoint: str = flag("", "the hwlib .pt checkpoint to evaluate", required=True)
    tokenizer: str | None = flag(None, "its sentencepiece .model (default: the one the "
                                 "checkpoint recorded)")
    baseline: str = flag("gpt2-xl", "transformers causal LM: hub name or local folder; 'none' "
                         "skips it")
    val_file: str = flag(str(DATA_DIR / "tinystories" / "stories" / "tinystories.test"),
                         "held-out stories: one per line, or separated by <|endoftext|>")
    out: str = flag("runs/eval", "folder for eval.json (and the judge cache)")
    max_stories: int = flag(200, "held-out stories scored for bits per byte")
    judge_stories: int = flag(50, "held-out stories cut mid-sentence for the judge")
    max_new_tokens: int = flag(200, "tokens per completion")
    temperature: float = flag(0.8, "sampling temperature for both models (0: greedy)")
    top_k: int | None = flag(None, "top-k for both models")
    top_p: float | None = flag(0.95, "nucleus p for both models")
    stride: int | None = flag(None, "window stride for texts longer than a model's context "
                              "(default: half the context)")
    seed: int = flag(0, "seeds sampling and the choice of stories")
    use_gpu: bool = flag(True, "run on CUDA (or Apple MPS) when available")
    judge_cache: str | None = flag(None, "verdict cache (default: <out>/judge_cache.jsonl)")
    judge_requests_per_s: float = flag(2.0, "judge rate limit")
    threads: int | None = flag(None, "torch CPU threads (default: $HWLIB_THREADS, else 1 "
                               "unless the machine is idle)")


# ------------------------------------------------------------------------------------ models
class StoryLM:
    """One model under evaluation: ids with a start token, logits, and story continuations."""

    name: str
    max_len: int  # positions the model attends over
    num_params: int

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        """(1, T) token ids -> (1, T, V) next-token logits."""
        raise NotImplementedError

    def complete(self, prompt: str, cfg: EvalConfig, seed: int) -> str:
        raise NotImplementedError


class HwlibLM(StoryLM):
    def __init__(self, model, tok: Tokenizer, name: str):
        check_vocab(model, tok, name)
        self.model, self.tok, self.name = model.eval(), tok, name
        self.max_len, self.num_params = model.config.max_seq_len, model.num_params()
        self.device = model.output.weight.device

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, bos=True)

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids.to(self.device))[0]

    def complete(self, prompt: str, cfg: EvalConfig, seed: int) -> str:
        ids = self.encode(prompt)
        g = torch.Generator(device=self.device).manual_seed(seed)
        new = continue_ids(self.model, self.tok, ids, cfg.max_new_tokens, cfg.temperature,
                           cfg.top_k, cfg.top_p, g)
        # Decode prompt + continuation together: sentencepiece drops a leading space on its own.
        return self.tok.decode(ids + new)[len(self.tok.decode(ids)):]


class HFLM(StoryLM):
    def __init__(self, model, tok, name: str):
        self.model, self.tok, self.name = model.eval(), tok, name
        self.max_len = model.config.max_position_embeddings
        self.num_params = sum(p.numel() for p in model.parameters())
        self.device = next(model.parameters()).device
        self.start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if self.start is None:
            raise ValueError(f"{name}: the tokenizer has no BOS or EOS token to start a story with")

    def encode(self, text: str) -> list[int]:
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        return [self.start] + ids  # GPT-2 marks a document start with <|endoftext|>

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids.to(self.device)).logits

    def complete(self, prompt: str, cfg: EvalConfig, seed: int) -> str:
        ids = self.encode(prompt)
        x = torch.tensor([ids], device=self.device)
        room = max(0, min(cfg.max_new_tokens, self.max_len - len(ids)))  # learned positions end
        sample = cfg.temperature > 0
        # top_k 0 and top_p 1.0 switch those filters off (the model's defaults would apply else)
        kw = dict(do_sample=True, temperature=cfg.temperature, top_k=cfg.top_k or 0,
                  top_p=cfg.top_p or 1.0) if sample else dict(do_sample=False)
        eos = self.tok.eos_token_id
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)  # transformers samples from the global generator
            out = self.model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=room,
                                      pad_token_id=eos, eos_token_id=eos, **kw)[0, len(ids):]
        new = out.tolist()
        new = new[: new.index(eos)] if eos in new else new
        text = self.tok.decode(ids[1:] + new, skip_special_tokens=True)
        return text[len(self.tok.decode(ids[1:], skip_special_tokens=True)):]


def load_hwlib(checkpoint: str, tokenizer: str | None, device) -> HwlibLM:
    """The checkpoint and its tokenizer (the one recorded at training time when not given)."""
    path = require_file(checkpoint)
    tok = checkpoint_tokenizer(path, tokenizer)
    return HwlibLM(load_checkpoint(path, device), tok, f"hwlib {path.stem}")


def load_baseline(name: str, device) -> HFLM:
    """A transformers causal LM; a one-line error naming it and how to pass a local copy."""
    looks_local = os.sep in name or name.startswith(".") or Path(name).exists()
    local = f"models/{Path(name).name}"
    hint = (f"download it where there is internet (`hf download {name} --local-dir {local}`, "
            f"huggingface_hub's CLI) and pass --baseline {local}")
    if looks_local and not Path(name).is_dir():
        raise FileNotFoundError(f"baseline {name!r}: no such folder; {hint}")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name).float().to(device)
    except ImportError:
        raise ImportError("the baseline needs transformers: pip install 'hwlib[eval]'") from None
    except (OSError, ValueError) as e:  # offline hub, missing files, a repo id that is no model
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OSError(f"cannot load baseline model {name!r} ({reason}); {hint}") from None
    return HFLM(model, tok, name)


# ------------------------------------------------------------------------------ bits per byte
@torch.no_grad()
def sequence_nll(logits_fn: Callable[[torch.Tensor], torch.Tensor], ids: list[int],
                 max_len: int, stride: int) -> float:
    """Summed -ln p(ids[t] | earlier ids) over t >= 1, in nats, with sliding windows.

    Texts longer than max_len are scored in windows of at most max_len tokens; each later
    window scores the next `stride` tokens, seeing max_len - stride earlier ones as context.
    """
    if not 1 <= stride < max_len:
        raise ValueError(f"stride must be in [1, {max_len - 1}] for a context of {max_len}")
    x = torch.tensor(ids)
    total, done = 0.0, 1  # done: the first position not yet scored (ids[0] is the start token)
    while done < len(ids):
        end = min(len(ids), max(done + stride, max_len))
        begin = max(0, end - max_len)
        logits = logits_fn(x[None, begin:end])[0].float()  # (end - begin, V)
        # logits[i] predicts ids[begin + i + 1]; score the positions done .. end - 1
        pred = logits[done - begin - 1 : end - begin - 1]
        total += F.cross_entropy(pred, x[done:end].to(pred.device), reduction="sum").item()
        done = end
    return total


def bits_per_byte(lm: StoryLM, stories: list[str], stride: int | None = None) -> dict:
    """Total next-token loss over the stories in bits, per UTF-8 byte of their text."""
    stride = stride or max(1, lm.max_len // 2)
    nats = tokens = nbytes = 0
    for story in stories:
        ids = lm.encode(story)
        nats += sequence_nll(lm.logits, ids, lm.max_len, min(stride, lm.max_len - 1))
        tokens += len(ids) - 1
        nbytes += len(story.encode("utf-8"))
    return {"bits_per_byte": nats / max(nbytes, 1) / math.log(2), "nats": nats,
            "tokens": tokens, "bytes": nbytes, "stories": len(stories),
            "bytes_per_token": nbytes / max(tokens, 1)}


# --------------------------------------------------------------------- diversity, repetition
def words(text: str) -> list[str]:
    """Lower-cased words (letters, digits, apostrophes); punctuation is dropped."""
    return re.findall(r"[\w']+", text.lower())


def ngrams(ws: list[str], n: int) -> list[tuple]:
    return [tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)]


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams of all texts (Li et al. 2016); 0 when there are none."""
    grams = [g for t in texts for g in ngrams(words(t), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repeated_ngram_rate(texts: list[str], n: int = 4) -> float:
    """Share of n-grams that repeat an earlier n-gram of the same text (looping)."""
    grams = [ngrams(words(t), n) for t in texts]
    total = sum(map(len, grams))
    return sum(len(g) - len(set(g)) for g in grams) / total if total else 0.0


def prompt_copy_rate(prompts: list[str], completions: list[str], n: int = 4) -> float:
    """Share of the completions' n-grams that already occur in their own prompt."""
    hits = total = 0
    for prompt, text in zip(prompts, completions):
        seen = set(ngrams(words(prompt), n))
        grams = ngrams(words(text), n)
        hits += sum(g in seen for g in grams)
        total += len(grams)
    return hits / total if total else 0.0


def diversity(prompts: list[str], completions: list[str]) -> dict:
    return {"distinct_1": distinct_n(completions, 1), "distinct_2": distinct_n(completions, 2),
            "distinct_3": distinct_n(completions, 3),
            "repeated_4gram_rate": repeated_ngram_rate(completions, 4),
            "prompt_copy_rate": prompt_copy_rate(prompts, completions, 4),
            "mean_words": sum(len(words(c)) for c in completions) / max(len(completions), 1)}


# ------------------------------------------------------------------------------------- driver
def evaluate(cfg: EvalConfig, judge_config: JudgeConfig | None = None) -> dict:
    """Run every piece of evidence for the hwlib model and the baseline; write <out>/eval.json.

    judge_config None reads the judge from the environment (HWLIB_JUDGE_*); with no judge
    there, the judge section records why it is missing and everything else still runs.
    """
    device = pick_device(cfg.use_gpu)
    lms = [load_hwlib(cfg.checkpoint, cfg.tokenizer, device)]
    if cfg.baseline.lower() != "none":
        lms.append(load_baseline(cfg.baseline, device))
    stories = list(iter_stories(require_file(cfg.val_file), limit=cfg.max_stories))
    if not stories:
        raise ValueError(f"{cfg.val_file}: no stories in it")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"config": dataclasses.asdict(cfg), "models": [
        {"name": lm.name, "params": lm.num_params, "context": lm.max_len} for lm in lms]}

    result["samples"] = [{"prompt": p, **{lm.name: lm.complete(p, cfg, cfg.seed + i)
                                          for lm in lms}} for i, p in enumerate(PROMPTS)]
    result["bits_per_byte"] = {lm.name: bits_per_byte(lm, stories, cfg.stride) for lm in lms}
    for name, r in result["bits_per_byte"].items():
        print(f"{name}: {r['bits_per_byte']:.4f} bits per byte on {r['stories']} stories")

    # The judge's beginnings: held-out stories chosen from the seed, cut in mid-sentence.
    picks = random.Random(cfg.seed).sample(stories, min(cfg.judge_stories, len(stories)))
    beginnings = [cut_mid_sentence(s) for s in picks]
    completions = {lm.name: [lm.complete(b, cfg, cfg.seed + 1000 + i)
                             for i, b in enumerate(beginnings)] for lm in lms}
    result["diversity"] = {name: diversity(beginnings, c) for name, c in completions.items()}
    # Written before the judge too: whatever happens to it, the evidence computed is kept.
    result["judge"] = {"missing": "the judge did not finish (this run was stopped)"}
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    result["judge"] = _judge(cfg, judge_config, beginnings, completions)
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'eval.json'}")
    return result


def _judge(cfg: EvalConfig, jc: JudgeConfig | None, beginnings: list[str],
           completions: dict[str, list[str]]) -> dict:
    cache = cfg.judge_cache or str(Path(cfg.out) / "judge_cache.jsonl")
    jc = jc or JudgeConfig.from_env(cache_path=cache, requests_per_s=cfg.judge_requests_per_s)
    if jc is None:
        print(MISSING)
        return {"missing": MISSING}
    judge = Judge(jc)
    # A failure becomes failed verdicts for the rest; the verdicts already given are kept.
    verdicts = {name: [judge.try_grade(b, c) for b, c in zip(beginnings, cs)]
                for name, cs in completions.items()}
    print(f"judge {jc.model}: {judge.requests} requests sent")
    if judge.failure:
        print(f"judge failed: {judge.failure}")
    return {"judge_model": jc.model, "requests": judge.requests, "error": judge.failure,
            "summary": {name: summarize(v) for name, v in verdicts.items()},
            "items": [{"beginning": b, **{n: {"completion": completions[n][i], **verdicts[n][i]}
                                          for n in completions}}
                      for i, b in enumerate(beginnings)]}


def build_parser() -> argparse.ArgumentParser:
    """argparse flags generated from EvalConfig's fields."""
    return config_parser(EvalConfig, prog="python -m hwlib.evaluate",
                               description=__doc__.split("\n")[0])


def main(argv: list[str] | None = None) -> None:
    cfg = from_namespace(EvalConfig, build_parser().parse_args(argv))
    try:
        set_threads(cfg.threads)
        evaluate(cfg)
    except (ValueError, OSError, CheckpointError, ImportError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
