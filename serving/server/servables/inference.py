"""Predict, Classify, Regress and MultiInference on one loaded Servable, as TF Serving runs them.

Each function takes a request proto and answers the response proto, or raises `ServingError` with
TF Serving's code and message: an unknown signature is FAILED_PRECONDITION for Predict and
INVALID_ARGUMENT for the others, missing or extra inputs, bad output filters and empty inputs are
INVALID_ARGUMENT. Classify and Regress feed the request's tf.Examples, serialized, into the
signature's single string input (`inputs`), and read `classes`/`scores` or `outputs`.
"""

import numpy as np
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    input_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

from serving.server import metrics
from serving.server.servables.servable import Servable
from serving.server.status import failed_precondition, invalid_argument
from serving.tensors import TensorError, make_ndarray, make_tensor_proto

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def signature_key(name: str) -> str:
    """The signature a request names: its own, or `serving_default` when left empty."""
    return name or DEFAULT_SIGNATURE


def make_model_spec(name: str, signature: str | None, version: int | None) -> model_pb2.ModelSpec:
    """The `model_spec` of a response: model name, resolved signature name, served version."""
    spec = model_pb2.ModelSpec(name=name)
    if signature is not None:
        spec.signature_name = signature_key(signature)
    if version is not None:
        spec.version.value = version
    return spec


def predict(servable: Servable, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    """Runs a Predict request: named input tensors in, the (filtered) named outputs out."""
    name = signature_key(request.model_spec.signature_name)
    if name not in servable.signatures:
        raise failed_precondition(f'Serving signature key "{name}" not found.')
    signature = servable.signatures[name]
    _check_input_count(signature, request)
    feeds = {}
    for alias in sorted(signature.inputs):
        info = signature.inputs[alias]
        if alias in request.inputs:
            proto = request.inputs[alias]
        elif alias in signature.defaults:
            proto = signature.defaults[alias]
        else:
            raise invalid_argument(
                f"Signature input alias: {alias}(feed name: {info.name}) not found in request and "
                f"no default value provided. Inputs expected to be in the request "
                f"{{{','.join(sorted(request.inputs))}}}, or default input alias set: "
                f"{','.join(sorted(signature.defaults))}"
            )
        try:
            feeds[info.name] = make_ndarray(proto)
        except TensorError as error:
            raise invalid_argument(f"tensor parsing error: {alias}") from error
    unused = set(request.inputs) - set(signature.inputs)
    if unused:
        raise invalid_argument(
            "Inputs contains invalid name. Used request inputs: "
            f"{','.join(sorted(set(request.inputs) & set(signature.inputs)))}, "
            f"request input: {','.join(sorted(request.inputs))}"
        )
    aliases = _output_aliases(signature, list(request.output_filter))
    values = metrics.timed_run(
        servable, "Predict", feeds, [signature.outputs[alias].name for alias in aliases]
    )
    response = predict_pb2.PredictResponse(
        model_spec=make_model_spec(request.model_spec.name, name, servable.version)
    )
    for alias, value in zip(aliases, values, strict=True):
        response.outputs[alias].CopyFrom(make_tensor_proto(value))
    return response


def _check_input_count(signature, request: predict_pb2.PredictRequest) -> None:
    sent, expected = set(request.inputs), set(signature.inputs)
    too_few = len(sent) < len(expected) and not signature.defaults
    if len(sent) > len(expected) or too_few:
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
        )


def _output_aliases(signature, output_filter: list[str]) -> list[str]:
    for index, alias in enumerate(output_filter):
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                f"the set {{{','.join(sorted(signature.outputs))}}}."
            )
        if alias in output_filter[:index]:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
    return output_filter or sorted(signature.outputs)


def classify(
    servable: Servable, request: classification_pb2.ClassificationRequest
) -> classification_pb2.ClassificationResponse:
    """Runs a Classify request: tf.Examples in, (label, score) pairs per example out."""
    response = classification_pb2.ClassificationResponse()
    _run_examples(
        servable, "Classify", request, _classification_tensors, _fill_classifications, response
    )
    return response


def regress(
    servable: Servable, request: regression_pb2.RegressionRequest
) -> regression_pb2.RegressionResponse:
    """Runs a Regress request: tf.Examples in, one float per example out."""
    response = regression_pb2.RegressionResponse()
    _run_examples(servable, "Regress", request, _regression_tensors, _fill_regressions, response)
    return response


def _run_examples(servable: Servable, api: str, request, find_tensors, fill, response) -> None:
    """Classify or Regress: feed the serialized tf.Examples, fill `response` from the fetches."""
    signature = _find_signature(servable, request.model_spec.signature_name)
    input_name, fetches = find_tensors(signature)
    examples = serialize_examples(request.input)
    values = metrics.timed_run(servable, api, {input_name: examples}, fetches)
    outputs = dict(zip(fetches, values, strict=True))
    response.model_spec.CopyFrom(
        make_model_spec(
            request.model_spec.name, request.model_spec.signature_name, servable.version
        )
    )
    fill(signature, len(examples), outputs, response.result)


