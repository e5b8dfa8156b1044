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
from collections.abc import Callable
from pathlib import Path

import pytest

from tfmodel import export
from tfmodel.backend import keras
from tfmodel.config import Config, save_config
from tfmodel.infra_validation import InfraResult
from tfmodel.runs import CONFIG_FILE, MODEL_FILE


class Reached(Exception):
    """Raised by a spy once called: the flag got there, and nothing after it runs."""


@dataclasses.dataclass(frozen=True)
class Case:
    """`flags` given on `path`; `target` is called with arguments passing `check`, or, with no
    target, the command exits 2 saying `refused` before loading the run."""

    path: str  # "export" or "publish"
    dest: str
    flags: tuple[str, ...]
    target: str = ""
    check: Callable[[dict], bool] = lambda arguments: True
    refused: str = ""


KEY, BASE_DIR, SERVER = "signing.key", "elsewhere", "my-model-server --flag"
CASES = [
    Case("export", "run_dir", (), "tfmodel.export.load_run", lambda a: a["run_dir"] == "{run}"),
    Case("export", "version", ("--version", "3"), "tfmodel.export._choose_version",
         lambda a: a["requested"] == 3),
    Case("export", "export_base", ("--export-base", BASE_DIR), "tfmodel.export.resolve_export_base",
         lambda a: a["export_base"] == BASE_DIR),
    Case("export", "sign_key", ("--sign-key", KEY), "tfmodel.export.sign_model",
         lambda a: a["private_key"] == KEY),
    Case("export", "set", ("--set", "export.model_name=renamed"),
         "tfmodel.export.write_warmup_requests", lambda a: a["model_name"] == "renamed"),
    Case("export", "debug", ("--debug",), "tfmodel.export.report_error", lambda a: a["debug"]),
    Case("export", "max_accuracy_drop", ("--max-accuracy-drop", "0.1"),
         refused="--max-accuracy-drop applies only with --publish"),
    Case("export", "infra_server", ("--infra-server", SERVER),
         refused="--infra-server applies only with --publish"),
    Case("export", "force", ("--force",), refused="--force applies only with --publish"),
    Case("publish", "run_dir", (), "tfmodel.publish.load_run", lambda a: a["run_dir"] == "{run}"),
    Case("publish", "publish", (), "tfmodel.publish.next_version",
         lambda a: a["model_dir"] == "{base}"),
    Case("publish", "version", ("--version", "3"), refused="--version does not apply with"),
    Case("publish", "export_base", ("--export-base", BASE_DIR),
         refused="--export-base does not apply with"),
    Case("publish", "sign_key", ("--sign-key", KEY), "tfmodel.export.sign_model",
         lambda a: a["private_key"] == KEY),
    Case("publish", "set", ("--set", "export.model_name=renamed"),
         "tfmodel.export.write_warmup_requests", lambda a: a["model_name"] == "renamed"),
    Case("publish", "debug", ("--debug",), "tfmodel.export.report_error", lambda a: a["debug"]),
    Case("publish", "max_accuracy_drop", ("--max-accuracy-drop", "0.25"), "tfmodel.publish._judge",
         lambda a: a["max_drop"] == 0.25),
    Case("publish", "infra_server", ("--infra-server", SERVER),
         "tfmodel.publish.validate_in_server", lambda a: a["server_command"] == SERVER),
    # The faked infra validation fails, so only --force moves the candidate into BASE.
    Case("publish", "force", ("--force",), "tfmodel.publish._move_into"),
]  # fmt: skip


def parser_dests() -> set[str]:
    actions = export.build_parser()._actions
    return {a.dest for a in actions if not isinstance(a, argparse._HelpAction)}


def test_every_flag_has_a_case_on_both_paths():
    dests = parser_dests()
    assert {c.dest for c in CASES if c.path == "export"} == dests - {"publish"}
    assert {c.dest for c in CASES if c.path == "publish"} == dests
    assert len({(c.path, c.dest) for c in CASES}) == len(CASES)


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
    argv = [run_dir, *(["--publish", str(base)] if case.path == "publish" else []), *case.flags]
    if case.target != "tfmodel.publish.validate_in_server":  # no server: it fails at once
        monkeypatch.setattr(
            "tfmodel.publish.validate_in_server", lambda *a, **k: InfraResult(False, 0, "faked")
        )
    if not case.target:
        spy(monkeypatch, "tfmodel.export.load_run")
        spy(monkeypatch, "tfmodel.publish.load_run")
        assert export.main(argv) == 2
        assert case.refused in capsys.readouterr().err
        return
    arguments = spy(monkeypatch, case.target)
    with pytest.raises(Reached):
        export.main(argv)
    named = {run_dir: "{run}", str(base.resolve()): "{base}"}  # as the cases write them
    arguments = {key: named.get(str(value), value) for key, value in arguments.items()}
    assert case.check(arguments), arguments
