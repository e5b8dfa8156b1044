"""Config layering (defaults → YAML → --set), the run's name, and the errors users see for bad
keys and values."""

from pathlib import Path

import pytest
import yaml

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


CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_each_recipe_is_named_after_its_data_and_model_without_naming_itself(path):
    assert "name" not in (yaml.safe_load(path.read_text()).get("output") or {})
    assert load_config(path).output.name == path.stem


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        (["data.source=images:/home/me/holiday", "model.name=mobilenet_v2"], "photos_mobilenet_v2"),
        (["data.source=sklearn:digits"], "digits_mlp"),
        (["data.source=keras:fashion_mnist", "model.name=cnn"], "fashion_mnist_cnn"),
        (
            ["data.source=tfds:imagenette:160px", "model.name=efficientnet_b0"],
            "imagenette_efficientnet_b0",
        ),
        (["data.source=npz:data/My-Scans.npz"], "my_scans_mlp"),
        (["data.source=idx:../shared/data/mnist/"], "mnist_mlp"),
        (["data.source=idx:."], "idx_mlp"),
        (["model.builder=models/mine.py:small_convnet"], "digits_small_convnet"),
        (
            ["model.builder=mine.py:small_convnet", "model.from_keras=nets/net_v2.keras"],
            "digits_net_v2",
        ),
    ],
)
def test_an_unnamed_run_takes_the_name_of_the_data_and_model_set(overrides, name):
    assert load_config(None, overrides).output.name == name


def test_an_explicit_name_wins_from_any_layer_and_null_asks_for_the_derived_one(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: cnn}\noutput: {name: mine}\n")
    assert load_config(path, ["data.source=images:photos"]).output.name == "mine"
    assert load_config(None, ["output.name=mine", "model.name=cnn"]).output.name == "mine"
    assert load_config(path, ["output.name=theirs"]).output.name == "theirs"
    assert load_config(path, ["output.name="]).output.name == "digits_cnn"


def test_a_saved_config_keeps_the_name_it_ran_under(tmp_path):
    save_config(load_config(None, ["model.name=cnn"]), tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml", ["model.name=mlp"]).output.name == "digits_cnn"
    assert Config().output.name == "digits_mlp"  # a config built in code: its defaults' name
