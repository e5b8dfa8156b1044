"""Training on an image folder: examples/s of `tfmodel.train`'s fit ÷ the plain Keras script, for
photos_cnn.yaml's convnet (tf_keras) and Keras 3's `keras.applications.MobileNetV2` α 0.35 from a
`model.builder`; and a whole fit likewise.

`input_pipeline`'s JPEGs at 96×96, no augmentation, Adam, a tenth held out. Plain, in the model's
Keras: `image_dataset_from_directory(..., subset="both")`, `model.fit`; ours: `training_speed`'s.
A round is a fit timed in its last epoch (the convnet's one, Keras 3's second: steady state). A
whole fit: listing, a fresh MobileNetV2 (smoke: the convnet), 2 epochs; best of 3 turns a side.
"""

import tempfile
from functools import partial
from pathlib import Path

from benchmarks.harness import alternate
from benchmarks.input_pipeline import IMAGE_SIZE, write_jpegs
from benchmarks.results import Figure, Result, Table
from benchmarks.training_speed import MOBILENET_RECIPE, QUIET, REPO, Side, new_model, our_side
from tfmodel import data
from tfmodel.backend import tf
from tfmodel.config import Config, load_config
from tfmodel.keras3 import keras as keras3
from tfmodel.models.model_keras import keras_of

RECIPE = REPO / "configs" / "photos_cnn.yaml"
# size → (images, timed rounds a side, the whole fit's images)
SIZES = {"smoke": (20, 1, 40), "quick": (200, 2, 600), "full": (1000, 3, 600)}
SPEED_GOAL, KERAS3_GOAL, WHOLE_FIT_GOAL = 1.0, 0.95, 0.9
OVERRIDES = ["data.image_size=[96,96]", "data.augment=[]", "training.epochs=1"]
KERAS3 = "Keras 3 MobileNetV2"
KERAS3_SET = ["model.builder=benchmarks.training_photos:keras3_mobilenet", "edge.enabled=false"]
WORKLOADS = {"convnet": [], KERAS3: [*KERAS3_SET, "training.epochs=2"]}  # their overrides


def keras3_mobilenet(input_shape: tuple, num_classes: int) -> object:
    """The Keras 3 workload's `model.builder`: keras.applications' MobileNetV2 α 0.35, logits."""
    options = dict(weights=None, classes=num_classes, classifier_activation=None)
    return keras3.applications.MobileNetV2(input_shape, alpha=0.35, **options)


def plain_side(config: Config, root: Path, splits) -> tuple[Side, int]:
    """`image_dataset_from_directory` + the same model + `model.fit`; its training examples."""
    model = new_model(config, splits)
    keras = keras_of(model).keras
    options = dict(batch_size=config.data.batch_size, seed=config.training.seed)
    train, val = keras.utils.image_dataset_from_directory(
        root, image_size=IMAGE_SIZE, validation_split=0.1, subset="both", **options
    )
    examples = len(train.file_paths)
    train, val = train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(config.optimizer.learning_rate), loss, metrics=["accuracy"])

    def fit(callbacks: list = ()) -> None:
        epochs, callbacks = config.training.epochs, list(callbacks)
        model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=callbacks)

    return Side(model, fit), examples


def recipe(root: Path, path: Path, more: list[str]) -> tuple[Config, data.StreamedSplits]:
    """The recipe at `path` on the folder `root`, with `more` overrides, and its splits."""
    overrides = [f"data.source=images:{root}", *OVERRIDES, "data.test_split=0.0", *more]
    config = load_config(path, [*overrides, "data.validation_split=0.1", QUIET])
    return config, data.load_splits(config.data, config.training.seed)


def speed_rows(root: Path, rounds: int, workload: str) -> list[list[str]]:
    """Training examples/s of each side, by wall and by CPU time, medians of the rounds."""
    config, splits = recipe(root, RECIPE, WORKLOADS[workload])
    with tempfile.TemporaryDirectory() as tmp:
        plain, plain_examples = plain_side(config, root, splits)
        sides = {"plain": plain, "ours": our_side(config, splits, Path(tmp))}
        last = config.training.epochs - 1  # a round's last epoch is timed, after a warm-up round
        samples = alternate({k: partial(s.timed_round, last) for k, s in sides.items()}, rounds)
    examples = {"plain": plain_examples, "ours": len(splits.y_train)}
    rows = []
    for clock in ("wall", "cpu"):
        rate = [examples[k] / samples[k].median_of(clock) for k in ("plain", "ours")]
        name = f"{workload}: training examples/s ({clock})"
        rows.append([name, f"{rate[0]:.0f}", f"{rate[1]:.0f}", f"{rate[1] / rate[0]:.2f}"])
    return rows


def whole_fit_ratio(root: Path, path: Path, tmp: Path, turns: int = 3) -> float:
    """Ours ÷ plain speed of a whole 2-epoch fit (listing, a fresh model), best turn a side."""
    config, splits = recipe(root, path, ["training.epochs=2"])
    sides = {
        "plain": lambda: plain_side(config, root, splits)[0].fit_round(),
        "ours": lambda: our_side(config, recipe(root, path, [])[1], tmp).fit_round(),
    }
    samples = alternate(sides, turns, warmup=0, keep=False)
    return min(samples["plain"].wall) / min(samples["ours"].wall)


def run(size: str = "full") -> Result:
    count, rounds, whole_count = SIZES[size]
    whole_recipe = RECIPE if size == "smoke" else MOBILENET_RECIPE
    workloads = list(WORKLOADS)[: 1 if size == "smoke" else None]  # smoke: seconds, not minutes
    with tempfile.TemporaryDirectory() as folder:
        speed, whole = Path(folder) / "speed", Path(folder) / "whole"
        write_jpegs(speed, count)
        write_jpegs(whole, whole_count)
        rows = [speed_rows(speed, rounds, name) for name in workloads]
        whole_fit = whole_fit_ratio(whole, whole_recipe, Path(folder))
    tables = [Table(["measure", "plain script", "tfmodel.train", "ours ÷ plain"], sum(rows, []))]
    measure = "training examples/s{}, ours ÷ plain script"
    figures = [Figure(measure.format(""), float(rows[0][0][3]), "×", SPEED_GOAL)]  # wall time
    if len(rows) > 1:
        keras3 = float(rows[1][1][3])  # CPU time
        figures.append(Figure(measure.format(f" of {KERAS3} (CPU)"), keras3, "×", KERAS3_GOAL))
    name = f"whole 2-epoch fit of {whole_recipe.stem} on {whole_count} images, ours ÷ plain"
    figures.append(Figure(name, whole_fit, "×", WHOLE_FIT_GOAL))
    method = f"{count} JPEGs, {rounds} timed round(s) a side, alternating."
    title = "Training on an image folder: tfmodel.train vs the plain Keras script"
    return Result("training_photos", title, method, tables, figures)
