"""hwlib.bench: the dispatcher keeps every `python -m hwlib.bench NAME` of before the split."""

import pytest

from hwlib import bench, bench_model


def test_every_benchmark_name_dispatches_to_its_module():
    names = {"generate", "train-step", "train", "tokenize", "preprocess", "scale", "reliability",
             "gpu", "demo"}
    assert names <= set(bench.BENCHMARKS)
    for name, fn in bench.BENCHMARKS.items():
        assert callable(fn) and fn.__module__.startswith("hwlib.bench_"), name


def test_unknown_name_prints_the_names(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["nope"])
    assert "one of: " in str(e.value) and "reliability" in str(e.value)


def test_a_benchmark_runs_through_the_dispatcher(capsys):
    bench.main(["train", "--model_config", "tiny", "--steps", "1", "--warmup", "0",
                "--block_size", "8", "--micro_batch_size", "2"])
    assert "tokens/s" in capsys.readouterr().out


def test_bandwidth_is_a_plausible_rate():
    assert 1e8 < bench_model._bandwidth(mb=32, repeats=1) < 1e13  # bytes/s: 0.1 GB/s to 10 TB/s


def test_generate_and_train_step_print_ratios_and_the_limit(capsys):
    pytest.importorskip("transformers")
    bench.main(["generate", "--preset", "tiny", "--new-tokens", "4", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "ratio hwlib " in out and "ratio hwlib bf16 " in out and "target >= 2.0x" in out
    assert "same greedy continuation: True" in out and "MB of float32 weights per token" in out
    bench.main(["train-step", "--preset", "tiny", "--seq-len", "8", "--batch", "2",
                "--repeats", "1"])
    out = capsys.readouterr().out
    assert "ratio hwlib " in out and "target >= 1.2x" in out
