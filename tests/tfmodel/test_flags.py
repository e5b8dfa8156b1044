"""Every flag of train and tune is a config override or is read by name: none is accepted and
dropped, and a shared flag means the same on both commands."""

import argparse

import pytest

from tfmodel import train
from tfmodel.config import load_config
from tfmodel.flags import overrides_from_flags
from tfmodel.tune import cli as tune_cli

# Flags the commands read themselves, by name, instead of turning them into overrides.
READ_BY_NAME = {
    train: {"config", "set", "debug", "verbose", "run_dir", "worker_hosts", "task_index"},
    tune_cli: {"config", "set", "debug", "verbose", "resume", "oracle", "tuner_id"},
}


def dests(command) -> set[str]:
    actions = command.build_parser()._actions
    return {a.dest for a in actions if not isinstance(a, argparse._HelpAction)}


@pytest.mark.parametrize("command", [train, tune_cli], ids=["train", "tune"])
def test_every_flag_is_an_override_or_read_by_name(command):
    assert dests(command) == set(command.FLAG_KEYS) | READ_BY_NAME[command]
    assert not set(command.FLAG_KEYS) & READ_BY_NAME[command]


def test_shared_flags_set_the_same_keys_but_output():
    shared = set(train.FLAG_KEYS) & set(tune_cli.FLAG_KEYS)
    assert shared == {"epochs", "strategy", "output"}
    assert train.FLAG_KEYS["output"] == "output.dir" and tune_cli.FLAG_KEYS["output"] == "tune.dir"
    assert all(train.FLAG_KEYS[k] == tune_cli.FLAG_KEYS[k] for k in shared - {"output"})


def test_tune_flags_become_config_values(tmp_path):
    args = tune_cli.parse_args(
        ["--output", str(tmp_path), "--trials", "4", "--algorithm", "hyperband", "--epochs", "9"]
    )
    config = load_config(None, overrides_from_flags(args, tune_cli.FLAG_KEYS))
    assert (config.tune.dir, config.tune.max_trials) == (str(tmp_path), 4)
    assert (config.tune.algorithm, config.training.epochs) == ("hyperband", 9)
