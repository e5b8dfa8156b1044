"""TF Serving's request and response messages, imported in one place for the client and the server.

Both sides speak the same `tensorflow_serving.apis` protos for the five calls (predict, classify,
regress, model metadata, model status); `from serving import apis` gives them as
`apis.PredictRequest` and so on, so the client's transports and the server's REST front end name
them alike. The `tensorflow.core` protos they are built on (TensorProto, tf.Example, SignatureDef)
and the gRPC stubs come from here too: this module is the only one of the client's that imports
anything named `tensorflow`.

Why the import is done by hand: the messages are ~35 small generated modules (0.4 s), but they
live inside the `tensorflow` package, and importing any `tensorflow.…` module first runs
`tensorflow/__init__.py`, which loads all of TensorFlow (~1,600 modules, 10 s on 2 cores) that a
client never uses. So when TensorFlow is not loaded yet, `tensorflow` is registered as a bare
package (its real folder as `__path__`, no `__init__` run) while the protos import, then taken out
of `sys.modules` again: a later `import tensorflow` (the server, the demo) runs the real
`__init__` and reuses the proto modules already loaded, so the classes are the same objects.
"""

import contextlib
import importlib.util
import sys
import types


@contextlib.contextmanager
def _without_tensorflow_init():
    """While open, `import tensorflow.x` loads `x` without running `tensorflow/__init__.py`
    (unless TensorFlow is loaded already); on closing, a later `import tensorflow` is real."""
    if "tensorflow" in sys.modules:
        yield
        return
    bare = types.ModuleType("tensorflow")
    bare.__path__ = list(importlib.util.find_spec("tensorflow").submodule_search_locations)
    sys.modules["tensorflow"] = bare
    try:
        yield
    finally:
        if sys.modules.get("tensorflow") is bare:
            del sys.modules["tensorflow"]


with _without_tensorflow_init():
    from tensorflow.core.example import example_pb2, feature_pb2
    from tensorflow.core.framework import tensor_pb2, types_pb2
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        input_pb2,
        model_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
        regression_pb2,
    )

ModelSpec = model_pb2.ModelSpec
PredictRequest = predict_pb2.PredictRequest
PredictResponse = predict_pb2.PredictResponse
ClassificationRequest = classification_pb2.ClassificationRequest
ClassificationResponse = classification_pb2.ClassificationResponse
RegressionRequest = regression_pb2.RegressionRequest
RegressionResponse = regression_pb2.RegressionResponse
GetModelMetadataRequest = get_model_metadata_pb2.GetModelMetadataRequest
GetModelMetadataResponse = get_model_metadata_pb2.GetModelMetadataResponse
SignatureDefMap = get_model_metadata_pb2.SignatureDefMap
GetModelStatusRequest = get_model_status_pb2.GetModelStatusRequest
GetModelStatusResponse = get_model_status_pb2.GetModelStatusResponse
ModelVersionStatus = get_model_status_pb2.ModelVersionStatus

# The message classes, and the modules of the rest (dtype enums, gRPC stubs, tf.Example parts).
__all__ = [
    "ModelSpec",
    "PredictRequest",
    "PredictResponse",
    "ClassificationRequest",
    "ClassificationResponse",
    "RegressionRequest",
    "RegressionResponse",
    "GetModelMetadataRequest",
    "GetModelMetadataResponse",
    "SignatureDefMap",
    "GetModelStatusRequest",
    "GetModelStatusResponse",
    "ModelVersionStatus",
    "example_pb2",
    "feature_pb2",
    "meta_graph_pb2",
    "tensor_pb2",
    "types_pb2",
    "classification_pb2",
    "get_model_metadata_pb2",
    "get_model_status_pb2",
    "input_pb2",
    "model_pb2",
    "model_service_pb2_grpc",
    "predict_pb2",
    "prediction_service_pb2_grpc",
    "regression_pb2",
]
