"""The course's model-side contract (COMP4901B HW1, `assignment1/`) as data, checked on the kit.

Facts, not copied code: the names, signatures and defaults a learner's code relies on, the layout of
a checkpoint the course's `save_model` writes, and the token cache its reader expects (issue 13).
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import types

import numpy as np
import pytest
import torch

from hwlib.checkpoint import load_checkpoint, save_checkpoint
from hwlib.model import Attention, Llama, LlamaConfig
from hwlib.tokenizer import tokenize_directory

# Llama.generate(self, idx, max_new_tokens, temperature=1.0, top_k=None), reading
# self.params.max_seq_len; Attention.compute_query_key_value_scores(self, query, key, value).
COURSE_GENERATE = [("idx", inspect.Parameter.empty), ("max_new_tokens", inspect.Parameter.empty),
                   ("temperature", 1.0), ("top_k", None)]
COURSE_SCORES = ["self", "query", "key", "value"]
COURSE_ATTENTION_ATTRS = ["n_local_heads", "n_local_kv_heads", "n_rep", "head_dim", "max_seq_len",
                          "compute_query", "compute_key", "compute_value", "compute_output",
                          "attn_dropout", "resid_dropout", "dropout"]
COURSE_LLAMA_ATTRS = ["params", "tok_embeddings", "dropout", "layers", "norm", "output"]
COURSE_LAYER_ATTRS = ["attention", "feed_forward", "attention_norm", "ffn_norm"]

# save_model's dict: the LlamaPretrainingModel wrapper's state_dict (so every weight name starts
# with "llama."), the optimizer, the parsed flags, the model's config twice (a namespace and a dict
# with many keys the model does not read), the three RNG states and the position in training.
COURSE_CHECKPOINT_KEYS = ["model", "optim", "args", "model_config", "model_args", "system_rng",
                          "numpy_rng", "torch_rng", "epoch", "global_step"]
COURSE_WEIGHT_PREFIX = "llama."
COURSE_EXTRA_MODEL_ARGS = {  # settings a PretrainedConfig-style dict carries besides the sizes
    "return_dict": True, "output_hidden_states": False, "output_attentions": False,
    "torchscript": False, "torch_dtype": None, "use_bfloat16": False, "tf_legacy_loss": False,
    "pruned_heads": {}, "tie_word_embeddings": True, "is_encoder_decoder": False,
    "is_decoder": False, "cross_attention_hidden_size": None, "add_cross_attention": False,
    "tie_encoder_decoder": False, "max_length": 20, "min_length": 0, "do_sample": False,
    "early_stopping": False, "num_beams": 1, "num_beam_groups": 1, "diversity_penalty": 0.0,
    "temperature": 1.0, "top_k": 50, "top_p": 1.0, "typical_p": 1.0, "repetition_penalty": 1.0,
    "length_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None, "num_return_sequences": 1, "chunk_size_feed_forward": 0,
    "output_scores": False, "return_dict_in_generate": False, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "remove_invalid_values": False, "architectures": None,
    "finetuning_task": None, "id2label": {0: "LABEL_0", 1: "LABEL_1"},
    "label2id": {"LABEL_0": 0, "LABEL_1": 1}, "tokenizer_class": None, "prefix": None,
    "bos_token_id": None, "pad_token_id": None, "eos_token_id": None, "sep_token_id": None,
    "decoder_start_token_id": None, "task_specific_params": None, "problem_type": None,
    "name_or_path": "", "transformers_version": "4.30.0", "hidden_dropout_prob": 0.1,
    "position_embedding_type": "rotary", "max_position_embeddings": 256,
}
# The course's token cache: <data>/tokenized/<file>.bin (uint16) and a metadata.json its reader
# opens as {"dtype": ..., "files": [{"source", "token_file", "token_count"}, ...]}; every line of
# a text file is BOS, its ids, EOS.
COURSE_CACHE_DTYPE = "uint16"
COURSE_CACHE_ENTRY_KEYS = ["source", "token_file", "token_count"]
COURSE_LINE_LAYOUT = ["bos", "ids", "eos"]
V = 97


def tiny() -> Llama:
    torch.manual_seed(0)
    return Llama(LlamaConfig.preset("tiny", vocab_size=V)).eval()


def test_signatures_and_attribute_names_are_the_courses():
    params = list(inspect.signature(Llama.generate).parameters.values())[1:5]
    assert [(p.name, p.default) for p in params] == COURSE_GENERATE
    scores = inspect.signature(Attention.compute_query_key_value_scores).parameters
    assert list(scores) == COURSE_SCORES
    model = tiny()
    assert all(hasattr(model, a) for a in COURSE_LLAMA_ATTRS)
    assert all(hasattr(model.layers[0], a) for a in COURSE_LAYER_ATTRS)
    attn = model.layers[0].attention
    assert [a for a in COURSE_ATTENTION_ATTRS if not hasattr(attn, a)] == []
    assert isinstance(attn.attn_dropout, torch.nn.Dropout)
    assert model.params.max_seq_len == 256


def course_checkpoint(model: Llama) -> dict:
    """A dict in the layout the course's save_model writes, built from a kit model's weights."""
    sizes = {k: v for k, v in model.config.to_dict().items()
             if k not in ("attention", "rope_theta")}
    sizes["hidden_dim"] = None  # the course derives it from multiple_of, like the kit
    model_args = {**sizes, **COURSE_EXTRA_MODEL_ARGS}
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    flags = argparse.Namespace(option="pretrain", lr=5e-4, batch_size=64, use_gpu=False,
                               data_path="data/babylm/train_10M", warmup_ratio=0.05, seed=42)
    ck = {"model": {COURSE_WEIGHT_PREFIX + k: v.clone() for k, v in model.state_dict().items()},
          "optim": optimizer.state_dict(), "args": flags,
          "model_config": types.SimpleNamespace(**sizes), "model_args": model_args,
          "system_rng": random.getstate(), "numpy_rng": np.random.get_state(),
          "torch_rng": torch.get_rng_state(), "epoch": 0, "global_step": 120,
          "val_loss": np.float64(3.25), "tokens": np.int64(1 << 20)}
    assert list(ck)[: len(COURSE_CHECKPOINT_KEYS)] == COURSE_CHECKPOINT_KEYS
    return ck


def test_a_course_checkpoint_loads_and_generates_like_the_kit_s(tmp_path):
    model = tiny()
    save_checkpoint(tmp_path / "kit.pt", model)
    torch.save(course_checkpoint(model), tmp_path / "course.pt")
    assert len(COURSE_EXTRA_MODEL_ARGS) > 40
    kit, course = load_checkpoint(tmp_path / "kit.pt"), load_checkpoint(tmp_path / "course.pt")
    prompt = torch.randint(0, V, (2, 6), generator=torch.Generator().manual_seed(1))
    greedy = course.generate(prompt, 20, temperature=0.0)
    assert torch.equal(greedy, kit.generate(prompt, 20, temperature=0.0))
    assert torch.equal(course(prompt)[0], model(prompt)[0])


def test_a_course_checkpoint_with_code_inside_a_namespace_is_still_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("the payload ran",))

    ck = course_checkpoint(tiny())
    ck["args"].callback = Payload()  # an allowed type may not smuggle a disallowed one
    torch.save(ck, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="evil.pt.*refused"):
        load_checkpoint(tmp_path / "evil.pt")


def test_course_model_args_missing_a_size_is_refused(tmp_path):
    ck = course_checkpoint(tiny())
    del ck["model_args"]["n_heads"]
    torch.save(ck, tmp_path / "no-heads.pt")
    with pytest.raises(Exception, match=r"no-heads.pt: model_args lacks \['n_heads'\]"):
        load_checkpoint(tmp_path / "no-heads.pt")


def test_the_token_cache_reads_the_courses_way(tmp_path, tok):
    lines = ["Once upon a time there was a cat.", "", "The cat sat on a mat. It was happy."]
    (tmp_path / "stories.train").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tokenize_directory(tmp_path, tokenizer=tok, workers=1, progress=False)
    meta = json.loads((tmp_path / "tokenized" / "metadata.json").read_text())
    assert meta["dtype"] == COURSE_CACHE_DTYPE and isinstance(meta.get("version"), int)
    (entry,) = meta["files"]
    assert all(k in entry for k in COURSE_CACHE_ENTRY_KEYS)
    ids = np.fromfile(tmp_path / "tokenized" / entry["token_file"], dtype=meta["dtype"])
    assert len(ids) == entry["token_count"]
    marks = {"bos": [tok.bos_id], "eos": [tok.eos_id]}
    expected = [i for line in lines if line for part in COURSE_LINE_LAYOUT
                for i in marks.get(part, tok.encode(line, bos=False))]
    assert ids.tolist() == expected
