"""The publish gate: infra validation in a real server process, then the blessing on test accuracy.

Two run folders on the digits data: one with a briefly trained model, one untrained (its accuracy
is near chance). The good one goes into an empty base; the bad one is blocked after it; `--force`
publishes it anyway. Each publish starts a server process, so those tests are marked slow.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from photo_stages import decoded_test, predicted_classes, warmup_bytes
from photos import write_photo_folder
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from serving.publish import cli
from serving.publish.gate import (
    Scores,
    judge,
    load_candidate,
    plan_target,
    score_export,
    stage_candidate,
)
from serving.publish.infra_validation import InfraResult, validate_in_server
from tfmodel.backend import keras, tf
from tfmodel.brought import ModelOptions
from tfmodel.config import Config, save_config
from tfmodel.data import load_splits
from tfmodel.export import saved_model
from tfmodel.runs import BLESSING_FILE, CONFIG_FILE, MODEL_FILE


def make_run(folder: Path, epochs: int) -> Path:
    """A finished run folder holding a tiny digits model trained for `epochs` (0: untrained)."""
    config = Config()
    config.export.model_name = "digits"
    config.export.warmup_records = 2
    splits = load_splits(config.data, config.training.seed)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=splits.input_shape, name=config.model.input_name),
            keras.layers.Rescaling(1 / splits.pixel_max),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    if epochs:
        model.fit(splits.x_train, splits.y_train, epochs=epochs, verbose=0)
    folder.mkdir(parents=True)
    save_config(config, folder / CONFIG_FILE)
    model.save(folder / MODEL_FILE)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return make_run(root / "good", epochs=30), make_run(root / "bad", epochs=0)


def blessing(run: Path) -> dict:
    return json.loads((run / BLESSING_FILE).read_text())


@pytest.mark.slow
def test_a_good_model_is_published_a_worse_one_blocked_unless_forced(runs, tmp_path, capsys):
    good, bad = runs
    base = tmp_path / "live" / "digits"

    assert cli.main([str(good), str(base)]) == 0
    verdict = blessing(good)
    assert verdict["blessed"] and verdict["published"] == str(base / "1")
    assert verdict["infra_validation"] == {"passed": True, "records": 2, "error": None}
    assert verdict["baseline_version"] is None and verdict["candidate_accuracy"] > 0.8
    assert (base / "1" / "saved_model.pb").is_file()
    assert "BLESSED" in capsys.readouterr().out

    assert cli.main([str(bad), str(base)]) == 1
    verdict = blessing(bad)
    assert not verdict["blessed"] and verdict["published"] is None
    assert verdict["baseline_version"] == 1
    assert verdict["candidate_accuracy"] < verdict["baseline_accuracy"] - 0.5
    assert "below version 1's" in verdict["reason"]
    out = capsys.readouterr().out
    assert "BLOCKED" in out and f"{verdict['baseline_accuracy']:.4f}" in out
    assert sorted(p.name for p in base.iterdir()) == ["1"]  # nothing written into the base
    assert [p.name for p in base.parent.iterdir()] == ["digits"]  # no staging left behind

    assert cli.main([str(bad), str(base), "--force"]) == 0
    verdict = blessing(bad)
    assert verdict["forced"] and not verdict["blessed"]
    assert verdict["published"] == str(base / "2") and "--force" in verdict["reason"]
    assert "FORCED" in capsys.readouterr().out


@pytest.mark.parametrize(
    "candidate, baseline, max_drop, blessed",
    [
        (0.90, None, 0.0, True),
        (0.90, 0.90, 0.0, True),
        (0.89, 0.90, 0.0, False),
        (0.89, 0.90, 0.02, True),
        (0.95, 0.90, 0.0, True),
    ],
)
def test_the_blessing_compares_with_the_threshold(candidate, baseline, max_drop, blessed):
    infra, scores = InfraResult(passed=True, records=1), Scores(candidate, 3, baseline)
    assert judge(infra, scores, max_drop)[0] is blessed
    assert judge(InfraResult(False, 0, "boom"), scores, max_drop) == (
        False,
        "infra validation failed: boom",
    )


def test_a_baseline_that_cannot_take_the_data_blocks():
    scores = Scores(0.99, 3, None, "version 3 takes other inputs")
    assert judge(InfraResult(True, 1), scores, 0.0) == (False, "version 3 takes other inputs")


@pytest.mark.parametrize(
    "candidate, baseline, max_drop, reason",
    [
        (0.95, 0.90, 0.0, "test accuracy 0.9500 is better than version 3's 0.9000"),
        (0.90, 0.90, 0.0, "test accuracy 0.9000 is no worse than version 3's 0.9000"),
        (0.89, 0.90, 0.02, "test accuracy 0.8900 is 0.0100 below version 3's 0.9000: within"),
    ],
)
def test_a_blessing_says_better_no_worse_or_within_the_drop(candidate, baseline, max_drop, reason):
    blessed, said = judge(InfraResult(True, 1), Scores(candidate, 3, baseline), max_drop)
    assert blessed and said.startswith(reason) and "allowed drop of 0 " not in f"{said} "


@pytest.mark.slow
def test_infra_validation_fails_when_a_warmup_record_fails_in_the_server(runs, tmp_path):
    good, _ = runs
    config, model = Config(), keras.models.load_model(good / MODEL_FILE)
    version = saved_model.export_for_serving(
        model, config, np.zeros((1, 8, 8, 1), np.float32), export_base=tmp_path, version=1
    )
    request = predict_pb2.PredictRequest()  # names an input the model does not have
    request.inputs["no_such_input"].CopyFrom(tf.make_tensor_proto([1.0]))
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.CopyFrom(request)
    with tf.io.TFRecordWriter(str(version / saved_model.WARMUP_FILE)) as writer:
        writer.write(log.SerializeToString())
    result = validate_in_server(version.parent, "digits", 1)
    assert not result.passed and result.records == 0
    assert "exited" in result.error


def test_an_unknown_server_command_fails_validation(runs, tmp_path):
    result = validate_in_server(tmp_path, "digits", 1, "no-such-model-server")
    assert not result.passed and "cannot start" in result.error


@pytest.mark.slow
def test_a_brought_model_is_scored_on_its_data_and_published(plain_module, tmp_path, capsys):
    base = tmp_path / "live" / "brightness"
    assert cli.main([str(plain_module), str(base)]) == 2  # nothing to score it on
    assert "pass --data SOURCE" in capsys.readouterr().err and not base.exists()
    write_photo_folder(tmp_path / "photos", per_class=10)
    assert cli.main([str(plain_module), str(base), "--data", f"images:{tmp_path / 'photos'}"]) == 0
    verdict = json.loads((plain_module.parent / f"{plain_module.name}.{BLESSING_FILE}").read_text())
    assert verdict["blessed"] and verdict["published"] == str(base / "1")
    assert verdict["candidate_accuracy"] > 0.9  # it tells bright photos from dark ones
    card = (base / "1" / saved_model.MODEL_CARD_FILE).read_text()
    assert f"top-1 accuracy **{verdict['candidate_accuracy']:.4f}**" in card


@pytest.mark.slow
def test_a_photo_run_is_staged_and_scored_a_batch_at_a_time(photo_run, tmp_path, no_whole_splits):
    reference = decoded_test(photo_run.run_dir)
    brought, splits = load_candidate(photo_run.run_dir, ModelOptions(), [])
    target = plan_target(tmp_path / "live" / brought.name)
    staged = stage_candidate(brought, splits, target, tmp_path / "staging", None)
    expected = warmup_bytes(reference, brought.name, tmp_path / "reference")
    assert (staged / saved_model.WARMUP_FILE).read_bytes() == expected
    accuracy = np.mean(predicted_classes(reference) == reference.splits.y_test)
    assert score_export(staged, brought.input_name, splits) == accuracy
