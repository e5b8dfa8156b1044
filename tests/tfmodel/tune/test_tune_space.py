"""The tune: section becomes KerasTuner hyperparameters, checked against the config's types."""

import pytest

from tfmodel.config import load_config
from tfmodel.errors import UserError
from tfmodel.tune.space import declare, parse_space, trial_config


def config_with(space, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("tune:\n  space: " + space + "\n")
    return load_config(path)


def test_choices_and_ranges_become_hyperparameters(tmp_path):
    from tfmodel.backend import import_keras_tuner

    space = (
        "{optimizer.name: [sgd, adam], optimizer.learning_rate: {min: 1.0e-4, max: 0.1, "
        "log: true}, model.hidden_units: [[64], [128, 64]], training.epochs: "
        "{min: 2, max: 6, step: 2}}"
    )
    config = config_with(space, tmp_path)
    dimensions = parse_space(config)
    hp = import_keras_tuner().HyperParameters()
    declare(hp, dimensions)
    kinds = {p.name: type(p).__name__ for p in hp.space}
    assert kinds == {
        "optimizer.name": "Choice",
        "optimizer.learning_rate": "Float",
        "model.hidden_units": "Choice",
        "training.epochs": "Int",
    }
    assert hp.space[1].sampling == "log" and hp.space[3].step == 2
    values = {
        "optimizer.name": "adam",
        "optimizer.learning_rate": 0.003,
        "model.hidden_units": "[128, 64]",
        "training.epochs": 4,
    }
    trial = trial_config(config, dimensions, values)
    assert trial.optimizer.name == "adam" and trial.optimizer.learning_rate == 0.003
    assert trial.model.hidden_units == [128, 64] and trial.training.epochs == 4
    assert config.model.hidden_units == [128]  # the base config is left alone


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("{}", "tune.space is empty"),
        ("{optimizer.nmae: [sgd]}", "unknown config key 'optimizer.nmae'.*did you mean 'name'"),
        ("{optimizer.name: [sgd, adamw]}", "cannot be 'adamw': allowed values are sgd, adam"),
        ("{optimizer.name: []}", "lists no choices"),
        ("{training.epochs: {min: 5, max: 2}}", "need min < max"),
        ("{optimizer.learning_rate: {min: 0, max: 1, log: true}}", "with log: true, min > 0"),
        ("{optimizer.learning_rate: {low: 0, high: 1}}", "give a list of choices.*or a range"),
        ("{training.epochs: {min: 1.5, max: 3}}", "must be an integer, got 1.5"),
        ("{model.hidden_units: {min: 1, max: 3}}", "must be a list of an integer"),
    ],
)
def test_bad_space_is_refused_before_any_trial(space, message, tmp_path):
    with pytest.raises(UserError, match=message):
        parse_space(config_with(space, tmp_path))
