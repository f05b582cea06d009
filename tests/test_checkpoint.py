"""Tests for hwlib.checkpoint: round trip, llama2.c and wrapper prefixes, refusals, transformers."""

from __future__ import annotations

import pytest
import torch

from hwlib.checkpoint import export_hf, from_hf, load_checkpoint, save_checkpoint
from hwlib.model import Llama, LlamaConfig
from hwlib.utils import CheckpointError

V = 97  # a vocabulary size no preset uses, so a hard-coded size would show


def tiny() -> Llama:
    torch.manual_seed(0)
    return Llama(LlamaConfig.preset("tiny", vocab_size=V)).eval()


def tokens(B=2, T=12) -> torch.Tensor:
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(1))


# ---- checkpoints ----


def test_checkpoint_round_trip(tmp_path):
    model = tiny()
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, model, iter_num=7, best_val_loss=1.5)
    raw = torch.load(path, weights_only=True)
    assert raw["iter_num"] == 7 and raw["model_args"]["vocab_size"] == V
    loaded = load_checkpoint(path)
    x = tokens()
    assert torch.equal(loaded(x)[0], model(x)[0]) and not loaded.training


def llama2c_state(model: Llama) -> dict:
    names = {"compute_query": "wq", "compute_key": "wk", "compute_value": "wv",
             "compute_output": "wo"}
    state = {}
    for k, v in model.state_dict().items():
        for ours, theirs in names.items():
            k = k.replace(ours, theirs)
        state[k] = v.clone()
    return state


def test_llama2c_checkpoint_with_compile_and_ddp_prefixes(tmp_path):
    model = tiny()
    state = {"_orig_mod." + k: v for k, v in llama2c_state(model).items()}
    state["_orig_mod.freqs_cos"] = torch.zeros(3)  # llama2.c's RoPE tables are derived, dropped
    args = {k: v for k, v in model.config.to_dict().items() if k not in ("attention", "rope_theta")}
    args["norm_eps"] = args.pop("layer_norm_eps")
    ckpt = {"model": state, "model_args": args, "optimizer": {}, "iter_num": 3}
    torch.save(ckpt, tmp_path / "a.pt")
    x = tokens()
    assert torch.equal(load_checkpoint(tmp_path / "a.pt")(x)[0], model(x)[0])
    ddp = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save({"model": ddp, "model_args": model.config.to_dict()}, tmp_path / "b.pt")
    assert torch.equal(load_checkpoint(tmp_path / "b.pt")(x)[0], model(x)[0])


def test_missing_and_unexpected_keys_are_named(tmp_path):
    model = tiny()
    state = dict(model.state_dict())
    del state["layers.1.feed_forward.w2.weight"]
    state["layers.1.extra.weight"] = torch.zeros(1)
    torch.save({"model": state, "model_args": model.config.to_dict()}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "bad.pt")
    msg = str(e.value)
    assert "bad.pt" in msg and "layers.1.feed_forward.w2.weight" in msg
    assert "layers.1.extra.weight" in msg and "\n" not in msg
    wrong = LlamaConfig.preset("tiny", vocab_size=V + 1).to_dict()
    torch.save({"model": model.state_dict(), "model_args": wrong}, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match="shape.pt.*size mismatch"):
        load_checkpoint(tmp_path / "shape.pt")
    torch.save({"weights": state}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="foreign.pt.*model_args"):
        load_checkpoint(tmp_path / "foreign.pt")


class Payload:  # any pickled Python object could run code on load
    pass


def test_pickle_payload_is_refused(tmp_path):
    model = tiny()
    path = tmp_path / "evil.pt"
    args = model.config.to_dict()
    torch.save({"model": model.state_dict(), "model_args": args, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)


# ---- transformers parity ----


def test_transformers_parity_and_back(tmp_path):
    transformers = pytest.importorskip("transformers")
    model = tiny()  # the tiny preset uses grouped-query attention (4 heads, 2 kv heads)
    export_hf(model, tmp_path)
    hf = transformers.LlamaForCausalLM.from_pretrained(tmp_path).float().eval()
    x = tokens(B=2, T=40)
    with torch.no_grad():
        ours, theirs = model(x)[0], hf(x).logits
    assert (ours - theirs).abs().max() < 1e-4
    prompt = x[:, :8]
    hf_out = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=24,
                         do_sample=False, eos_token_id=None, pad_token_id=0)
    assert torch.equal(model.generate(prompt, 24, temperature=0.0), hf_out)
    for back in (from_hf(tmp_path), from_hf(hf)):
        assert torch.equal(back(x)[0], ours)
        assert back.config.hidden_dim == model.config.ffn_dim


