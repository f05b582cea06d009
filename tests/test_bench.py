"""hwlib.bench: the dispatcher keeps every `python -m hwlib.bench NAME` of before the split."""

import pytest

from hwlib import bench


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
