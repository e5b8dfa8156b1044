"""Warmup: replay the requests stored with a SavedModel before the version starts serving.

TF Serving reads `assets.extra/tf_serving_warmup_requests` (a TFRecord file of `PredictionLog`
protos) at load time and runs each request once, so the first real request does not pay for lazy
initialization. A failing or unparsable record fails the load, and more than 1000 records is an
error, as in TF Serving. `read_warmup_requests` is that reading rule, in one place: the server
runs its requests in process (`replay_warmup`), the publish gate sends them over gRPC to a
separate server process (`serving.publish.infra_validation`).
"""

import os
from collections.abc import Iterator

from google.protobuf.message import Message
from tensorflow_serving.apis import prediction_log_pb2

from serving.server.backend import tf
from serving.server.servables import inference
from serving.server.servables.servable import Servable
from serving.server.status import invalid_argument

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000

METHODS = {  # PredictionLog kind → the PredictionService method its request is for
    "predict_log": "Predict",
    "classify_log": "Classify",
    "regress_log": "Regress",
    "multi_inference_log": "MultiInference",
}
_RUNNERS = {
    "Predict": inference.predict,
    "Classify": inference.classify,
    "Regress": inference.regress,
    "MultiInference": inference.multi_inference,
}


def read_warmup_requests(path: str) -> Iterator[tuple[str, Message]]:
    """Yields (PredictionService method, request) per record of the warmup file at `path`.

    Raises INVALID_ARGUMENT, as TF Serving fails the load, for a record that does not parse,
    a kind of log no method serves, or a record past the 1000th. A record with no log set is
    skipped (nothing to run) but counts towards the limit.
    """
    count = 0
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record)
        except Exception as error:  # protobuf raises DecodeError, a bare Exception subclass
            raise invalid_argument(f"Failed to parse warmup record from {path}") from error
        kind = log.WhichOneof("log_type")
        if kind not in METHODS and kind is not None:
            raise invalid_argument(f"Unsupported log_type for warmup: {kind}")
        count += 1
        if count > MAX_RECORDS:
            raise invalid_argument(
                f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}"
            )
        if kind is not None:
            yield METHODS[kind], getattr(log, kind).request


def replay_warmup(servable: Servable) -> int:
    """Runs every warmup request of the servable's export once; returns how many ran."""
    path = os.path.join(servable.path, WARMUP_FILE)
    if not os.path.exists(path):
        return 0
    count = 0
    for method, request in read_warmup_requests(path):
        _RUNNERS[method](servable, request)
        count += 1
    return count
