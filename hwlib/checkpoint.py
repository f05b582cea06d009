"""Checkpoints: the course's {"model", "model_args"} .pt files, llama2.c names, Hugging Face.

    from hwlib.checkpoint import load_checkpoint, save_checkpoint, export_hf, from_hf
    save_checkpoint("m.pt", model, step=100)      # atomic, weights only, prefixes stripped
    model = load_checkpoint("m.pt")               # a Llama in eval mode; foreign files refused
    export_hf(model, "hf/")                       # a transformers LlamaForCausalLM folder
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from hwlib.model import Llama, LlamaConfig
from hwlib.tokenizer import Tokenizer
from hwlib.utils import CheckpointError, atomic_torch_save, safe_torch_load

_LLAMA2C = {f".w{a}.": f".compute_{b}." for a, b in zip("qkvo", ("query", "key", "value",
                                                                "output"))}
_DERIVED = ("freqs_cos", "freqs_sin", "freqs_cis", "rope_cos", "rope_sin")  # rebuilt from config
_TIED = ("output.weight", "tok_embeddings.weight")


def _few(keys: list) -> str:
    return f"{keys[:6]}" + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")


# Wrappers whose prefixes name the same weights: torch.compile, DDP, and the course's
# LlamaPretrainingModel (`self.llama`), stripped here and nowhere else.
_PREFIXES = ("_orig_mod.", "module.", "llama.")
# What a model_args dict must give; everything else has the kit's (and the course's) default.
REQUIRED_ARGS = ("vocab_size", "dim", "n_layers", "n_heads")
# Far beyond anything this kit trains or loads (Llama-2 70B: dim 8192, 80 layers): a file claiming
# more is refused before anything is allocated.
MAX_ARGS = {"vocab_size": 1 << 20, "dim": 1 << 15, "n_layers": 256, "n_heads": 1 << 10,
            "n_kv_heads": 1 << 10, "hidden_dim": 1 << 17, "multiple_of": 1 << 12,
            "max_seq_len": 1 << 20}


def _rename(state: dict) -> dict:
    """Strip wrapper prefixes, map llama2.c names, drop RoPE tables, fill the tied matrix."""
    renamed = {}
    for name, tensor in state.items():
        name = str(name)
        while name.startswith(_PREFIXES):
            name = name.split(".", 1)[1]
        for old, new in _LLAMA2C.items():
            name = name.replace(old, new)
        if name.split(".")[-1] not in _DERIVED:
            renamed[name] = tensor
    for a, b in (_TIED, _TIED[::-1]):  # one tensor, two names: either one is complete
        if a in renamed and b not in renamed:
            renamed[b] = renamed[a]
    return renamed


def _check_weights(expected: dict, state: dict, source) -> None:
    """Names and shapes of state against expected {name: shape}; one line naming the first few."""
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:  # never a silent strict=False
        raise CheckpointError(f"{source}: weights do not match the config: missing keys "
                              f"{_few(missing)}, unexpected keys {_few(unexpected)}")
    for name, shape in expected.items():
        got = getattr(state[name], "shape", None)
        if got != shape:
            got = "no tensor" if got is None else tuple(got)
            raise CheckpointError(f"{source}: weights do not match the config: size mismatch for "
                                  f"{name}: the file has {got}, the config needs {tuple(shape)}")


def _load_weights(model: Llama, state: dict, source) -> Llama:
    """Rename state (see `_rename`), check it against the model, load strictly."""
    state = _rename(state)
    _check_weights({k: v.shape for k, v in model.state_dict().items()}, state, source)
    model.load_state_dict(state, strict=True)
    return model


_DEFAULTED = ("layer_norm_eps", "norm_eps", "dropout", "rope_theta", "multiple_of", "max_seq_len")


def config_from_model_args(args, source) -> LlamaConfig:
    """The kit's LlamaConfig from a course / llama2.c / hwlib `model_args` mapping.

    The course's dict carries dozens of other settings (dropout probabilities, output flags...):
    keys the kit does not use are ignored; missing, non-integer or absurd sizes are refused.
    """
    if not isinstance(args, dict):
        raise CheckpointError(f"{source}: model_args is a {type(args).__name__}, not a dict")
    if missing := [k for k in REQUIRED_ARGS if args.get(k) is None]:
        raise CheckpointError(f"{source}: model_args lacks {missing}")
    for k, limit in MAX_ARGS.items():
        v = args.get(k)
        if v is None and k not in REQUIRED_ARGS:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= limit:
            raise CheckpointError(f"{source}: model_args {k}={v!r} is not a size in 1..{limit}")
    for k in ("layer_norm_eps", "norm_eps", "dropout", "rope_theta"):  # None: the default
        v = args.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not math.isfinite(v) or v < 0 or (k == "dropout" and v >= 1)):
            raise CheckpointError(f"{source}: model_args {k}={v!r} is not a usable number")
    fields = {f.name for f in dataclasses.fields(LlamaConfig)}
    known = {k: v for k, v in args.items()
             if (k in fields or k == "norm_eps") and not (v is None and k in _DEFAULTED)}
    try:  # inconsistent sizes (heads that do not divide dim...) end here
        return LlamaConfig.from_dict(known)
    except (ValueError, TypeError, ArithmeticError) as e:
        raise CheckpointError(f"{source}: cannot build a model from model_args: {e}") from None


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra) -> None:
    """Write {"model": state_dict, "model_args": config dict, **extra} atomically."""
    for _ in range(2):  # unwrap DDP (.module) and torch.compile (._orig_mod), in either order
        model = getattr(model, "module", getattr(model, "_orig_mod", model))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"model": state, "model_args": model.config.to_dict(), **extra}, path)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Llama:
    """A Llama (eval mode) from a course, hwlib or llama2.c .pt checkpoint; weights_only.

    Names and shapes are checked against model_args on the meta device (no memory) before the
    model is built, so a small file claiming a huge model is refused at once.
    """
    ckpt = safe_torch_load(path, map_location=device)
    if not isinstance(ckpt, dict) or not {"model", "model_args"} <= set(ckpt):
        found = _few(sorted(map(str, ckpt))) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: not a model checkpoint (no 'model'/'model_args'): {found}")
    config = config_from_model_args(ckpt["model_args"], path)
    if not isinstance(ckpt["model"], dict):
        raise CheckpointError(f"{path}: 'model' is a {type(ckpt['model']).__name__}, not weights")
    state = _rename(ckpt["model"])
    try:  # other model_args values of the wrong type (dropout as text...) end here
        with torch.device("meta"):
            expected = {k: v.shape for k, v in Llama(config).state_dict().items()}
    except (ValueError, TypeError, ArithmeticError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot build a model from model_args: {e}") from None
    _check_weights(expected, state, path)
    with torch.device(device):
        model = Llama(config)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _permute_rotary(w: torch.Tensor, n_heads: int, to_hf: bool) -> torch.Tensor:
    """Reorder each head's q/k rows between interleaved pairs (2i, 2i+1) and halves (i, i + d/2).

    q . k is unchanged when q and k share a row order, so both conventions give the same model.
    """
    rows, cols = w.shape
    half = rows // n_heads // 2
    shape = (n_heads, half, 2, cols) if to_hf else (n_heads, 2, half, cols)
    return w.reshape(shape).transpose(1, 2).reshape(rows, cols)


_HF = {"attention.compute_query": "self_attn.q_proj", "attention.compute_key": "self_attn.k_proj",
       "attention.compute_value": "self_attn.v_proj",
       "attention.compute_output": "self_attn.o_proj", "feed_forward.w1": "mlp.gate_proj",
       "feed_forward.w2": "mlp.down_proj", "feed_forward.w3": "mlp.up_proj",
       "attention_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
       "tok_embeddings": "embed_tokens"}


def export_hf(model: Llama, out_dir: str | os.PathLike) -> Path:
    """Write a transformers LlamaForCausalLM directory (config.json + weights); returns it."""
    c, out_dir = model.config, Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hf = {}
    for name, w in model.state_dict().items():
        w = w.detach().float().cpu()
        if name.endswith(("compute_query.weight", "compute_key.weight")):
            w = _permute_rotary(w, c.n_heads if "query" in name else c.n_kv_heads, to_hf=True)
        for ours, theirs in _HF.items():
            name = name.replace(ours, theirs)
        name = "lm_head.weight" if name == "output.weight" else "model." + name
        hf[name] = w.contiguous().clone()  # lm_head too: llama.cpp's converter may look for it
    config = {  # rope_theta for transformers 4.x and llama.cpp, rope_parameters for 5.x
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": c.vocab_size,
        "hidden_size": c.dim, "intermediate_size": c.ffn_dim, "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads, "num_key_value_heads": c.n_kv_heads,
        "head_dim": c.head_dim, "max_position_embeddings": c.max_seq_len, "hidden_act": "silu",
        "rms_norm_eps": c.layer_norm_eps, "tie_word_embeddings": True, "rope_theta": c.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": "float32"}
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    try:  # safetensors comes with transformers; plain torch weights load as well
        from safetensors.torch import save_file
    except ImportError:
        atomic_torch_save(hf, out_dir / "pytorch_model.bin")
    else:
        save_file(hf, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    return out_dir


def to_transformers(model: Llama):
    """The same weights as transformers' LlamaForCausalLM (float32, eval), through export_hf."""
    import tempfile

    from transformers import LlamaForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()  # generation-config notes are not findings
    with tempfile.TemporaryDirectory() as d:
        export_hf(model, d)
        return LlamaForCausalLM.from_pretrained(d).float().eval()


