"""Config layering (defaults → YAML → --set) and the errors users see for bad keys and values."""

import pytest

from tfmodel.config import Config, load_config, save_config
from tfmodel.errors import UserError


def test_default_config_is_the_digits_recipe():
    config = load_config()
    assert config.data.source == "sklearn:digits"
    assert config.model.name == "mlp" and config.model.hidden_units == [128]
    assert config.optimizer.name == "sgd"


def test_overrides_apply_after_the_file_and_are_typed():
    config = load_config(
        None,
        [
            "optimizer.learning_rate=0.5",
            "model.hidden_units=[64, 32]",
            "regularizer.kind=l1_l2",
            "training.gpus=2",
        ],
    )
    assert config.optimizer.learning_rate == 0.5
    assert config.model.hidden_units == [64, 32]
    assert config.regularizer.kind == "l1_l2"
    assert config.training.gpus == 2


def test_integer_is_accepted_for_a_float_key():
    assert load_config(None, ["optimizer.learning_rate=1"]).optimizer.learning_rate == 1.0


def test_yaml_file_overrides_defaults_and_leaves_the_rest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optimizer: {name: adam}\ntraining: {epochs: 3}\n")
    config = load_config(path)
    assert (config.optimizer.name, config.training.epochs) == ("adam", 3)
    assert config.data == Config().data


def test_saved_config_loads_back_equal(tmp_path):
    config = load_config(None, ["optimizer.name=rmsprop", "model.filters=[4]"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optimizer.lerning_rate=1", ["'optimizer.lerning_rate'", "learning_rate", "did you mean"]),
        ("optimzer.name=sgd", ["unknown config key 'optimzer'", "did you mean 'optimizer'"]),
        ("optimizer.name=adma", ["allowed values are sgd, adam, rmsprop", "did you mean 'adam'"]),
        ("training.epochs=1.5", ["'training.epochs' must be an integer", "1.5"]),
        ("data.batch_size=true", ["'data.batch_size' must be an integer"]),
        ("model.hidden_units=[a]", ["a list of an integer"]),
        ("model=3", ["'model' is a section"]),
        ("epochs", ["must look like section.key=value"]),
    ],
)
def test_bad_keys_and_values_name_the_key_and_the_fix(override, expected):
    with pytest.raises(UserError) as err:
        load_config(None, [override])
    for text in expected:
        assert text in str(err.value)


def test_bad_key_in_file_is_named_with_its_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("regularizer: {knd: l1}\n")
    with pytest.raises(UserError, match=r"'regularizer.knd'.*did you mean 'kind'"):
        load_config(path)


def test_missing_config_file_says_so(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
