"""hwlib.cli: flags from a dataclass and back; every CLI config survives the round trip."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from hwlib.cli import config_parser, config_to_flags, flag, from_namespace, parse
from hwlib.evaluate import EvalConfig
from hwlib.sample import GenerateConfig
from hwlib.train import TrainConfig, parse_config, parse_configs


@dataclass
class Demo:
    name: str = flag("a", "a name")
    count: int = flag(3, "how many")
    rate: float | None = flag(0.5, "optional rate")
    fast: bool = flag(False, "off by default")
    progress: bool = flag(True, "on by default")
    mode: str = flag("x", "one of two", choices=("x", "y"))
    files: list[str] = flag(["f"], "one or more files")
    model_path: str | None = flag(None, "the course's hyphenated flag", name="model-path")


def changed(cfg):
    """`cfg` with every field set to something other than its default."""
    new = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        choices = f.metadata.get("choices")
        if choices:
            new[f.name] = next(c for c in choices if c != v)
        elif isinstance(v, bool):
            new[f.name] = not v
        elif isinstance(v, int):
            new[f.name] = v + 7
        elif isinstance(v, float):
            new[f.name] = v * 3 + 0.125
        elif isinstance(v, list):
            new[f.name] = v + ["-odd value"]
        elif v is None:  # optional fields: a value of their type, by the field's help
            new[f.name] = "-dash/path" if "int" not in str(f.type) and "float" not in str(
                f.type) else 2
        else:
            new[f.name] = v + " -changed"
    return dataclasses.replace(cfg, **new)


@pytest.mark.parametrize("cls", [TrainConfig, GenerateConfig, EvalConfig, Demo])
def test_round_trip_of_every_cli_config(cls):
    base = cls(checkpoint="m.pt") if cls is EvalConfig else cls()
    for cfg in (base, changed(base)):
        assert parse(cls, config_to_flags(cfg)) == cfg
    if cls is TrainConfig:
        assert parse_config(config_to_flags(changed(base))) == changed(base)


def test_none_survives_for_an_optional_field_with_a_default():
    cfg = GenerateConfig(top_k=None)  # the default is the course's 50
    assert config_to_flags(cfg) == ["--top_k=None"]
    assert parse(GenerateConfig, config_to_flags(cfg)) == cfg
    assert parse_configs(["--top_k=None"])[1] == cfg


def test_booleans_have_one_underscore_style():
    assert parse(Demo, ["--fast", "--no_progress"]) == Demo(fast=True, progress=False)
    with pytest.raises(SystemExit):
        parse(Demo, ["--no-progress"])  # the hyphen style is gone kit-wide
    assert parse_config(["--no_progress"]).progress is False
    assert config_to_flags(Demo(fast=True, progress=False)) == ["--fast", "--no_progress"]


def test_choices_nargs_and_the_course_name():
    assert parse(Demo, ["--files", "a", "b", "--mode", "y"]) == Demo(files=["a", "b"], mode="y")
    with pytest.raises(SystemExit):
        parse(Demo, ["--mode", "z"])
    for spelling in ("--model-path", "--model_path"):
        assert parse(Demo, [spelling, "m.pt"]).model_path == "m.pt"
    assert config_to_flags(Demo(model_path="m.pt")) == ["--model-path=m.pt"]
    assert Demo().files is not Demo().files  # a list default is never shared


def test_one_parser_holds_two_configs():
    @dataclass
    class Other:
        other: int = flag(1, "another config's flag")

    ns = config_parser(Demo, Other).parse_args(["--count", "4", "--other", "2"])
    assert from_namespace(Demo, ns) == Demo(count=4) and from_namespace(Other, ns) == Other(2)


def test_required_flags_are_required():
    with pytest.raises(SystemExit):
        parse(EvalConfig, [])
    assert parse(EvalConfig, ["--checkpoint", "m.pt"]) == EvalConfig(checkpoint="m.pt")
