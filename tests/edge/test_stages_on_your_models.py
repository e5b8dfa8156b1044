"""Issue 21's "every stage works on these models" for the stages not covered by
tests/serving/test_your_models.py: pruning and QAT (`edge.optimize`), explanations, the model
card and tuning over a `model.*` key, on tiny keras.applications networks (α 0.35, 32×32), a
`model.builder` model and a `model.from_keras` one. One run folder per network is trained once
and shared by every check.
"""

import csv
import json
import math
import os
import textwrap

import numpy as np
import pytest
from photos import SMALL_CONVNET, generated_images

from tfmodel import runs
from tfmodel.config import load_config

SIZE, CLASSES, PER_CLASS = 32, 3, 48
TARGET_SPARSITY = 0.5
USER_MODEL = (
    SMALL_CONVNET
    + """


def wider_convnet(input_shape, num_classes):
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv0")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x))
"""
)
# A keras.applications network's share (one training, pruning, QAT, four conversions, a 2-trial
# search) took ~10 min on 2 shared cores, so CI runs the builder model and TFMODEL_ALL_NETWORKS=1
# adds them. A `.keras` model is the builder's network once loaded, so CI leaves it to
# TFMODEL_ALL_NETWORKS too.
ON_REQUEST = pytest.mark.skipif(
    not os.environ.get("TFMODEL_ALL_NETWORKS"), reason="minutes; TFMODEL_ALL_NETWORKS=1"
)
# Its first test also waits for the fixture: edge.optimize's 200 timed Keras calls alone take
# minutes there, past the suite's 600 s.
APPLICATIONS = {"mobilenet_v2": 0.35, "mobilenet_v3_small": 0.35, "efficientnet_b0": None}  # α
NETWORKS = [
    *(pytest.param(name, marks=[ON_REQUEST, pytest.mark.timeout(1800)]) for name in APPLICATIONS),
    "builder",
    pytest.param("from_keras", marks=ON_REQUEST),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The generated images, the user's builder file and a `.keras` of each of its networks."""
    from tfmodel.config import Config
    from tfmodel.models import build_model

    folder = tmp_path_factory.mktemp("inputs")
    (folder / "my_net.py").write_text(textwrap.dedent(USER_MODEL))
    source = generated_images(folder / "rgb.npz", 3, SIZE, CLASSES, PER_CLASS)
    saved = {}
    for function in ("small_convnet", "wider_convnet"):
        config = Config()
        config.model.builder = f"{folder / 'my_net.py'}:{function}"
        model = build_model(config.model, config.regularizer, (SIZE, SIZE, 3), CLASSES, 255.0)
        saved[function] = folder / f"{function}.keras"
        model.save(saved[function])
    return {"source": source, "builder_file": folder / "my_net.py", "saved": saved}


def model_keys(network, inputs):
    if network in APPLICATIONS:
        alpha = APPLICATIONS[network]
        return [f"model.name={network}", *([f"model.alpha={alpha}"] if alpha else [])]
    if network == "from_keras":
        return [f"model.from_keras={inputs['saved']['small_convnet']}"]
    return [f"model.builder={inputs['builder_file']}:small_convnet"]


def base_overrides(network, inputs, folder):
    return [
        f"data.source={inputs['source']}",
        "data.validation_split=0.25",
        "data.batch_size=24",
        "optimizer.name=adam",
        "optimizer.learning_rate=0.01",
        "training.epochs=2",
        "training.verbose=0",
        "export.enabled=false",
        f"output.dir={folder}",
        f"output.name={network}",
        *model_keys(network, inputs),
    ]


@pytest.fixture(scope="module", params=NETWORKS)
def trained(request, inputs, tmp_path_factory):
    """(network, run folder, EdgeResult): trained once, then `edge.optimize` with pruning and
    QAT (one fine-tuning epoch each), which also rewrites the run's model card."""
    from edge.optimize import optimize_path
    from tfmodel.train import train

    network = request.param
    folder = tmp_path_factory.mktemp(network)
    run_dir = train(load_config(None, base_overrides(network, inputs, folder))).run_dir
    edge = optimize_path(
        run_dir,
        [
            "edge.variants=[pruned_int8]",
            "edge.qat=true",
            f"edge.target_sparsity={TARGET_SPARSITY}",
            "edge.prune_epochs=1",
        ],
    )
    return network, run_dir, edge


def row(edge, variant):
    return next(r for r in edge.rows if r.variant == variant)


@pytest.mark.slow
def test_pruning_reaches_the_target_where_tfmot_prunes_and_lists_the_rest(trained):
    from tfmodel.backend import keras

    network, run_dir, edge = trained
    pruned = {name: s for name, s in edge.sparsity.items() if name not in edge.unpruned}
    assert pruned and all(s >= TARGET_SPARSITY - 0.02 for s in pruned.values()), pruned
    # Depthwise kernels: TFMOT has no pruning for them, so they are kept whole and named.
    _, model = runs.load_run(run_dir)
    depthwise = [
        isinstance(model.get_layer(n), keras.layers.DepthwiseConv2D) for n in edge.unpruned
    ]
    assert depthwise and all(depthwise), edge.unpruned
    assert all(edge.sparsity[name] < 0.1 for name in edge.unpruned)
    report = (edge.out_dir / "report.md").read_text()
    assert "not pruned" in report and edge.unpruned[0] in report
    assert row(edge, "pruned_int8").sparsity >= 0.3 * TARGET_SPARSITY
    assert (edge.out_dir / "model_pruned_int8.tflite").stat().st_size > 0


@pytest.mark.slow
def test_qat_writes_an_int8_file_as_accurate_as_the_float_one(trained):
    """Agreement with the trained model is reported, not asserted: QAT fine-tunes a barely
    trained net further (the builder's accuracy rises by tens of points), so it moves away."""
    network, _, edge = trained
    qat, float32 = row(edge, "qat_int8"), row(edge, "float32")
    print(f"{network}: qat_int8 top-1 agreement with Keras {qat.agreement:.3f}")
    assert (edge.out_dir / "model_qat_int8.tflite").stat().st_size > 0
    assert qat.test_accuracy >= float32.test_accuracy - 0.1


@pytest.mark.slow
def test_integrated_gradients_on_one_image(trained, tmp_path):
    from tfmodel.analysis.integrated_gradients import integrated_gradients
    from tfmodel.data import load_splits
    from tfmodel.explain import ATTRIBUTIONS_PLOT, COMPLETENESS_TOLERANCE, main

    _, run_dir, _ = trained
    config, model = runs.load_run(run_dir)
    image = load_splits(config.data, config.training.seed).x_test[:1]
    result = integrated_gradients(model, image, steps=64)
    assert result.values.shape == image.shape and np.all(np.isfinite(result.values))
    # Completeness, against the logits' own scale: a barely trained MobileNet's logits barely
    # move from the black baseline, so the relative error the CLI prints is no measure there.
    logits = np.asarray(model(image, training=False))
    gap = abs(result.values.sum() - result.logit_gain[0])
    assert gap <= COMPLETENESS_TOLERANCE * max(abs(result.logit_gain[0]), np.ptp(logits))
    args = [str(run_dir), "--samples", "1", "--steps", "64", "--output", str(tmp_path)]
    assert main(args) == 0
    assert (tmp_path / ATTRIBUTIONS_PLOT).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_model_card_names_the_network_and_lists_the_edge_files(trained):
    network, run_dir, _ = trained
    card = (run_dir / runs.MODEL_CARD_FILE).read_text()
    named = {
        **{
            name: f"`{name}` ({'alpha 0.35' if a else 'weights'}"
            for name, a in APPLICATIONS.items()
        },
        "builder": "my_net.py:small_convnet",
        "from_keras": "small_convnet.keras`: raw pixels",
    }
    assert named[network] in card, card
    assert "| qat_int8 |" in card and "| pruned_int8 |" in card


@pytest.mark.slow
@pytest.mark.parametrize("network", NETWORKS)
def test_tuning_over_a_model_key(network, inputs, tmp_path):
    from tfmodel.tune import report
    from tfmodel.tune.cli import tune

    builder, saved = str(inputs["builder_file"]), inputs["saved"]
    key, choices = {
        **{
            name: ("model.alpha", [0.35, 0.5]) if a else ("model.dropout", [0.1, 0.3])
            for name, a in APPLICATIONS.items()
        },
        "builder": ("model.builder", [f"{builder}:small_convnet", f"{builder}:wider_convnet"]),
        "from_keras": ("model.from_keras", [str(path) for path in saved.values()]),
    }[network]
    overrides = [
        *base_overrides(network, inputs, tmp_path / "runs"),
        "training.epochs=1",
        f"tune.dir={tmp_path / 'tuning'}",
        "tune.max_trials=2",
        f"tune.space={{{key}: {json.dumps(choices)}}}",  # JSON: YAML that quotes the paths
    ]
    result = tune(load_config(None, overrides))
    with open(result.project_dir / report.TRIALS_CSV) as file:
        tried = [row[key] for row in csv.DictReader(file)]
    assert sorted(tried) == sorted(map(str, choices)), tried
    assert math.isfinite(result.test_accuracy)
