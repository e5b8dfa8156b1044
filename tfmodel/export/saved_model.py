"""Export a trained model as a SavedModel that TensorFlow Serving loads as it is.

Layout (what `tensorflow_model_server --model_base_path=<export_base>/<model_name>` expects):

    <export_base>/models.config                    ModelServerConfig naming every exported model
    <export_base>/<model_name>/<version>/          SavedModel: `serving_default` and `classify`
                                                   (+ `serving_bytes` for an image input)
        assets.extra/tf_serving_warmup_requests    PredictionLog records replayed on load
        assets.extra/model_card.md                 where the model came from, its signatures

A version folder is written under a temporary name in the export base and renamed into place,
so a server polling `<export_base>/<model_name>` never sees half a model.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

# isort: off
from tfmodel.backend import keras, tf  # first: TensorFlow is loaded quietly there (tfmodel.quiet)

# isort: on
import numpy as np
from google.protobuf import text_format
from tensorflow.python.saved_model import fingerprinting_utils  # no public writer in TF 2.21
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfmodel.brought import BroughtModel
from tfmodel.brought.card import Evaluation, render_card
from tfmodel.brought.door import describe_trained_model
from tfmodel.config import Config
from tfmodel.data.decode import ImageRecipe, decode_image, exif_orientation
from tfmodel.errors import UserError
from tfmodel.files import write_text_atomically
from tfmodel.runs import EXPORT_DIR, writable_dir
from tfmodel.sign import sign_model

PREDICT_SIGNATURE = "serving_default"
CLASSIFY_SIGNATURE = "classify"
BYTES_SIGNATURE = "serving_bytes"  # encoded images in, decoded by the training recipe
BYTES_INPUT = "image_bytes"
INPUT_RANGE_SIGNATURE = "input_range"  # named again in serving.client (it imports no tfmodel)
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MODEL_CARD_FILE = Path("assets.extra") / "model_card.md"
MODELS_CONFIG_FILE = "models.config"
# What counts as a version folder: TF Serving's rule, as `serving.server.core.versions` has it
# (an optional sign, then digits). Written again here because training imports no serving code.
VERSION_FOLDER_NAME = re.compile(r"[+-]?\d+")


def export_for_serving(
    model: keras.Model,
    config: Config,
    examples: np.ndarray,
    *,
    run_dir: str | Path | None = None,
    export_base: str | Path | None = None,
    version: int | None = None,
    class_names: Sequence[str] | None = None,
    sign_key: str | Path | None = None,
) -> Path:
    """Write a model trained here (raw pixels in, logits out) for TF Serving: `export_model` of
    its description (`tfmodel.brought.describe_trained_model`), as training exports its run.

    What is saved is `model`'s variables and signatures only (no optimizer state), computing in
    `export.precision` (float32 unless `as_trained`); inputs and outputs are float32 either way.
    """
    brought = describe_trained_model(model, config, class_names)
    return export_model(
        brought,
        examples,
        run_dir=run_dir,
        export_base=export_base,
        version=version,
        sign_key=sign_key,
    )


def export_model(
    brought: BroughtModel,
    examples: np.ndarray,
    *,
    run_dir: str | Path | None = None,
    export_base: str | Path | None = None,
    version: int | None = None,
    sign_key: str | Path | None = None,
    evaluation: Evaluation | None = None,
) -> Path:
    """Write the model the door described for TF Serving and return the version folder.

    `examples` are a few raw inputs (e.g. from the test split) that become the warmup requests.
    The export base is `export_base`, else `export.base_dir`, else `<run_dir>/export`; the
    version is `version`, else `export.version`, else the next free number. The version holds
    its model card (`assets.extra/model_card.md`, with `evaluation` when the model was scored).
    With `sign_key` (a PEM private key) the version is signed (`tfmodel.sign`) before it appears.
    """
    config = brought.config
    base = resolve_export_base(config, run_dir, export_base)
    model_name = brought.name
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise UserError(
            f"model name {model_name!r} cannot name a folder; set export.model_name to a plain name"
        )
    examples = np.asarray(examples, dtype=np.float32)
    if examples.shape[1:] != brought.input_shape:
        raise UserError(
            f"warmup examples have shape {examples.shape[1:]} per example but the model takes "
            f"{brought.input_shape}; pass examples from the split the model was trained on"
        )

    model_dir = base / model_name
    version = _choose_version(model_dir, config.export.version if version is None else version)
    final_dir = model_dir / str(version)
    if final_dir.exists():
        raise UserError(
            f"export {final_dir} already exists; pass another --version or omit it to use "
            f"the next free one ({next_version(model_dir)})"
        )
    writable_dir(model_dir, "export folder")  # the export base too
    staging = Path(tempfile.mkdtemp(prefix=f".{model_name}-{version}-", dir=base))
    try:
        write_signatures(brought, staging)
        warmup = examples[: config.export.warmup_records]
        write_warmup_requests(staging, model_name, brought.input_name, warmup)
        card = render_card(brought, read_signatures(staging), evaluation)
        write_text_atomically(staging / MODEL_CARD_FILE, card)
        if sign_key:  # before the rename: a server never sees the version unsigned
            sign_model(staging, sign_key)
        os.rename(staging, final_dir)
    except OSError as err:
        raise UserError(f"could not write the export {final_dir}: {err}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_models_config(base, model_name)
    return final_dir


def resolve_export_base(
    config: Config, run_dir: str | Path | None, export_base: str | Path | None = None
) -> Path:
    """The absolute export base: the argument, else the config's, else `<run_dir>/export`."""
    chosen = export_base or config.export.base_dir
    if chosen is None:
        if run_dir is None:
            raise UserError("no export base: pass --export-base DIR or set export.base_dir")
        chosen = Path(run_dir) / EXPORT_DIR
    return Path(chosen).resolve()


