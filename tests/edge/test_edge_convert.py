"""Conversion: each file matches the Keras model it came from, within what its format allows."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from edge.convert import (  # noqa: E402
    analyze_gpu_compatibility,
    convert_model,
    litert_quantizer_available,
    softmax,
)
from edge.device.runtime import EdgeModel  # noqa: E402


@pytest.fixture(scope="module")
def keras_probabilities(digits_model, digits_splits):
    return softmax(digits_model.predict(digits_splits.x_test, verbose=0))


def row(digits_edge, variant):
    return next(r for r in digits_edge.rows if r.variant == variant)


def test_float32_file_equals_keras(digits_edge, digits_splits, keras_probabilities):
    probabilities = EdgeModel(digits_edge.out_dir / "model_float32.tflite").predict(
        digits_splits.x_test
    )
    np.testing.assert_allclose(probabilities, keras_probabilities, atol=1e-5)


def test_int8_agrees_with_float(digits_edge, digits_splits, keras_probabilities):
    float_top1 = keras_probabilities.argmax(axis=1)
    int8 = EdgeModel(digits_edge.out_dir / "model_int8.tflite")
    int8_top1 = int8.predict(digits_splits.x_test).argmax(axis=1)
    assert np.mean(int8_top1 == float_top1) >= 0.98
    float_accuracy = np.mean(float_top1 == digits_splits.y_test)
    int8_accuracy = np.mean(int8_top1 == digits_splits.y_test)
    assert abs(int8_accuracy - float_accuracy) <= 0.01
    assert row(digits_edge, "int8").test_accuracy == pytest.approx(int8_accuracy)
    assert row(digits_edge, "keras").test_accuracy == pytest.approx(float_accuracy)


def test_tensorflow_interpreter_is_the_last_fallback(digits_edge, digits_splits):
    """With TensorFlow's own tf.lite interpreter the runtime gives the same probabilities."""
    path = digits_edge.out_dir / "model_int8.tflite"
    litert = EdgeModel(path, num_threads=1)
    tensorflow = EdgeModel(path, interpreter="tensorflow", num_threads=2)
    assert (litert.interpreter_name, tensorflow.interpreter_name) == (
        "ai_edge_litert",
        "tensorflow",
    )
    x = digits_splits.x_test[:50]
    np.testing.assert_array_equal(litert.predict(x), tensorflow.predict(x))


@pytest.mark.parametrize("variant", ["dynamic", "float16"])
def test_weight_only_variants_stay_close(digits_edge, variant):
    assert row(digits_edge, variant).agreement >= 0.99


def test_every_file_has_the_named_signature(digits_edge, digits_config):
    for path in sorted(digits_edge.out_dir.glob("*.tflite")):
        signatures = Interpreter(model_path=str(path)).get_signature_list()
        assert signatures == {
            "serving_default": {
                "inputs": [digits_config.model.input_name],
                "outputs": ["probabilities"],
            }
        }, path.name


def test_int8_candidates_from_both_quantizers(digits_edge):
    expected = {"tflite-converter", "litert-quantizer"}
    if not litert_quantizer_available():
        expected = {"tflite-converter"}
    for variant in ("int8_io",):  # litert-quantizer makes int8 I/O only
        result = row(digits_edge, variant)
        assert set(result.quantizer_candidates) == expected
        kept = result.quantizer_candidates[result.quantizer]
        assert all(
            kept["val_accuracy"] >= s["val_accuracy"] for s in result.quantizer_candidates.values()
        )


def test_gpu_check_passes_builtin_ops_and_flags_flex_ops(digits_model, digits_config):
    from tfmodel.backend import tf

    check = analyze_gpu_compatibility(
        convert_model(digits_model, digits_config.model.input_name, "float32")
    )
    assert check.compatible and check.analyzer_compatible
    assert check.ops == ["MUL", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert "GPU delegate" in check.text

    @tf.function(input_signature=[tf.TensorSpec([4, 4], tf.float32, name="x")])
    def cosh(x):
        return {"y": tf.cosh(x)}  # no TFLite builtin: becomes the Flex (TensorFlow) op FlexCosh

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [cosh.get_concrete_function()], cosh
    )
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    check = analyze_gpu_compatibility(converter.convert())
    assert check.custom_ops == ["FlexCosh"] and not check.compatible


def test_an_op_without_a_tflite_builtin_is_one_clear_error():
    """tf.Svd has no TFLite builtin (only Flex runs it): one line naming the op, no MLIR dump."""
    from edge.convert import FlexOpError
    from tfmodel.backend import keras, tf

    pixels = keras.layers.Input((4, 4, 1), name="pixels")
    values = keras.layers.Lambda(lambda t: tf.linalg.svd(t[..., 0], compute_uv=False))(pixels)
    model = keras.Model(pixels, keras.layers.Dense(3)(values))
    with pytest.raises(FlexOpError) as caught:
        convert_model(model, "pixels", "float32")
    message = str(caught.value)
    assert "tf.Svd" in message and "Flex" in message and "\n" not in message
