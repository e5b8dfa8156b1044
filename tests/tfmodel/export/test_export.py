"""The SavedModel export: layout, signatures TF Serving can call, warmup records, models.config."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.server.core.versions import find_versions
from tfmodel import optimizers
from tfmodel.backend import keras, tf
from tfmodel.config import Config, save_config
from tfmodel.errors import UserError
from tfmodel.export import cli, saved_model
from tfmodel.runs import CONFIG_FILE, EXPORT_DIR, MODEL_FILE

SAVED_MODEL_CLI = Path(sys.executable).parent / "saved_model_cli"
CLASS_NAMES = [f"digit{i}" for i in range(10)]


def build_tiny_model() -> keras.Model:
    """The shape of the project's MLP: raw pixels → Rescaling → Flatten → Dense logits."""
    keras.utils.set_random_seed(0)
    pixels = keras.Input(shape=(8, 8, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 16)(pixels)
    x = keras.layers.Flatten()(x)
    logits = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(pixels, logits)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return build_tiny_model()


@pytest.fixture(scope="module")
def examples() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 17, size=(6, 8, 8, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def exported(model, examples, tmp_path_factory) -> Path:
    config = Config()
    config.export.model_name = "digits"
    config.export.warmup_records = 4
    run_dir = tmp_path_factory.mktemp("run")
    return saved_model.export_for_serving(
        model, config, examples, run_dir=run_dir, class_names=CLASS_NAMES
    )


def test_layout_is_base_model_version_with_no_staging_left(exported):
    assert exported.name == "1" and exported.parent.name == "digits"
    base = exported.parent.parent
    assert base.name == EXPORT_DIR and base.is_absolute()
    assert sorted(p.name for p in base.iterdir()) == ["digits", "models.config"]
    assert (exported / "saved_model.pb").is_file()
    assert (exported / "variables" / "variables.index").is_file()


@pytest.mark.slow
def test_versions_increment_and_an_existing_one_is_refused(model, examples, tmp_path):
    config = Config()
    first = saved_model.export_for_serving(model, config, examples, export_base=tmp_path)
    second = saved_model.export_for_serving(model, config, examples, export_base=tmp_path)
    assert (first.name, second.name) == ("1", "2")
    assert first.parent.name == config.output.name
    with pytest.raises(UserError, match="already exists"):
        saved_model.export_for_serving(model, config, examples, export_base=tmp_path, version=2)
    chosen = saved_model.export_for_serving(
        model, config, examples, export_base=tmp_path, version=7
    )
    assert chosen.name == "7"
    assert saved_model.next_version(chosen.parent) == 8
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_next_version_counts_the_folders_the_server_serves(tmp_path):
    """Training cannot import the server's rule, so it keeps a copy: the two must agree."""
    for name in ["3", "010", "-2", "+4", "x7", ".9-staging", "1.5"]:
        (tmp_path / name).mkdir()
    (tmp_path / "99").write_text("a file, not a version")
    served = find_versions("digits", str(tmp_path))
    assert sorted(served) == [-2, 3, 4, 10]
    assert saved_model.next_version(tmp_path) == max(served) + 1 == 11
    assert saved_model.next_version(tmp_path / "missing") == 1


def test_a_failed_export_leaves_nothing_behind(model, examples, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(saved_model, "write_warmup_requests", fail)
    with pytest.raises(RuntimeError):
        saved_model.export_for_serving(model, Config(), examples, export_base=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [Config().output.name]
    assert not any((tmp_path / Config().output.name).iterdir())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"version": 0}, "positive integer"),
        ({"class_names": ["a", "b"]}, "2 class names"),
        ({"examples": np.zeros((2, 4, 4, 1))}, "shape"),
    ],
)
def test_bad_arguments_are_user_errors(model, examples, tmp_path, kwargs, message):
    kwargs = {"examples": examples, **kwargs}
    with pytest.raises(UserError, match=message):
        saved_model.export_for_serving(model, Config(), export_base=tmp_path, **kwargs)


