"""Every flag of `python -m tfmodel.export` reaches the code that acts on it, on both paths.

A plain export and `--publish BASE` share one parser; a flag one path accepted and dropped once
published unsigned models (`--publish --sign-key`). Each (path, flag) case below names the function
that acts on the flag and what it must receive; a spy stands in for that function, records its
arguments and stops the command there. A flag a path does not act on must be refused (exit 2)
before any work. A new flag fails `test_every_flag_has_a_case_on_both_paths` until it gets cases.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import os
import shlex
from pathlib import Path

import pytest

from tfmodel import export
from tfmodel.backend import keras
from tfmodel.config import Config, save_config
from tfmodel.infra_validation import InfraResult
from tfmodel.quiet import VERBOSE_ENV
from tfmodel.runs import CONFIG_FILE, MODEL_FILE


class Reached(Exception):
    """Raised by a spy once called: the flag got there, and nothing after it runs."""


@dataclasses.dataclass(frozen=True)
class Case:
    """`flags` given on `path` ("export" or "publish"): `tfmodel.<target>` is called with
    `expected` among its arguments, or, with no target, the command exits 2 saying `refused`
    before loading the run."""

    path: str
    dest: str
    flags: str
    target: str = ""
    expected: dict = dataclasses.field(default_factory=dict)
    refused: str = ""


def reaches(path: str, dest: str, flags: str, target: str, **expected) -> Case:
    return Case(path, dest, flags, target, expected)


def refused(path: str, dest: str, flags: str, message: str) -> Case:
    return Case(path, dest, flags, refused=message)


KEY, BASE_DIR, SERVER = "signing.key", "elsewhere", "my-model-server --flag"
SET = "--set export.model_name=renamed"
CASES = [
    reaches("export", "run_dir", "", "export.load_run", run_dir="{run}"),
    reaches("export", "version", "--version 3", "export._choose_version", requested=3),
    reaches(
        "export",
        "export_base",
        f"--export-base {BASE_DIR}",
        "export.resolve_export_base",
        export_base=BASE_DIR,
    ),
    reaches("export", "sign_key", f"--sign-key {KEY}", "export.sign_model", private_key=KEY),
    reaches("export", "set", SET, "export.write_warmup_requests", model_name="renamed"),
    reaches("export", "debug", "--debug", "export.report_error", debug=True),
    refused(
        "export",
        "max_accuracy_drop",
        "--max-accuracy-drop 0.1",
        "--max-accuracy-drop applies only with --publish",
    ),
    refused(
        "export", "infra_server", "--infra-server x", "--infra-server applies only with --publish"
    ),
    refused("export", "force", "--force", "--force applies only with --publish"),
    reaches("publish", "run_dir", "", "publish.load_run", run_dir="{run}"),
    reaches("publish", "publish", "", "publish.next_version", model_dir="{base}"),
    refused("publish", "version", "--version 3", "--version does not apply with --publish"),
    refused(
        "publish",
        "export_base",
        f"--export-base {BASE_DIR}",
        "--export-base does not apply with --publish",
    ),
    reaches("publish", "sign_key", f"--sign-key {KEY}", "export.sign_model", private_key=KEY),
    reaches("publish", "set", SET, "export.write_warmup_requests", model_name="renamed"),
    reaches("publish", "debug", "--debug", "export.report_error", debug=True),
    reaches(
        "publish", "max_accuracy_drop", "--max-accuracy-drop 0.25", "publish._judge", max_drop=0.25
    ),
    reaches(
        "publish",
        "infra_server",
        f"--infra-server '{SERVER}'",
        "publish.validate_in_server",
        server_command=SERVER,
    ),
    # The faked infra validation fails, so only --force moves the candidate into BASE.
    reaches("publish", "force", "--force", "publish._move_into"),
]


def parser_dests() -> set[str]:
    actions = export.build_parser()._actions
    return {a.dest for a in actions if not isinstance(a, argparse._HelpAction)}


def test_every_flag_has_a_case_on_both_paths():
    dests = parser_dests() - {"verbose"}  # acted on while parsing: see the test below
    assert {c.dest for c in CASES if c.path == "export"} == dests - {"publish"}
    assert {c.dest for c in CASES if c.path == "publish"} == dests
    assert len({(c.path, c.dest) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("path", [[], ["--publish", "base"]])
def test_verbose_turns_tensorflow_logs_back_on_for_the_rest_of_the_process(path, monkeypatch):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    export.build_parser().parse_args(["run", *path, "--verbose"])
    assert os.environ[VERBOSE_ENV] == "1"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished run folder: the tiny digits MLP, untrained, with the default config."""
    folder = tmp_path_factory.mktemp("run")
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


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.path}-{c.dest}")
def test_the_flag_reaches_the_code_that_acts_on_it(case, run, tmp_path, monkeypatch, capsys):
    run_dir = str(tmp_path / "missing") if case.dest == "debug" else str(run)
    base = tmp_path / "live" / "digits"
    argv = [run_dir, *(["--publish", str(base)] if case.path == "publish" else [])]
    argv += shlex.split(case.flags)
    if case.target != "publish.validate_in_server":  # no server: it fails at once
        monkeypatch.setattr(
            "tfmodel.publish.validate_in_server", lambda *a, **k: InfraResult(False, 0, "faked")
        )
    if not case.target:
        spy(monkeypatch, "tfmodel.export.load_run")
        spy(monkeypatch, "tfmodel.publish.load_run")
        assert export.main(argv) == 2
        assert case.refused in capsys.readouterr().err
        return
    arguments = spy(monkeypatch, f"tfmodel.{case.target}")
    with pytest.raises(Reached):
        export.main(argv)
    named = {run_dir: "{run}", str(base.resolve()): "{base}"}  # as the cases write them
    arguments = {key: named.get(str(value), value) for key, value in arguments.items()}
    assert {key: arguments.get(key) for key in case.expected} == case.expected