def multi_inference(
    servable: Servable, request: inference_pb2.MultiInferenceRequest
) -> inference_pb2.MultiInferenceResponse:
    """Runs several classify/regress signatures of one model on the same tf.Examples at once."""
    model_name, names, input_names, fetches = "", set(), set(), set()
    for task in request.tasks:
        if not task.model_spec.name:
            raise invalid_argument("Found ModelSpec with an empty model name.")
        if model_name and task.model_spec.name != model_name:
            raise invalid_argument(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
        model_name = task.model_spec.name
        name = signature_key(task.model_spec.signature_name)
        if name in names:
            raise invalid_argument(f"Duplicate evaluation of signature: {name}")
        names.add(name)
        if name not in servable.signatures:
            raise invalid_argument(f"Requested signature not found in model graph: {name}")
        input_name, task_fetches = _task_tensors(task.method_name, servable.signatures[name])
        input_names.add(input_name)
        fetches.update(task_fetches)
    examples = serialize_examples(request.input)
    fetch_list = sorted(fetches)
    values = servable.run({n: examples for n in input_names}, fetch_list)
    outputs = dict(zip(fetch_list, values, strict=True))
    response = inference_pb2.MultiInferenceResponse()
    for task in request.tasks:
        signature = servable.signatures[signature_key(task.model_spec.signature_name)]
        result = response.results.add()
        if task.method_name == CLASSIFY_METHOD:
            _fill_classifications(signature, len(examples), outputs, result.classification_result)
        else:
            _fill_regressions(signature, len(examples), outputs, result.regression_result)
        result.model_spec.CopyFrom(
            make_model_spec(task.model_spec.name, task.model_spec.signature_name, servable.version)
        )
    return response


def _task_tensors(method_name: str, signature) -> tuple[str, list[str]]:
    if method_name == CLASSIFY_METHOD:
        return _classification_tensors(signature)
    if method_name == REGRESS_METHOD:
        return _regression_tensors(signature)
    raise invalid_argument(f"Unsupported signature method_name: {method_name}")


def serialize_examples(model_input: input_pb2.Input) -> np.ndarray:
    """The request's tf.Examples serialized into a string vector (context prepended, as TF does)."""
    kind = model_input.WhichOneof("kind")
    if kind == "example_list_with_context":
        context = model_input.example_list_with_context.context.SerializeToString()
        examples = model_input.example_list_with_context.examples
    else:
        context = b""
        examples = model_input.example_list.examples if kind else []
    if not examples:
        raise invalid_argument("Input is empty.")
    return np.array([context + example.SerializeToString() for example in examples], dtype=object)


def _find_signature(servable: Servable, requested: str):
    name = signature_key(requested)
    if name not in servable.signatures:
        raise invalid_argument(f"No signature was found with the name: {name}")
    return servable.signatures[name]


def _classification_tensors(signature) -> tuple[str, list[str]]:
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) not in (1, 2):
        raise invalid_argument(
            f"Expected one or two output Tensors, found {len(signature.outputs)}"
        )
    if "inputs" not in signature.inputs:
        raise invalid_argument(f"No classification inputs found in SignatureDef: {signature}")
    fetches = [signature.outputs[k].name for k in ("classes", "scores") if k in signature.outputs]
    if not fetches:
        raise invalid_argument(
            'Expected classification signature outputs to contain at least one of "classes" or '
            f'"scores". Signature was: {signature}'
        )
    return signature.inputs["inputs"].name, fetches


def _regression_tensors(signature) -> tuple[str, list[str]]:
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if "inputs" not in signature.inputs:
        raise invalid_argument(f"No regression inputs found in SignatureDef: {signature}")
    if "outputs" not in signature.outputs:
        raise invalid_argument(f"No regression outputs found in SignatureDef: {signature}")
    return signature.inputs["inputs"].name, [signature.outputs["outputs"].name]


def _fill_classifications(signature, num_examples: int, outputs: dict, result) -> None:
    classes = _batch_matrix(signature, "classes", outputs, num_examples, np.object_, "DT_STRING")
    scores = _batch_matrix(signature, "scores", outputs, num_examples, np.float32, "DT_FLOAT")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(
            "Tensors class and score should match in dim_size(1). "
            f"Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    num_classes = (classes if classes is not None else scores).shape[1]
    for row in range(num_examples):
        classifications = result.classifications.add()
        for column in range(num_classes):
            entry = classifications.classes.add()
            if classes is not None:
                entry.label = classes[row, column].decode("utf-8", errors="replace")
            if scores is not None:
                entry.score = scores[row, column]


def _batch_matrix(signature, key: str, outputs: dict, num_examples: int, dtype, dtype_label: str):
    if key not in signature.outputs:
        return None
    value = outputs[signature.outputs[key].name]
    if value.ndim != 2:
        raise invalid_argument(
            f"Expected Tensor shape: [batch_size num_classes] but got {list(value.shape)}"
        )
    if value.dtype != dtype:
        raise invalid_argument(f"Expected {key} Tensor of {dtype_label}. Got: {value.dtype}")
    if value.shape[0] != num_examples:
        raise invalid_argument(
            f"Expected {key} output batch size of {num_examples}. Got: {value.shape[0]}"
        )
    return value


def _fill_regressions(signature, num_examples: int, outputs: dict, result) -> None:
    value = outputs[signature.outputs["outputs"].name]
    if not (value.ndim == 1 or (value.ndim == 2 and value.shape[1] == 1)):
        raise invalid_argument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{list(value.shape)}"
        )
    if value.shape[0] != num_examples:
        raise invalid_argument(
            f"Input batch size did not match output batch size: {num_examples} vs. {value.shape[0]}"
        )
    if value.dtype != np.float32:
        raise invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: {value.dtype}")
    for number in value.reshape(-1):
        result.regressions.add().value = number
