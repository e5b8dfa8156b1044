"""TF Serving's PredictionService and ModelService on a ServerCore, independent of the transport.

The gRPC and REST layers both call these functions with request protos; each answers the response
proto or raises `ServingError` with the code and message TF Serving gives (a request without
`model_spec` is INVALID_ARGUMENT "Missing ModelSpec", an unknown model or version NOT_FOUND).
"""

import functools

from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    predict_pb2,
    regression_pb2,
)

from serving.server.core.server_core import ServerCore
from serving.server.servables import inference
from serving.server.status import invalid_argument

SIGNATURE_DEF_FIELD = "signature_def"


def _require_model_spec(request) -> None:
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")


def _logged(kind: str):
    """Hands each answered request and its response to the model's request logger, if any."""

    def wrap(call):
        @functools.wraps(call)
        def logged(core: ServerCore, request):
            response = call(core, request)
            core.request_logs.log(kind, request, response)
            return response

        return logged

    return wrap


@_logged("predict_log")
def predict(core: ServerCore, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    _require_model_spec(request)
    return inference.predict(core.servable(request.model_spec), request)


@_logged("classify_log")
def classify(
    core: ServerCore, request: classification_pb2.ClassificationRequest
) -> classification_pb2.ClassificationResponse:
    _require_model_spec(request)
    return inference.classify(core.servable(request.model_spec), request)


@_logged("regress_log")
def regress(
    core: ServerCore, request: regression_pb2.RegressionRequest
) -> regression_pb2.RegressionResponse:
    _require_model_spec(request)
    return inference.regress(core.servable(request.model_spec), request)


@_logged("multi_inference_log")
def multi_inference(
    core: ServerCore, request: inference_pb2.MultiInferenceRequest
) -> inference_pb2.MultiInferenceResponse:
    """MultiInference resolves the model from the first task's ModelSpec, as TF Serving does."""
    spec = request.tasks[0].model_spec if request.tasks else None
    servable = core.servable(
        spec if spec is not None else inference.make_model_spec("", None, None)
    )
    return inference.multi_inference(servable, request)


def get_model_metadata(
    core: ServerCore, request: get_model_metadata_pb2.GetModelMetadataRequest
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """The signature_def map of the served version, packed in an Any as SignatureDefMap."""
    _require_model_spec(request)
    if not request.metadata_field:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")
    servable = core.servable(request.model_spec)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in servable.signatures.items():
        signatures.signature_def[name].CopyFrom(signature)
    response = get_model_metadata_pb2.GetModelMetadataResponse(
        model_spec=inference.make_model_spec(servable.name, None, servable.version)
    )
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signatures)
    return response


def get_model_status(
    core: ServerCore, request: get_model_status_pb2.GetModelStatusRequest
) -> get_model_status_pb2.GetModelStatusResponse:
    _require_model_spec(request)
    return get_model_status_pb2.GetModelStatusResponse(
        model_version_status=core.version_statuses(request.model_spec)
    )


def reload_config(
    core: ServerCore, request: model_management_pb2.ReloadConfigRequest
) -> model_management_pb2.ReloadConfigResponse:
    """Serves exactly the models of the new config; blocks until new models are available."""
    core.reload_config(request.config)
    return model_management_pb2.ReloadConfigResponse()
