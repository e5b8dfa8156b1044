"""The models training builds, top to bottom:

- `build`: the one entry point — `build_model` picks the network the config names and checks it;
  `compile_for_training`, `inference_model` (export's float32 copy), `load_model`.
- `builtin`: `mlp` and `cnn`, built here.
- `applications`: standard edge networks by name (MobileNetV2/V3, EfficientNetB0), weights.
- `user`: the user's own model, from `model.builder` or `model.from_keras`.
- `model_keras`: which Keras a model or `.keras` file belongs to (tf_keras or Keras 3), and its
  optimizer and loader.
- `checks`: whether training can take a model it did not build (shapes, softmax, TFLite).
- `transfer`: transfer learning's phases (head alone with the base frozen, then fine-tuning).
"""

from tfmodel.models.build import build_model, compile_for_training, inference_model, load_model

__all__ = ["build_model", "compile_for_training", "inference_model", "load_model"]
