"""Every flag of `python -m tfmodel.export` reaches the code that acts on it (tests/flag_cases.py).

`--publish BASE` is refused: the gate moved to `python -m serving.publish RUN BASE`, and the
message is the user's own command rewritten for it (export-only flags left out).
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
    refused,
)

from tfmodel.export import cli

KEY, BASE_DIR = "signing.key", "elsewhere"
SET = "--set export.model_name=renamed"
LIBRARY = "tfmodel.export.saved_model"
MOVED = "the publish gate moved out of tfmodel.export; run: python -m serving.publish {run} live"
CASES = [
    reaches("run_dir", "", "tfmodel.export.cli.load_run", run_dir="{run}"),
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
    refused("publish", f"--publish live --version 3 --force {SET}", f"{MOVED} --force {SET}\n"),
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
        first_work=["tfmodel.export.cli.load_run"],
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
