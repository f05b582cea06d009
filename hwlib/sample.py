"""Text from a trained model: seeded sampling, and the next-token distribution the notebook plots.

    from hwlib.sample import sample, next_token_distribution
    sample(model, tok, "Once upon a time,", temperature=0.8, top_k=50)   # same args, same text
    next_token_distribution(model, tok, "Once upon a time,", 0.8, None, 0.9)  # [(piece, p), ...]

The course's command line, `python -m hwlib.train --option generate`, runs `generate(cfg)`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hwlib.model import Llama, load_checkpoint
from hwlib.tokenizer import Tokenizer
from hwlib.train import DEFAULT_CHECKPOINT, TrainConfig, check_vocab, load_tokenizer, run_paths
from hwlib.utils import pick_device, require_file, safe_torch_load


def _prompt_ids(model: Llama, tokenizer: Tokenizer, prompt: str) -> torch.Tensor:
    device = model.output.weight.device
    return torch.tensor([tokenizer.encode(prompt, bos=True, eos=False)], device=device)  # (1, T)


def sample(
    model: Llama,
    tokenizer: Tokenizer,
    prompt: str,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    max_new_tokens: int = 64,
    seed: int = 0,
) -> str:
    """The prompt and its continuation; a private generator makes it a pure function of its args."""
    idx = _prompt_ids(model, tokenizer, prompt)
    # Seeding a private generator leaves the global RNG (and so any training run) untouched.
    generator = torch.Generator(device=idx.device).manual_seed(seed)
    was_training = model.training
    model.eval()  # no dropout while sampling
    try:
        out = model.generate(
            idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
            eos_id=tokenizer.eos_id, generator=generator,
        )
    finally:
        model.train(was_training)
    return tokenizer.decode(out[0].tolist())


def reshape_logits(
    logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None
) -> torch.Tensor:
    """Next-token probabilities (V,) from logits (V,) after temperature, top-k and top-p.

    The same rules as `hwlib.model.sample_next`: temperature 0 puts all mass on the argmax; top-k
    keeps the k largest logits; top-p keeps a token while the tokens ranked above it hold less
    than p of the probability (so the first token always stays).
    """
    logits = logits.float()
    if temperature == 0.0:
        return torch.nn.functional.one_hot(logits.argmax(), logits.numel()).float()
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(descending=True)
        probs = sorted_logits.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p
        logits = logits.scatter(0, order, sorted_logits.masked_fill(drop, float("-inf")))
    return logits.softmax(dim=-1)


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


def generate(cfg: TrainConfig) -> list[Path]:
    """--option generate: write the greedy and the temperature-0.5 continuation of cfg.prompt."""
    path = cfg.pretrained_model_path
    if path is None:  # this run's final checkpoint, else the course's released model
        path = run_paths(cfg)["checkpoint"]
        path = path if path.exists() else require_file(DEFAULT_CHECKPOINT, "checkpoint")
    tok_path = cfg.tokenizer
    if tok_path is None:  # the tokenizer the checkpoint was trained with, if it is still there
        ck = safe_torch_load(require_file(path))
        recorded = ck.get("tokenizer") if isinstance(ck, dict) else None  # else refused below
        tok_path = recorded if isinstance(recorded, str) and Path(recorded).exists() else None
    tok = load_tokenizer(tok_path)
    model = load_checkpoint(path, device=pick_device(cfg.use_gpu))
    check_vocab(model, tok, path)
    print(f"loaded {path}")
    outs = []
    for temperature, out, top_k, top_p in (
        (0.0, cfg.generated_sentence_low_temp_out, None, None),
        (0.5, cfg.generated_sentence_high_temp_out, cfg.top_k, cfg.top_p),
    ):
        text = sample(model, tok, cfg.prompt, temperature, top_k, top_p, cfg.max_new_tokens,
                      seed=cfg.seed)
        Path(out).write_text(text + "\n")
        print(f"temperature {temperature}: {text}\nwrote {out}")
        outs.append(Path(out))
    return outs
