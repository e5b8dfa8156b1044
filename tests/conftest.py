"""Test-wide setup: quiet TF and pick Keras 2 before anything imports TF; shared fixtures.

The tests mirror the top-level folders: tests/tfmodel, tests/serving, tests/edge, tests/benchmarks
(the benchmark scripts at a tiny size) and tests/device (the device check's judge).
"""

import os

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def digits_config():
    """The reference recipe (configs/digits_mlp.yaml), quiet, with the default edge settings."""
    pytest.importorskip("tensorflow")
    from tfmodel.config import load_config

    config = load_config()
    config.training.verbose = 0
    return config


@pytest.fixture(scope="session")
def digits_splits(digits_config):
    from tfmodel.data import load_splits

    return load_splits(digits_config.data, digits_config.training.seed)


@pytest.fixture(scope="session")
def photo_run(tmp_path_factory):
    """A tiny photo-folder run trained and exported with whole splits forbidden
    (tests/photo_stages.py): the stages after training are checked on it."""
    pytest.importorskip("tensorflow")
    import photo_stages as made

    with pytest.MonkeyPatch.context() as patch:
        return made.make_photo_run(tmp_path_factory.mktemp("photo_run"), patch)


@pytest.fixture
def no_whole_splits(monkeypatch):
    """StreamedSplits' whole-split arrays fail when read, for this test."""
    import photo_stages as made

    made.forbid_whole_splits(monkeypatch)


# Models a user brings (tests/brought_models.py), each made once per session.
def _brought_model_fixture(name: str):
    @pytest.fixture(scope="session", name=name)
    def make(tmp_path_factory):
        import brought_models

        return getattr(brought_models, name)(tmp_path_factory.mktemp(name))

    return make


keras3_mobilenet = _brought_model_fixture("keras3_mobilenet")
keras3_tiny = _brought_model_fixture("keras3_tiny")
keras3_custom_layer = _brought_model_fixture("keras3_custom_layer")
tf_keras_file = _brought_model_fixture("tf_keras_file")
plain_module = _brought_model_fixture("plain_module")