def export_model_name(config: Config) -> str:
    """The model's name under the export base: `export.model_name`, else the run's name."""
    return config.export.model_name or config.output.name


def next_version(model_dir: Path) -> int:
    """One more than the highest version folder in `model_dir` (1 if there is none).

    A version folder is what the server serves (`serving.server.core.versions.find_versions`,
    TF Serving's rule): a folder named by an integer, `7`, `007`, `+7` or `-1` alike.
    """
    if not model_dir.is_dir():
        return 1
    names = [p.name for p in model_dir.iterdir() if p.is_dir()]
    return max([0, *(int(name) for name in names if VERSION_FOLDER_NAME.fullmatch(name))]) + 1


def _choose_version(model_dir: Path, requested: int | None) -> int:
    if requested is None:
        return next_version(model_dir)
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise UserError(f"export version {requested!r} must be a positive integer")
    return requested


def save_signatures(
    model: keras.Model,
    input_name: str,
    class_names: Sequence[str],
    export_dir: Path,
    recipe: ImageRecipe | None = None,
) -> None:
    """`write_signatures` of a tf_keras model (raw pixels → logits) held in memory."""
    config = Config()
    config.model.input_name = input_name
    brought = describe_trained_model(model, config, class_names)
    write_signatures(dataclasses.replace(brought, input_name=input_name, recipe=recipe), export_dir)


def write_signatures(brought: BroughtModel, export_dir: Path) -> None:
    """Save the model with a Predict `serving_default` (`probabilities`, `classes`, `logits`) and
    a Classify `classify` signature, a Predict `serving_bytes` when its input is an image
    (`brought.recipe`) and `input_range` when its raw pixel range is known. These are the
    SavedModel's only signatures, whatever endpoints the model brought along."""
    input_shape = list(brought.input_shape)
    flat_size = int(np.prod(input_shape))
    input_name = brought.input_name

    @tf.function(input_signature=[tf.TensorSpec([None, *input_shape], tf.float32, input_name)])
    def predict(pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        logits, probabilities = brought.outputs(pixels)
        return {
            "probabilities": probabilities,
            "classes": tf.argmax(logits, axis=-1, output_type=tf.int64),
            "logits": logits,
        }

    # TF Serving's Classify API: serialized tf.Examples in `inputs`; per example, every class
    # label in `classes` and its probability in `scores` (as tf.estimator exported them).
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "inputs")])
    def classify(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        spec = {input_name: tf.io.FixedLenFeature([flat_size], tf.float32)}
        pixels = tf.reshape(tf.io.parse_example(inputs, spec)[input_name], [-1, *input_shape])
        scores = brought.probabilities(pixels)
        labels = tf.constant([list(brought.labels)])
        return {"classes": tf.tile(labels, [tf.shape(scores)[0], 1]), "scores": scores}

    signatures = {PREDICT_SIGNATURE: predict, CLASSIFY_SIGNATURE: classify}
    if brought.pixel_max is not None:
        signatures[INPUT_RANGE_SIGNATURE] = input_range_signature(brought.pixel_max)
    if brought.recipe is not None:
        signatures[BYTES_SIGNATURE] = bytes_signature(predict, brought.recipe)
    # What is saved is the variables the signatures read, tracked one by one, as Keras 3's own
    # ExportArchive does: with a Keras 3 model object tracked instead, TF Serving's (TF1)
    # session loader finds none of its variables (the TF2 loader does). Optimizer slots and the
    # model's other endpoints stay out.
    holder = tf.Module()
    holder.signature_variables = _variables_read_by(predict)
    tf.saved_model.save(holder, str(export_dir), signatures=signatures)
    # tf.saved_model.save marks every signature as Predict; TF Serving's Classify API only
    # accepts a signature whose method name says classify, so rewrite it in saved_model.pb.
    updater = tf.compat.v1.saved_model.signature_def_utils.MethodNameUpdater(str(export_dir))
    updater.replace_method_name(
        CLASSIFY_SIGNATURE, tf.saved_model.CLASSIFY_METHOD_NAME, tags=[tf.saved_model.SERVING]
    )
    updater.save()
    # saved_model.pb changed, so fingerprint.pb (its checksum, written by save) must be redone.
    fingerprinting_utils.write_fingerprint(str(export_dir))


def _variables_read_by(function) -> list[tf.Variable]:
    """The variables a traced tf.function reads, each once."""
    unique = {id(v): v for v in function.get_concrete_function().variables}
    return list(unique.values())


def bytes_signature(predict, recipe: ImageRecipe):
    """`serving_bytes`: a batch of encoded JPEG/PNG/BMP/GIF/WebP strings in `image_bytes`,
    decoded and resized by `tfmodel.data.decode.decode_image` exactly as in training, then
    `predict`'s outputs. A file that is no image or whose header declares more than MAX_PIXELS
    fails the request with INVALID_ARGUMENT before anything large is allocated. A JPEG is
    turned upright by its EXIF orientation (`exif_orientation`, read in the graph), as
    training turned it by the tag read at listing time; `serving.client` sends upright PNGs.
    """

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, BYTES_INPUT)])
    def serving_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        pixels = tf.map_fn(
            lambda data: decode_image(data, exif_orientation(data), recipe),
            image_bytes,
            fn_output_signature=tf.TensorSpec(recipe.shape, tf.float32),
        )
        return predict(pixels)

    return serving_bytes


