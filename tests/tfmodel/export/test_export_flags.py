"""Every flag of `python -m tfmodel.export` reaches the code that acts on it (tests/flag_cases.py).

The flags that say how MODEL is brought reach the door as its ModelOptions, or the step of the
door that reads them (the user's file, the labels file).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flag_cases import (
    assert_every_flag_has_a_case,
    check_case,
    check_verbose,
    make_tiny_run,
    reaches,
)

from tfmodel.brought import ModelOptions
from tfmodel.export import cli

KEY, BASE_DIR = "signing.key", "elsewhere"
SET = "--set export.model_name=renamed"
LIBRARY, DOOR = "tfmodel.export.saved_model", "tfmodel.brought.door"
RESOLVE = "tfmodel.export.cli.resolve_model"
CASES = [
    reaches("model", "", RESOLVE, path="{run}"),
    reaches("name", "--name renamed", f"{LIBRARY}.write_warmup_requests", model_name="renamed"),
    reaches("data", "--data npz:x.npz", RESOLVE, options=ModelOptions(data="npz:x.npz")),
    reaches("labels", "--labels names.txt", f"{DOOR}.read_labels", path=Path("names.txt")),
    reaches("outputs", "--outputs logits", RESOLVE, options=ModelOptions(outputs="logits")),
    reaches(
        "custom_objects",
        "--custom-objects my_layers.py",
        f"{DOOR}.import_custom_objects",
        path=Path("my_layers.py"),
    ),
    reaches(
        "trust_model_code", "--trust-model-code", RESOLVE, options=ModelOptions(trust_code=True)
    ),
    reaches("version", "--version 3", f"{LIBRARY}._choose_version", requested=3),
    reaches(
        "export_base",
        f"--export-base {BASE_DIR}",
        f"{LIBRARY}.resolve_export_base",
        export_base=BASE_DIR,
    ),
    reaches("sign_key", f"--sign-key {KEY}", f"{LIBRARY}.sign_model", private_key=KEY),
    reaches("set", SET, f"{LIBRARY}.write_warmup_requests", model_name="renamed"),
    reaches("debug", "--debug", "tfmodel.export.cli.report_error", debug=True),
]


def test_every_flag_has_a_case():
    assert_every_flag_has_a_case(cli.build_parser(), CASES)


def test_verbose_turns_tensorflow_logs_back_on_for_the_rest_of_the_process(monkeypatch):
    check_verbose(cli.build_parser(), ["run"], monkeypatch)


def test_the_gate_flags_are_not_export_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--force"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --force" in capsys.readouterr().err


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("run"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.dest)
def test_the_flag_reaches_the_code_that_acts_on_it(case, run, tmp_path, monkeypatch, capsys):
    run_dir = str(tmp_path / "missing") if case.dest == "debug" else str(run)
    check_case(
        case,
        cli.main,
        [run_dir],
        placeholders={"run": run_dir},
        first_work=[RESOLVE],
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
