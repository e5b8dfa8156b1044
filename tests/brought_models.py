"""Models a user brings, made inside the tests (the door's acceptance models, shared by the serving
and edge tests through tests/conftest.py's session fixtures):

- `keras3_mobilenet(folder)`: Keras 3 `keras.applications.MobileNetV3Small` (weights=None,
  alpha 0.25, SIZE×SIZE, hard-swish and squeeze-excite kept, preprocessing inside so it takes
  0-255 pixels, softmax output) trained a few steps on generated photos, saved as `.keras` and
  through `model.export()`; with the photo folder it learned from.
- `keras3_tiny(folder)`: a tiny Keras 3 classifier (softmax) as `.keras` and `model.export()`,
  for the door's unit tests, which need no real network.
- `keras3_custom_layer(folder)`: a Keras 3 model with a layer of the user's own, registered in a
  .py file written beside it, and logits output. The registration is dropped again after saving,
  so this process loads the file only when the door imports that .py (as a new process would).
- `tf_keras_file(folder)`: a tf_keras `.keras` file that no run wrote (a conv, a depthwise conv,
  a Dense head; logits).
- `plain_module(folder)`: a `tf.Module` SavedModel whose `serving_default` takes float pixels
  (`image`) and gives probabilities, no Keras at all.

Every model takes SIZE×SIZE×3 pixels and tells the two photo classes apart (tests/photos.py).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
from photos import CLASSES, write_photo_folder
from PIL import Image

from tfmodel.backend import tf

SIZE = 64
PHOTOS_PER_CLASS = 50
TRAIN_STEPS = 4  # per epoch
EPOCHS = 2  # the second epoch makes every photo's top class clear (a margin > 0.1 here)
BATCH_NORM_MOMENTUM = 0.5
CUSTOM_LAYER = "ChannelGain"
CUSTOM_PACKAGE = "my_layers"
CUSTOM_OBJECTS_FILE = f'''
import keras


@keras.saving.register_keras_serializable(package="{CUSTOM_PACKAGE}")
class {CUSTOM_LAYER}(keras.layers.Layer):
    """Multiplies each channel by a learned gain."""

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gain")

    def call(self, x):
        return x * self.gain
'''


@dataclasses.dataclass(frozen=True)
class Keras3Files:
    """A Keras 3 model saved as `.keras` and by its own `model.export()`."""

    keras_file: Path
    export_dir: Path


@dataclasses.dataclass(frozen=True)
class Keras3Mobilenet(Keras3Files):
    """The MobileNetV3Small files and the photos it learned from."""

    photos: Path


def photo_arrays(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every photo in `folder`/<class>/ as SIZE×SIZE RGB float32 pixels, and its class index."""
    x, y = [], []
    for label, name in enumerate(CLASSES):
        for path in sorted((folder / name).iterdir()):
            image = Image.open(path).convert("RGB").resize((SIZE, SIZE))
            x.append(np.asarray(image, np.float32))
            y.append(label)
    return np.stack(x), np.asarray(y)


def keras3_mobilenet(folder: Path) -> Keras3Mobilenet:
    """MobileNetV3Small by Keras 3, trained EPOCHS × TRAIN_STEPS steps, as .keras and export/."""
    from tfmodel.keras3 import keras

    photos = folder / "photos"
    write_photo_folder(photos, PHOTOS_PER_CLASS)
    x, y = photo_arrays(photos)
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(
        input_shape=(SIZE, SIZE, 3),
        alpha=0.25,
        minimalistic=False,
        include_top=True,
        weights=None,
        classes=len(CLASSES),
        include_preprocessing=True,
    )
    # Batch norm's moving averages (momentum 0.999) would barely move in a few steps, leaving a
    # model that answers near-ties for every photo, which int8 rounding flips either way.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BATCH_NORM_MOMENTUM
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", jit_compile=False)
    batch = len(x) // TRAIN_STEPS
    model.fit(x, y, batch_size=batch, epochs=EPOCHS, verbose=0)
    keras_file, export_dir = folder / "mobilenet.keras", folder / "mobilenet_export"
    model.save(keras_file)
    model.export(str(export_dir), verbose=False)
    return Keras3Mobilenet(keras_file, export_dir, photos)


def keras3_tiny(folder: Path) -> Keras3Files:
    """pixels → Rescaling → Conv2D → pooling → softmax, untrained, as tiny.keras and export/."""
    from tfmodel.keras3 import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, strides=2)(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(len(CLASSES), activation="softmax")(x))
    keras_file, export_dir = folder / "tiny.keras", folder / "tiny_export"
    model.save(keras_file)
    model.export(str(export_dir), verbose=False)
    return Keras3Files(keras_file, export_dir)


def keras3_custom_layer(folder: Path) -> tuple[Path, Path]:
    """(the .keras file, the user's .py registering its layer): pixels → ChannelGain → logits."""
    from tfmodel.keras3 import keras

    layers_file = folder / "my_layers.py"
    layers_file.write_text(CUSTOM_OBJECTS_FILE)
    module = _import_file(layers_file)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = getattr(module, CUSTOM_LAYER)()(x)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(len(CLASSES), name="logits")(x))
    path = folder / "custom.keras"
    model.save(path)
    forget_custom_layer()
    return path, layers_file


def forget_custom_layer() -> None:
    """Drop CUSTOM_LAYER from Keras 3's registry, as a new process would not know it."""
    from tfmodel.keras3 import keras

    keras.saving.get_custom_objects().pop(f"{CUSTOM_PACKAGE}>{CUSTOM_LAYER}", None)


def tf_keras_file(folder: Path) -> Path:
    """A tf_keras `.keras` file saved by model.save (not by a run): pixels → logits."""
    from tfmodel.backend import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv0")(x)
    x = keras.layers.DepthwiseConv2D(3, activation="relu", name="depthwise")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(len(CLASSES), name="logits")(x))
    path = folder / "tf_keras_model.keras"
    model.save(path)
    return path


class BrightnessModule(tf.Module):
    """Probabilities of the two photo classes from the mean brightness of float pixels."""

    def __init__(self):
        super().__init__()
        self.weight = tf.Variable([[0.05, -0.05]], name="weight")
        self.bias = tf.Variable([-6.0, 6.0], name="bias")

    @tf.function(input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, "image")])
    def classify(self, image):
        brightness = tf.reduce_mean(image, axis=[1, 2, 3])[:, None]
        return {"scores": tf.nn.softmax(brightness * self.weight + self.bias)}


def plain_module(folder: Path) -> Path:
    """A SavedModel of BrightnessModule: `serving_default` (`image` → `scores`), no Keras."""
    module = BrightnessModule()
    path = folder / "plain_module"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.classify})
    return path


def _import_file(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