# ---- hostile sizes and files that are not checkpoints (issue 12, items 8 and 16) ----


def test_absurd_sizes_are_refused_before_allocating(tmp_path, record_property):
    """A 1.5 KB file claiming a 2,000,000-token vocabulary: refused by shape, in well under 1 s."""
    import time

    c = LlamaConfig(vocab_size=8, dim=8, n_layers=1, n_heads=2, hidden_dim=8, max_seq_len=8)
    small = {k: v.clone() for k, v in Llama(c).state_dict().items()}
    path = tmp_path / "huge.pt"
    torch.save({"model": small, "model_args": {**c.to_dict(), "vocab_size": 2_000_000}}, path)
    assert path.stat().st_size < 8_000
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"huge.pt: model_args vocab_size=2000000") as e:
        load_checkpoint(path)
    assert time.perf_counter() - start < 0.5 and "\n" not in str(e.value)
    # A plausible size the weights do not have is refused by shape, still before allocating.
    torch.save({"model": small, "model_args": {**c.to_dict(), "vocab_size": 500_000}}, path)
    start = time.perf_counter()
    mismatch = r"huge.pt.*size mismatch for (output|tok_embeddings).weight: the file has \(8, 8\)"
    with pytest.raises(CheckpointError, match=mismatch):
        load_checkpoint(path)
    assert time.perf_counter() - start < 0.5
    for key, value in [("n_layers", 10**9), ("dim", 1 << 40), ("max_seq_len", 1 << 40)]:
        torch.save({"model": small, "model_args": {**c.to_dict(), key: value}}, path)
        start = time.perf_counter()
        with pytest.raises(CheckpointError, match=f"huge.pt: model_args {key}="):
            load_checkpoint(path)
        assert time.perf_counter() - start < 0.5
    record_property("reliability: checkpoints with absurd sizes refused before allocating", 5)


def test_missing_required_model_args_are_named_and_extra_ones_ignored(tmp_path):
    model = tiny()
    args = {**model.config.to_dict(), "hidden_dropout_prob": 0.1, "return_dict": True}
    torch.save({"model": model.state_dict(), "model_args": args}, tmp_path / "extra.pt")
    x = tokens()
    assert torch.equal(load_checkpoint(tmp_path / "extra.pt")(x)[0], model(x)[0])
    for key, value in [("dropout", "0.1"), ("layer_norm_eps", float("nan")), ("rope_theta", -1.0)]:
        torch.save({"model": model.state_dict(), "model_args": {**args, key: value}},
                   tmp_path / "odd.pt")
        with pytest.raises(CheckpointError, match=f"odd.pt: model_args {key}=.* not a usable"):
            load_checkpoint(tmp_path / "odd.pt")
    nones = {**args, "layer_norm_eps": None, "max_seq_len": None}  # None: the default
    torch.save({"model": model.state_dict(), "model_args": nones}, tmp_path / "none.pt")
    assert load_checkpoint(tmp_path / "none.pt").config.max_seq_len == LlamaConfig().max_seq_len
    del args["dim"], args["n_layers"]
    torch.save({"model": model.state_dict(), "model_args": args}, tmp_path / "lacks.pt")
    with pytest.raises(CheckpointError, match=r"lacks.pt: model_args lacks \['dim', 'n_layers'\]"):
        load_checkpoint(tmp_path / "lacks.pt")


@pytest.mark.parametrize("content", [b"Once upon a time there was a cat.\n", b"", b"{}"])
def test_a_text_file_is_not_a_checkpoint(tmp_path, content, record_property):
    path = tmp_path / "story.txt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: not a checkpoint") and "run code" not in msg
    assert "\n" not in msg
    record_property("reliability: files that are not checkpoints named as such", 1)


def test_generate_given_a_text_file_says_it_is_not_a_checkpoint(tmp_path, monkeypatch):
    from hwlib.train import main

    monkeypatch.chdir(tmp_path)
    story = tmp_path / "story.txt"
    story.write_text("Once upon a time there was a cat.\n")
    with pytest.raises(SystemExit) as e:
        main(["--option", "generate", "--pretrained-model-path", str(story)])
    assert str(e.value) == f"error: {story}: not a checkpoint (it starts with b'On'; a torch .pt " \
                           "file is a zip archive or a pickle)"
