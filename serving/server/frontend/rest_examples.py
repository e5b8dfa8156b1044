"""TF Serving's REST bodies for Classify and Regress: tf.Examples from JSON, results to JSON.

A request lists `examples`, each an object of features (a number, string, `{"b64": ...}` or a list
of them; floats become a float_list, integers and booleans an int64_list, strings a bytes_list),
plus an optional `context` object shared by all examples. Classify answers `{"results": [[[label,
score], ...], ...]}`, Regress `{"results": [value, ...]}`. Messages match TF Serving's.
"""

from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import classification_pb2, regression_pb2

from serving.server.frontend.json_writer import JsonWriter, format_decimal
from serving.server.status import invalid_argument
from serving.tensors_json import (
    decode_b64_object,
    is_b64_object,
    json_debug_string,
    json_type_name,
)


def parse_examples(document: dict, request) -> None:
    """Fills a Classification/RegressionRequest's input from `examples` and optional `context`."""
    if "context" in document:
        _fill_example(document["context"], request.input.example_list_with_context.context)
    examples = document.get("examples")
    if examples is None:
        raise invalid_argument(
            f"JSON Value: {json_debug_string(document)} When method is classify, key 'examples' "
            "is expected and was not found"
        )
    if not isinstance(examples, list):
        raise invalid_argument(
            f"JSON Value: {json_debug_string(document)} Expecting 'examples' value to be an "
            "list/array"
        )
    if not examples:
        raise invalid_argument(
            f"JSON Value: {json_debug_string(document)} 'examples' value is an empty array"
        )
    with_context = "context" in document
    for value in examples:
        target = (
            request.input.example_list_with_context.examples
            if with_context
            else request.input.example_list.examples
        )
        _fill_example(value, target.add())


def _fill_example(value, example: example_pb2.Example) -> None:
    if not isinstance(value, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON {json_type_name(value)}")
    for name, content in value.items():
        feature = feature_pb2.Feature()
        for item in content if isinstance(content, list) else [content]:
            _add_feature_value(name, item, feature)
        example.features.feature[name].CopyFrom(feature)


def _add_feature_value(name: str, value, feature: feature_pb2.Feature) -> None:
    if isinstance(value, bool) or (isinstance(value, int) and not isinstance(value, bool)):
        kind, item = "int64_list", int(value)
        if not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            raise invalid_argument(
                f"Feature: {name} has uint64_t element. Only int64_t is supported."
            )
    elif isinstance(value, float):
        kind, item = "float_list", value
    elif isinstance(value, str):
        kind, item = "bytes_list", value.encode()
    elif is_b64_object(value):
        kind, item = "bytes_list", decode_b64_object(value)
    else:
        raise invalid_argument(
            f"Feature: {name} has element with unexpected JSON type: {json_type_name(value)}"
        )
    current = feature.WhichOneof("kind")
    if current not in (None, kind):
        expected = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}[current]
        raise invalid_argument(
            f"Unexpected element type in feature: {name} expecting type: {expected}"
        )
    getattr(feature, kind).value.append(item)


def write_classification_result(result: classification_pb2.ClassificationResult) -> str:
    """`{"results": [[[label, score], ...], ...]}`, one list of pairs per example."""
    if not result.classifications:
        raise invalid_argument("Cannot convert empty ClassificationResults to JSON")
    writer = JsonWriter()
    writer.start_object()
    writer.key("results")
    writer.start_array()
    for classifications in result.classifications:
        writer.single_line_arrays = True
        writer.start_array()
        for entry in classifications.classes:
            writer.start_array()
            writer.string(entry.label)
            writer.raw(format_decimal(entry.score, float32=True))
            writer.end_array()
        writer.end_array()
        writer.single_line_arrays = False
    writer.end_array()
    writer.end_object()
    return writer.text()


def write_regression_result(result: regression_pb2.RegressionResult) -> str:
    """`{"results": [value, ...]}`, one float per example."""
    if not result.regressions:
        raise invalid_argument("Cannot convert empty RegressionResults to JSON")
    writer = JsonWriter()
    writer.start_object()
    writer.key("results")
    writer.single_line_arrays = True
    writer.start_array()
    for regression in result.regressions:
        writer.raw(format_decimal(regression.value, float32=True))
    writer.end_array()
    writer.end_object()
    return writer.text()
