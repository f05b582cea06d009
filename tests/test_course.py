"""The course's contract (hkust-nlp/COMP4901B-LLMs assignment1), held here as data, checked
against the kit: run_llama.py's flags (name, type, default), its scheduler sequence and loop
convention, and its model file name.

Sources: the flags its run_llama.py reads (`args.*`) with the types and defaults of its cli.py's
ancestors (minllama's run_llama.py get_args); where a default points at data the kit keeps its
bundled files (README). Facts, not code.
"""

from __future__ import annotations

import argparse

import pytest
import torch

from hwlib import train as T
from hwlib.schedule import TorchSchedule, WarmupLearningRateScheduler

NOT_DATA = object()  # a default that points at data: the kit's bundled files instead

# flag: (type, default)
COURSE_FLAGS = {
    "data_path": (str, NOT_DATA),
    "tokenized_dir": (str, None),
    "overwrite_tokenized": (bool, False),
    "block_size": (int, 512),
    "batch_size": (int, 8),
    "micro_batch_size": (int, None),
    "epochs": (int, 5),
    "lr": (float, 1e-3),
    "warmup_steps": (int, 0),
    "warmup_ratio": (float, 0.0),
    "val_path": (str, None),
    "val_tokenized_dir": (str, None),
    "val_per_steps": (int, 0),
    "test_path": (str, None),
    "test_tokenized_dir": (str, None),
    "auto_resume": (bool, False),
    "run_name": (str, "run"),
    "use_gpu": (bool, False),
    "seed": (int, 1337),
    "option": (str, "generate"),
    "pretrained-model-path": (str, None),
    "max_sentence_len": (int, None),
    "hidden_dropout_prob": (float, 0.3),
    "generated_sentence_low_temp_out": (str, "generated-sentence-temp-0.txt"),
    "generated_sentence_high_temp_out": (str, "generated-sentence-temp-1.txt"),
}
COURSE_OPTIONS = ("pretrain", "generate")

# WarmupLearningRateScheduler(base_lr=1.0, warmup_steps=4): lr_at_step(0..6), 0-indexed
COURSE_SEQUENCE = [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
# The course's loop sets lr = scheduler(global_step + 1) before each optimizer.step():
COURSE_UPDATE_LRS = [0.25, 0.5, 0.75, 1.0, 1.0]  # updates 1..5


def actions() -> dict[str, argparse.Action]:
    parser = T.build_parser()
    return {a.option_strings[0][2:]: a for a in parser._actions if a.option_strings}


@pytest.mark.parametrize("name", sorted(COURSE_FLAGS))
def test_every_course_flag_has_its_type_and_default(name):
    tp, default = COURSE_FLAGS[name]
    a = actions().get(name)
    assert a is not None, f"--{name} is not a flag of python -m hwlib.train"
    if tp is bool:
        assert isinstance(a, argparse._StoreTrueAction) and a.default is default
        return
    assert a.type("3" if tp is not str else "x") == tp("3" if tp is not str else "x")
    if default is not NOT_DATA:
        assert a.default == default
    value = "pretrain" if name == "option" else "7" if tp is not str else "x"
    assert getattr(T.build_parser().parse_args([f"--{name}", value]), a.dest) == tp(value)


def test_option_choices_hold_the_courses():
    assert set(COURSE_OPTIONS) <= set(actions()["option"].choices)


def test_the_course_command_line_parses():
    cfg, gen = T.parse_configs(
        "--option pretrain --data_path d --block_size 512 --batch_size 64 --micro_batch_size 16 "
        "--lr 5e-4 --warmup_ratio 0.05 --epochs 1 --val_per_steps 200 --run_name babylm42M "
        "--use_gpu --auto_resume --max_sentence_len 128 --hidden_dropout_prob 0.1".split())
    assert (cfg.max_sentence_len, cfg.hidden_dropout_prob, cfg.micro_batch_size) == (128, 0.1, 16)


def test_scheduler_sequence_and_loop_convention():
    s = WarmupLearningRateScheduler(1.0, 4)
    assert [s.lr_at_step(i) for i in range(7)] == COURSE_SEQUENCE
    assert [s(i) for i in range(7)] == COURSE_SEQUENCE
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched, seen = TorchSchedule(opt, s), []
    for _ in COURSE_UPDATE_LRS:
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == COURSE_UPDATE_LRS


def test_model_file_keeps_the_courses_name_for_a_complete_run():
    cfg = T.TrainConfig(run_name="babylm42M", epochs=1, lr=5e-4, out_dir="runs")
    # run_llama.py: f"{run_name}-{option}-{epochs}-{lr}.pt"
    assert T.run_paths(cfg)["checkpoint"].name == "babylm42M-pretrain-1-0.0005.pt"
