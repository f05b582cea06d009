"""Command lines built from config dataclasses, and configs turned back into flags.

    @dataclass
    class EvalConfig:
        checkpoint: str = flag("", "the .pt file to evaluate", required=True)
        top_k: int | None = flag(None, "top-k for sampling")
        use_gpu: bool = flag(True, "run on CUDA when available")

    cfg = parse(EvalConfig, ["--checkpoint", "m.pt", "--no_use_gpu"])
    config_to_flags(cfg)   # ['--checkpoint=m.pt', '--no_use_gpu']: parse() gives cfg back

Every field is the flag of the same name, spelled with underscores like the course's flags
(`--use_gpu`, `--val_per_steps`). A boolean `x` is `--x` and `--no_x`, one style kit-wide. A field
whose course flag is spelled otherwise names it with `name=` (`--pretrained-model-path`); its
underscore spelling stays an alias. An optional field (`int | None`) also takes the word None, so
every config survives config -> flags -> config.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

IMPL_PREFIX = "hwlib_impl_"  # module names of files loaded by --impl


def flag(default: Any, help: str, *, name: str | None = None, choices: Sequence | None = None,
           nargs: str | None = None, required: bool = False) -> Any:
    """A dataclass field that is also a flag: its help, and argparse's choices/nargs/required."""
    meta = {"help": help, "name": name, "choices": choices, "nargs": nargs, "required": required}
    if isinstance(default, (list, dict, set)):  # a mutable default needs a factory
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _unwrap(tp) -> tuple[type, bool, bool]:
    """(scalar type, optional?, list?) of an annotation such as `int | None` or `list[str]`."""
    optional = False
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional, tp = len(args) < len(typing.get_args(tp)), args[0]
    if typing.get_origin(tp) in (list, tuple):  # list[str], tuple[str, ...]
        return typing.get_args(tp)[0], optional, True
    return tp, optional, False


def _or_none(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_value(text: str) -> Any:
        return None if text in ("None", "none") else convert(text)

    parse_value.__name__ = convert.__name__  # argparse names the type in its error message
    return parse_value


def add_config(parser: argparse.ArgumentParser, cls: type) -> argparse.ArgumentParser:
    """Add one flag per field of the dataclass `cls` to `parser`; returns the parser."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        m, default = f.metadata, _default(f)
        tp, optional, many = _unwrap(hints[f.name])
        names = [f"--{m.get('name') or f.name}"] + ([f"--{f.name}"] if m.get("name") else [])
        help_ = m.get("help", "")
        if tp is bool:
            group = parser.add_mutually_exclusive_group()
            group.add_argument(*names, dest=f.name, action="store_true", default=default,
                               help=help_ + (" (default)" if default else ""))
            group.add_argument(f"--no_{f.name}", dest=f.name, action="store_false",
                               help=argparse.SUPPRESS if not default else f"no {f.name}")
            continue
        kw = {"dest": f.name, "default": default, "help": help_,
              "type": _or_none(tp) if optional else tp, "required": m.get("required", False)}
        if m.get("choices"):
            kw["choices"] = m["choices"]
        if many or m.get("nargs"):
            kw["nargs"] = m.get("nargs") or "+"
        parser.add_argument(*names, **kw)
    return parser


def config_parser(*configs: type, prog: str | None = None,
                 description: str | None = None) -> argparse.ArgumentParser:
    """One argparse parser with the flags of every dataclass in `configs`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for cls in configs:
        add_config(parser, cls)
    return parser


def from_namespace(cls: type, ns: argparse.Namespace):
    """The `cls` config among parsed flags (a parser may hold several configs' flags)."""
    hints, values = typing.get_type_hints(cls), {}
    for f in dataclasses.fields(cls):
        value = getattr(ns, f.name)
        if typing.get_origin(hints[f.name]) is tuple and value is not None:
            value = tuple(value)  # nargs gives a list; the config keeps its tuple
        values[f.name] = value
    return cls(**values)


def parse(cls: type, argv: list[str] | None = None, prog: str | None = None):
    """A `cls` config from command-line flags."""
    return from_namespace(cls, config_parser(cls, prog=prog).parse_args(argv))


def config_to_flags(cfg) -> list[str]:
    """The flags that rebuild `cfg` through `parse`: one per field that differs from its default."""
    flags = []
    for f in dataclasses.fields(cfg):
        value, name = getattr(cfg, f.name), f.metadata.get("name") or f.name
        if value == _default(f):
            continue
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no_{f.name}")
        elif isinstance(value, (list, tuple)):
            flags += [f"--{name}", *map(str, value)]
        else:  # --x=value: a value that starts with '-' is not read as a flag
            flags.append(f"--{name}={value}")
    return flags


def load_impl(path: str | Path, wanted: dict[str, str]) -> dict[str, Any]:
    """`--impl FILE`: {keyword: obj} for each name of `wanted` ({name: keyword}) the learner's file
    defines; says in one line which are the learner's and which stay the kit's."""
    found = load_names(path, wanted)
    kit = [n for n in wanted if n not in found]
    print(f"{path}: using your {', '.join(found) or 'nothing'}"
          + (f"; the kit's {', '.join(kit)}" if kit else ""))
    return {wanted[n]: obj for n, obj in found.items()}


def load_names(path: str | Path, names: Sequence[str]) -> dict[str, Any]:
    """The objects a learner's .py file defines under `names` (absent ones left out).

    The file runs as a module named after it (registered, so process pools find its functions)
    with its own folder on sys.path, as the course's scripts import their neighbours.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: --impl file not found")
    path = path.resolve()
    name = IMPL_PREFIX + re.sub(r"[^0-9A-Za-z_]", "_", path.stem)
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as e:  # the learner's code: any error is theirs, said in one line
        sys.modules.pop(name, None)
        raise ValueError(f"{path}: cannot import it: {type(e).__name__}: {str(e)[:160]}") from None
    finally:
        sys.path.remove(str(path.parent))
    return {n: getattr(module, n) for n in names if callable(getattr(module, n, None))}
