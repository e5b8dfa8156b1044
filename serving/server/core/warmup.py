"""Warmup: replay the requests stored with a SavedModel before the version starts serving.

TF Serving reads `assets.extra/tf_serving_warmup_requests` (a TFRecord file of `PredictionLog`
protos) at load time and runs each request once, so the first real request does not pay for lazy
initialization. A failing or unparsable record fails the load, and more than 1000 records is an
error, as in TF Serving.
"""

import os

from tensorflow_serving.apis import prediction_log_pb2

from serving.server.backend import tf
from serving.server.servables import inference
from serving.server.servables.servable import Servable
from serving.server.status import invalid_argument

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000

_RUNNERS = {
    "predict_log": inference.predict,
    "classify_log": inference.classify,
    "regress_log": inference.regress,
    "multi_inference_log": inference.multi_inference,
}


def replay_warmup(servable: Servable) -> int:
    """Runs every warmup record of the servable's export once; returns how many were replayed."""
    path = os.path.join(servable.path, WARMUP_FILE)
    if not os.path.exists(path):
        return 0
    count = 0
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record)
        except Exception as error:  # protobuf raises DecodeError, a bare Exception subclass
            raise invalid_argument(f"Failed to parse warmup record from {path}") from error
        kind = log.WhichOneof("log_type")
        if kind not in _RUNNERS and kind is not None:
            raise invalid_argument(f"Unsupported log_type for warmup: {kind}")
        if kind is not None:
            _RUNNERS[kind](servable, getattr(log, kind).request)
        count += 1
        if count > MAX_RECORDS:
            raise invalid_argument(
                f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}"
            )
    return count
