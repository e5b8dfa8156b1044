"""A per-flag harness for a command line: every flag reaches the code that acts on it.

A flag a command accepted and then dropped once published unsigned models (`--sign-key` on the
publish path, issue 18). So each flag gets a `Case`: the function that acts on it and what that
function must receive. A spy stands in for the function, records its arguments and stops the
command there. A flag that must be refused instead names the message (exit 2, before any work).
`assert_every_flag_has_a_case` fails for a new flag until it gets a case. Used by
tests/tfmodel/export (the export command) and tests/serving/publish (the publish gate).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import os
import shlex
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pytest

from tfmodel.backend import keras
from tfmodel.config import Config, save_config
from tfmodel.quiet import VERBOSE_ENV
from tfmodel.runs import CONFIG_FILE, MODEL_FILE

ACTED_ON_WHILE_PARSING = {"verbose"}  # see check_verbose


class Reached(Exception):
    """Raised by a spy once called: the flag got there, and nothing after it runs."""


@dataclasses.dataclass(frozen=True)
class Case:
    """`flags` given: `target` (module.function) is called with `expected` among its arguments,
    or, with no target, the command exits 2 saying `refused` before any work."""

    dest: str
    flags: str
    target: str = ""
    expected: dict = dataclasses.field(default_factory=dict)
    refused: str = ""


def reaches(dest: str, flags: str, target: str, **expected) -> Case:
    return Case(dest, flags, target, expected)


def refused(dest: str, flags: str, message: str) -> Case:
    return Case(dest, flags, refused=message)


def assert_every_flag_has_a_case(parser: argparse.ArgumentParser, cases: Iterable[Case]) -> None:
    cases = list(cases)
    dests = {a.dest for a in parser._actions if not isinstance(a, argparse._HelpAction)}
    assert {c.dest for c in cases} == dests - ACTED_ON_WHILE_PARSING
    assert len({c.dest for c in cases}) == len(cases)


def check_verbose(parser: argparse.ArgumentParser, argv: list[str], monkeypatch) -> None:
    """`--verbose` turns TensorFlow's logs back on for the rest of the process while parsing."""
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    parser.parse_args([*argv, "--verbose"])
    assert os.environ[VERBOSE_ENV] == "1"


def make_tiny_run(folder: Path) -> Path:
    """A finished run folder: the tiny digits MLP, untrained, with the default config."""
    keras.utils.set_random_seed(0)
    pixels = keras.Input(shape=(8, 8, 1), name="pixels")
    logits = keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Rescaling(1 / 16)(pixels)))
    keras.Model(pixels, logits).save(folder / MODEL_FILE)
    config = Config()
    config.export.warmup_records = 1
    save_config(config, folder / CONFIG_FILE)
    return folder


def spy(monkeypatch, target: str) -> dict:
    """Replaces `module.function` by one recording its arguments by name, then raising Reached."""
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    signature = inspect.signature(getattr(module, name))
    arguments: dict = {}

    def record(*args, **kwargs):
        arguments.update(signature.bind(*args, **kwargs).arguments)
        raise Reached(target)

    monkeypatch.setattr(module, name, record)
    return arguments


def check_case(
    case: Case,
    main: Callable[[list[str]], int],
    argv: list[str],
    *,
    placeholders: Mapping[str, str],
    first_work: Iterable[str],
    monkeypatch,
    capsys,
) -> None:
    """Runs `main(argv + case.flags)` and checks the case. `placeholders` ("run" → the run
    folder) are how cases write paths known only at test time; `first_work` are the functions
    a refused flag must stop before."""
    argv = [*argv, *shlex.split(case.flags)]
    if not case.target:
        for target in first_work:
            spy(monkeypatch, target)
        assert main(argv) == 2
        assert case.refused.format(**placeholders) in capsys.readouterr().err
        return
    arguments = spy(monkeypatch, case.target)
    with pytest.raises(Reached):
        main(argv)
    named = {value: f"{{{key}}}" for key, value in placeholders.items()}
    arguments = {key: named.get(str(value), value) for key, value in arguments.items()}
    assert {key: arguments.get(key) for key in case.expected} == case.expected
