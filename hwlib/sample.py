"""Text from a trained model: seeded sampling, and the next-token distribution the notebook plots.

    from hwlib.sample import sample, next_token_distribution
    sample(model, tok, "Once upon a time,", temperature=0.8, top_k=50)   # same args, same text
    next_token_distribution(model, tok, "Once upon a time,", 0.8, None, 0.9)  # [(piece, p), ...]

The course's command line, `python -m hwlib.train --option generate`, finds the checkpoint and
calls `write_samples` with GenerateConfig's flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from hwlib.checkpoint import load_checkpoint
from hwlib.cli import flag
from hwlib.model import Llama, filter_logits
from hwlib.tokenizer import Tokenizer, check_vocab, checkpoint_tokenizer


@dataclass
class GenerateConfig:
    """The course's `--option generate` outputs and sampling flags (python -m hwlib.train)."""

    generated_sentence_low_temp_out: str = flag("generated-sentence-temp-0.txt", "greedy text")
    generated_sentence_high_temp_out: str = flag("generated-sentence-temp-1.txt", "temp 0.5 text")
    top_k: int | None = flag(50, "generate: top-k of the temperature-0.5 sample (course: 50)")
    top_p: float | None = flag(None, "generate: nucleus p of the temperature-0.5 sample")
    prompt: str = flag("Once upon a time,", "generate: the text to continue")
    max_new_tokens: int = flag(75, "generate: tokens to add")


def _prompt_ids(model: Llama, tokenizer: Tokenizer, prompt: str) -> torch.Tensor:
    device = model.output.weight.device
    return torch.tensor([tokenizer.encode(prompt, bos=True, eos=False)], device=device)  # (1, T)


def story_end_ids(tokenizer: Tokenizer) -> tuple[int, int]:
    """The ids where a generated story ends, for every caller (sample, --option generate, evaluate).

    EOS: the token cache writes each story as BOS ... EOS, like the course. BOS: a model trained
    on an older, BOS-only cache starts the next story there instead.
    """
    return tokenizer.eos_id, tokenizer.bos_id


def continue_ids(model: Llama, tokenizer: Tokenizer, ids: list[int], max_new_tokens: int,
                 temperature: float, top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None, sample_fn=None) -> list[int]:
    """The new ids after the prompt ids, cut where the story ends (see `story_end_ids`)."""
    device = model.output.weight.device
    was_training = model.training
    model.eval()  # no dropout while sampling
    try:
        out = model.generate(
            torch.tensor([ids], device=device), max_new_tokens, temperature, top_k, top_p=top_p,
            eos_id=story_end_ids(tokenizer), generator=generator, sample_fn=sample_fn,
        )[0, len(ids):].tolist()
    finally:
        model.train(was_training)
    ends = [i for i, t in enumerate(out) if t in story_end_ids(tokenizer)]
    return out[: ends[0]] if ends else out


def sample(
    model: Llama,
    tokenizer: Tokenizer,
    prompt: str,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    max_new_tokens: int = 64,
    seed: int = 0,
    sample_fn=None,
) -> str:
    """The prompt and its continuation; a private generator makes it a pure function of its args.

    sample_fn: a learner's `sample_next(logits, temperature, top_k=None, generator=None)`, used
    instead of the kit's (see `Llama.generate`).
    """
    ids = tokenizer.encode(prompt, bos=True, eos=False)
    # Seeding a private generator leaves the global RNG (and so any training run) untouched.
    generator = torch.Generator(device=model.output.weight.device).manual_seed(seed)
    new = continue_ids(model, tokenizer, ids, max_new_tokens, temperature, top_k, top_p,
                       generator, sample_fn)
    return tokenizer.decode(ids + new)


def reshape_logits(
    logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None
) -> torch.Tensor:
    """Next-token probabilities (V,) from logits (V,): the distribution `model.generate` draws from.

    Temperature 0 puts all mass on the argmax; otherwise `hwlib.model.filter_logits`, softmaxed.
    """
    if temperature == 0.0:
        return torch.nn.functional.one_hot(logits.argmax(), logits.numel()).float()
    return filter_logits(logits, temperature, top_k, top_p).softmax(dim=-1)


@torch.no_grad()
def next_token_distribution(
    model: Llama,
    tokenizer: Tokenizer,
    prompt: str,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    k: int = 10,
) -> list[tuple[str, float]]:
    """The k most likely next tokens after the prompt and their probabilities, after reshaping.

    Tokens are shown as decoded text with a leading space made visible as "▁", most likely first.
    """
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(_prompt_ids(model, tokenizer, prompt))  # (1, T, V)
    finally:
        model.train(was_training)
    probs = reshape_logits(logits[0, -1], temperature, top_k, top_p)
    top = torch.topk(probs, min(k, probs.numel()))
    return [(_piece(tokenizer, i), p) for i, p in zip(top.indices.tolist(), top.values.tolist())]


def _piece(tokenizer: Tokenizer, token_id: int) -> str:
    # Decoding a lone piece drops its leading space; decoding it after a reference token keeps it.
    ref = tokenizer.encode("a", bos=False)
    text = tokenizer.decode(ref + [token_id])[len(tokenizer.decode(ref)) :]
    return text.replace(" ", "▁") if text else f"<{token_id}>"


def write_samples(checkpoint: str | os.PathLike, tokenizer: str | os.PathLike | None,
                  gen: GenerateConfig, seed: int, device: torch.device | str = "cpu",
                  sample_fn=None, attention_fn=None) -> list[Path]:
    """The course's two texts of gen.prompt: greedy, and temperature 0.5 with top-k/top-p.

    The tokenizer defaults to the one the checkpoint recorded (`checkpoint_tokenizer`). A
    learner's sample_fn (`sample_next`) and attention_fn run in place of the kit's.
    """
    tok = checkpoint_tokenizer(checkpoint, tokenizer)
    model = load_checkpoint(checkpoint, device=device)
    if attention_fn is not None:  # the same weights in a model that calls the learner's code
        weights = model.state_dict()
        model = Llama(model.config, attention_fn=attention_fn).to(device).eval()
        model.load_state_dict(weights)
    check_vocab(model, tok, checkpoint)
    print(f"loaded {checkpoint}")
    outs = []
    for temperature, out, top_k, top_p in (
        (0.0, gen.generated_sentence_low_temp_out, None, None),
        (0.5, gen.generated_sentence_high_temp_out, gen.top_k, gen.top_p),
    ):
        text = sample(model, tok, gen.prompt, temperature, top_k, top_p, gen.max_new_tokens,
                      seed=seed, sample_fn=sample_fn)
        Path(out).write_text(text + "\n")
        print(f"temperature {temperature}: {text}\nwrote {out}")
        outs.append(Path(out))
    return outs
