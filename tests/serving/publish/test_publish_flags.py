"""Every flag of `python -m serving.publish` reaches the code that acts on it (tests/flag_cases.py).

Infra validation is faked to fail (no server process), so only `--force` moves the candidate.
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

from serving.publish import cli
from serving.publish.infra_validation import InfraResult
from tfmodel.brought import ModelOptions

KEY, SERVER = "signing.key", "my-model-server --flag"
SET = "--set export.model_name=renamed"
GATE, LIBRARY = "serving.publish.gate", "tfmodel.export.saved_model"
RESOLVE = f"{GATE}.resolve_model"
CASES = [
    reaches("model", "", RESOLVE, path="{run}"),
    reaches("data", "--data npz:x.npz", RESOLVE, options=ModelOptions(data="npz:x.npz")),
    reaches(
        "labels", "--labels names.txt", RESOLVE, options=ModelOptions(labels=Path("names.txt"))
    ),
    reaches("outputs", "--outputs logits", RESOLVE, options=ModelOptions(outputs="logits")),
    reaches(
        "custom_objects",
        "--custom-objects my.py",
        RESOLVE,
        options=ModelOptions(custom_objects=Path("my.py")),
    ),
    reaches(
        "trust_model_code", "--trust-model-code", RESOLVE, options=ModelOptions(trust_code=True)
    ),
    reaches("base", "", f"{GATE}.base_versions", base="{base}"),
    reaches("sign_key", f"--sign-key {KEY}", f"{LIBRARY}.sign_model", private_key=KEY),
    reaches("set", SET, f"{LIBRARY}.write_warmup_requests", model_name="renamed"),
    reaches("debug", "--debug", "serving.publish.cli.report_error", debug=True),
    reaches("max_accuracy_drop", "--max-accuracy-drop 0.25", f"{GATE}.judge", max_drop=0.25),
    reaches(
        "infra_server",
        f"--infra-server '{SERVER}'",
        f"{GATE}.validate_in_server",
        server_command=SERVER,
    ),
    reaches("force", "--force", f"{GATE}.move_into"),
]


def test_every_flag_has_a_case():
    assert_every_flag_has_a_case(cli.build_parser(), CASES)


def test_verbose_turns_tensorflow_logs_back_on_for_the_rest_of_the_process(monkeypatch):
    check_verbose(cli.build_parser(), ["run", "base"], monkeypatch)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("run"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.dest)
def test_the_flag_reaches_the_code_that_acts_on_it(case, run, tmp_path, monkeypatch, capsys):
    run_dir = str(tmp_path / "missing") if case.dest == "debug" else str(run)
    base = tmp_path / "live" / "digits"
    if case.target != f"{GATE}.validate_in_server":  # no server: it fails at once
        monkeypatch.setattr(
            f"{GATE}.validate_in_server", lambda *a, **k: InfraResult(False, 0, "faked")
        )
    check_case(
        case,
        cli.main,
        [run_dir, str(base)],
        placeholders={"run": run_dir, "base": str(base.resolve())},
        first_work=[RESOLVE],
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