def test_no_export_base_anywhere_is_a_user_error(model, examples):
    with pytest.raises(UserError, match="--export-base"):
        saved_model.export_for_serving(model, Config(), examples)


def test_models_config_parses_and_keeps_other_models(exported):
    base = exported.parent.parent
    saved_model.write_models_config(base, "other")
    saved_model.write_models_config(base, "digits")
    server_config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((base / "models.config").read_text(), server_config)
    entries = {e.name: e for e in server_config.model_config_list.config}
    assert sorted(entries) == ["digits", "other"]
    assert entries["digits"].base_path == str(base / "digits")
    assert entries["digits"].model_platform == "tensorflow"


def test_warmup_file_holds_predict_logs_of_the_examples(exported, examples):
    records = list(
        tf.data.TFRecordDataset(str(exported / saved_model.WARMUP_FILE)).as_numpy_iterator()
    )
    assert len(records) == 4
    for record, example in zip(records, examples, strict=False):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        request = log.predict_log.request
        assert request.model_spec.name == "digits"
        assert request.model_spec.signature_name == "serving_default"
        np.testing.assert_array_equal(tf.make_ndarray(request.inputs["pixels"]), example[None])


def test_session_loader_runs_both_signatures_like_tf_serving(exported, model, examples):
    expected = softmax(model.predict(examples, verbose=0))
    serialized = [
        tf.train.Example(
            features=tf.train.Features(
                feature={"pixels": tf.train.Feature(float_list=tf.train.FloatList(value=x.ravel()))}
            )
        ).SerializeToString()
        for x in examples
    ]
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(exported))
        predict = meta_graph.signature_def["serving_default"]
        classify = meta_graph.signature_def["classify"]
        assert predict.method_name == "tensorflow/serving/predict"
        assert classify.method_name == "tensorflow/serving/classify"
        predicted = session.run(
            {k: v.name for k, v in predict.outputs.items()},
            {predict.inputs["pixels"].name: examples},
        )
        classified = session.run(
            {k: v.name for k, v in classify.outputs.items()},
            {classify.inputs["inputs"].name: serialized},
        )
    np.testing.assert_allclose(predicted["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(predicted["classes"], expected.argmax(-1))
    assert predicted["classes"].dtype == np.int64
    np.testing.assert_allclose(classified["scores"], expected, atol=1e-5)
    assert classified["classes"][0].tolist() == [name.encode() for name in CLASS_NAMES]


@pytest.mark.slow
def test_saved_model_cli_shows_and_runs_the_export(exported, model, examples, tmp_path):
    shown = subprocess.run(
        [SAVED_MODEL_CLI, "show", "--all", "--dir", exported],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "signature_def['classify']" in shown and "signature_def['serving_default']" in shown
    assert "Method name is: tensorflow/serving/classify" in shown
    for output in ("probabilities", "classes", "logits", "scores"):
        assert f"outputs['{output}']" in shown
    np.save(tmp_path / "pixels.npy", examples)
    subprocess.run(
        [SAVED_MODEL_CLI, "run", "--dir", exported, "--tag_set", "serve"]
        + ["--signature_def", "serving_default", "--outdir", tmp_path / "out"]
        + ["--inputs", f"pixels={tmp_path / 'pixels.npy'}"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    expected = softmax(model.predict(examples, verbose=0))
    np.testing.assert_allclose(np.load(tmp_path / "out" / "probabilities.npy"), expected, atol=1e-5)


def test_cli_exports_a_run_folder_and_refuses_an_existing_version(model, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = Config()
    config.export.warmup_records = 3
    save_config(config, run_dir / CONFIG_FILE)
    model.save(run_dir / MODEL_FILE)
    assert cli.main([str(run_dir), "--version", "3"]) == 0
    version_dir = run_dir / EXPORT_DIR / config.output.name / "3"
    assert (version_dir / "saved_model.pb").is_file()
    assert str(version_dir.parent) in capsys.readouterr().out
    warmup = list(tf.data.TFRecordDataset(str(version_dir / saved_model.WARMUP_FILE)))
    assert len(warmup) == 3
    assert cli.main([str(run_dir), "--version", "3"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli.main([str(tmp_path / "missing")]) == 2


def trained_in(policy: str) -> keras.Model:
    """The tiny MLP built under `policy` and trained a step with Adam, so it has slots."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        pixels = keras.Input(shape=(8, 8, 1), name="pixels")
        x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 16)(pixels))
        x = keras.layers.Dense(16, activation="relu", name="dense0")(x)
        model = keras.Model(pixels, keras.layers.Dense(10, name="logits", dtype="float32")(x))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.compile(optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(True))
    x = np.random.default_rng(1).integers(0, 17, size=(32, 8, 8, 1)).astype(np.float32)
    model.fit(x, np.arange(32) % 10, epochs=1, verbose=0)
    return model


def saved_variables(export_dir: Path) -> list[str]:
    """The variables in a SavedModel's checkpoint, without the checkpoint's own bookkeeping."""
    names = [name for name, _ in tf.train.list_variables(str(export_dir / "variables/variables"))]
    return [name for name in names if not name.startswith(("_CHECKPOINTABLE", "save_counter"))]


def signature_dtypes(export_dir: Path) -> set[str]:
    """Every tensor dtype named by any node of the exported graph and its functions."""
    graph = tf.saved_model.load(str(export_dir)).signatures["serving_default"].graph.as_graph_def()
    nodes = [*graph.node, *(n for f in graph.library.function for n in f.node_def)]
    return {
        tf.dtypes.as_dtype(attr.type).name
        for node in nodes
        for attr in node.attr.values()
        if attr.type
    }


def test_export_holds_the_model_variables_only_and_a_true_fingerprint(examples, tmp_path):
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting as fingerprints

    model = trained_in("float32")
    assert len(model.optimizer.variables()) == 1 + 2 * 4  # iterations, then m and v per weight
    path = saved_model.export_for_serving(model, Config(), examples, export_base=tmp_path)
    assert len(saved_variables(path)) == len(model.weights) == 4
    on_disk = tf.saved_model.experimental.read_fingerprint(str(path))
    recomputed = tf.saved_model.experimental.Fingerprint.from_proto(
        fingerprints.CreateFingerprintDef(str(path))  # TensorFlow's own, from the files
    )
    assert on_disk.saved_model_checksum == recomputed.saved_model_checksum
    assert on_disk.signature_def_hash == recomputed.signature_def_hash


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_runs_export_float32_unless_asked_to_keep_it(policy, examples, tmp_path):
    model = trained_in(policy)
    reduced = policy.removeprefix("mixed_")
    float32 = saved_model.export_for_serving(model, Config(), examples, export_base=tmp_path)
    assert reduced not in signature_dtypes(float32)
    weights = model.get_weights()  # the same weights computed in float32 by numpy
    hidden = np.maximum(examples.reshape(6, -1) / 16 @ weights[0] + weights[1], 0)
    logits = hidden @ weights[2] + weights[3]
    served = tf.saved_model.load(str(float32)).signatures["serving_default"]
    out = served(pixels=tf.constant(examples))
    assert out["logits"].dtype == tf.float32
    np.testing.assert_allclose(out["logits"].numpy(), logits, rtol=1e-5, atol=1e-5)

    config = Config()
    config.export.precision = "as_trained"
    kept = saved_model.export_for_serving(model, config, examples, export_base=tmp_path)
    assert reduced in signature_dtypes(kept)
    out = tf.saved_model.load(str(kept)).signatures["serving_default"](pixels=tf.constant(examples))
    assert out["logits"].dtype == tf.float32  # float32 in and out either way
    assert np.abs(out["logits"].numpy() - logits).max() > 1e-4  # it did compute in reduced


def test_cli_takes_set_overrides(model, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_config(Config(), run_dir / "config.yaml")
    model.save(run_dir / "model.keras")
    assert cli.main([str(run_dir), "--set", "export.precision=as_trained"]) == 0
    assert cli.main([str(run_dir), "--set", "export.precision=bf16"]) == 2
    assert "allowed values are float32, as_trained" in capsys.readouterr().err