def input_range_signature(high: float):
    """`input_range`: the raw input range the model was trained on, for clients scaling images.

    Any float vector `x` in; `low` and `high` out, one per entry (0 and the data's pixel_max,
    read from the model's `rescale` layer). A signature, so any client reads it by a Predict
    call over gRPC or REST, e.g. `{"signature_name": "input_range", "instances": [0]}`.
    """

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, "x")])
    def input_range(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"low": tf.zeros_like(x), "high": tf.fill(tf.shape(x), high)}

    return input_range


def write_warmup_requests(
    export_dir: Path, model_name: str, input_name: str, examples: np.ndarray
) -> None:
    """Write one Predict request per example as TF Serving's warmup file (none if no examples)."""
    if len(examples) == 0:
        return
    path = export_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = model_pb2.ModelSpec(name=model_name, signature_name=PREDICT_SIGNATURE)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            request = predict_pb2.PredictRequest(model_spec=spec)
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(example[np.newaxis]))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())


def write_models_config(export_base: Path, model_name: str) -> Path:
    """Add (or refresh) `model_name` in `<export_base>/models.config`, keeping other entries."""
    path = export_base / MODELS_CONFIG_FILE
    server_config = model_server_config_pb2.ModelServerConfig()
    if path.exists():
        try:
            text_format.Parse(path.read_text(), server_config)
        except text_format.ParseError as err:
            raise UserError(
                f"{path} is not a ModelServerConfig text proto ({err}); fix or delete it"
            ) from None
    entries = server_config.model_config_list.config
    entry = next((e for e in entries if e.name == model_name), None) or entries.add()
    entry.name = model_name
    entry.base_path = str(export_base / model_name)
    entry.model_platform = "tensorflow"
    path.write_text(text_format.MessageToString(server_config))
    return path


def read_signatures(export_dir: Path) -> dict[str, tuple[str, str, str]]:
    """name → (method, inputs, outputs) read from saved_model.pb, without loading the model."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((export_dir / "saved_model.pb").read_bytes())
    signatures = {}
    for name, sig in sorted(saved.meta_graphs[0].signature_def.items()):
        if name.startswith("__"):
            continue
        method = sig.method_name.rsplit("/", 1)[-1]
        signatures[name] = (method, _tensors(sig.inputs), _tensors(sig.outputs))
    return signatures


def _tensors(infos) -> str:
    from tensorflow.python.framework import dtypes

    def shape(info) -> str:
        return (
            "[" + ", ".join("?" if d.size < 0 else str(d.size) for d in info.tensor_shape.dim) + "]"
        )

    return ", ".join(
        f"`{key}` {dtypes.as_dtype(info.dtype).name}{shape(info)}"
        for key, info in sorted(infos.items())
    )