def from_hf(path_or_model) -> Llama:
    """A Llama from a transformers LlamaForCausalLM, or from a directory that holds one."""
    hf, source = path_or_model, str(path_or_model)[:80]
    if isinstance(hf, (str, os.PathLike)):
        from transformers import LlamaForCausalLM  # the "eval" extra

        hf = LlamaForCausalLM.from_pretrained(str(path_or_model)).float()
    hc = hf.config
    # transformers 5 keeps theta in rope_parameters (rope_scaling aliases it); 4.x in rope_theta.
    rope = getattr(hc, "rope_parameters", None) or getattr(hc, "rope_scaling", None) or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        raise ValueError(f"{source}: rope scaling {rope} is not supported")
    if getattr(hc, "head_dim", None) not in (None, hc.hidden_size // hc.num_attention_heads):
        raise ValueError(f"{source}: head_dim != hidden_size / num_attention_heads")
    config = LlamaConfig(
        vocab_size=hc.vocab_size, dim=hc.hidden_size, n_layers=hc.num_hidden_layers,
        n_heads=hc.num_attention_heads, n_kv_heads=hc.num_key_value_heads,
        hidden_dim=hc.intermediate_size, layer_norm_eps=hc.rms_norm_eps,
        max_seq_len=hc.max_position_embeddings,
        rope_theta=float(rope.get("rope_theta", getattr(hc, "rope_theta", 10000.0))))
    sd = {k: v.detach().float().cpu() for k, v in hf.state_dict().items()}
    emb = sd["model.embed_tokens.weight"]
    if not torch.equal(sd.pop("lm_head.weight", emb), emb):
        raise ValueError(f"{source}: lm_head differs from embed_tokens; hwlib ties the two")
    ours = {}
    for name, w in sd.items():
        name = name.removeprefix("model.")
        for mine, theirs in _HF.items():
            name = name.replace(theirs, mine)
        if name.endswith(("compute_query.weight", "compute_key.weight")):
            heads = config.n_heads if "query" in name else config.n_kv_heads
            w = _permute_rotary(w, heads, to_hf=False)
        ours[name] = w
    return _load_weights(Llama(config), ours, source).eval()


# ---- the resume file: a checkpoint plus everything an exact continuation needs ----

@dataclass
class Progress:
    """Where a run stands: what a resume file records besides the model and optimizer."""

    step: int = 0  # optimizer updates done
    epoch: int = 0  # the epoch of the next update
    pos: int = 0  # updates done in that epoch: the position in ds.order(epoch), in batches
    best_val_loss: float = math.inf
    history: list = field(default_factory=list)  # every logged metrics dict

    def advance(self, per_epoch: int) -> int:
        """Count one update; returns the epoch it belonged to."""
        epoch, self.step, self.pos = self.epoch, self.step + 1, self.pos + 1
        if self.pos == per_epoch:
            self.epoch, self.pos = self.epoch + 1, 0
        return epoch


RESUME_KEYS = ("model", "model_args", "optimizer", "scheduler", "scaler", "rng", "train_config")


def rng_state() -> dict:
    """The RNGs training draws from (dropout): torch's CPU and CUDA generators."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def save_resume(path: str | os.PathLike, model: Llama, optimizer, scheduler, scaler,
                progress: dict, train_config: dict, **extra) -> None:
    """Write the resume file atomically: weights, optimizer, schedule, scaler, RNGs, progress."""
    state = {"model": model.state_dict(), "model_args": model.config.to_dict(),
             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "scaler": scaler.state_dict(), "rng": rng_state(), **progress}
    atomic_torch_save({**state, "train_config": train_config, **extra}, path)


def load_resume(path: str | os.PathLike, train_config: dict, same: tuple[str, ...],
                tok: Tokenizer) -> dict:
    """The resume file, refused in one line if corrupt, foreign, or written with other flags.

    `same` names the train_config keys a continuation must share with the run that wrote it.
    """
    ck = safe_torch_load(path)
    needed = set(RESUME_KEYS) | {f.name for f in dataclasses.fields(Progress)}
    if not isinstance(ck, dict) or not needed <= ck.keys():
        raise CheckpointError(f"{path}: not a hwlib resume checkpoint (needs {sorted(needed)})")
    old = ck["train_config"]
    for k in same:
        if old.get(k) != train_config[k]:
            raise ValueError(f"{path}: written with --{k} {old.get(k)!r}, now "
                             f"{train_config[k]!r}; rerun with the same flags, or pick another "
                             "--run_name")
    # Another tokenizer's ids mean other text, even with the same vocabulary size.
    if ck.get("tokenizer_fingerprint", tok.fingerprint) != tok.fingerprint:
        raise ValueError(f"{path}: written with the tokenizer {ck.get('tokenizer')}, now "
                         f"{tok.model_path}; rerun with the same --tokenizer, or pick another "
                         "--run_name")
    return ck
