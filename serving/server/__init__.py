"""A local server speaking TensorFlow Serving's gRPC and REST APIs, top to bottom:

- `main`: `python -m serving.server`, tensorflow_model_server's flags → `ServerOptions`
- `model_server`: `ModelServer`, a ServerCore with its endpoints and config-file poller
- `grpc_api` and `rest_api` (with `rest_json`, `rest_examples`, `json_writer`): the front ends
- `limits`: what one request may cost (sizes, nesting, threads, timeouts), checked at the door
- `service`: the PredictionService and ModelService calls, shared by both front ends
- `core`: `ServerCore`, which versions of which models are loaded, by name or label
- `batching` and `inference`: requests merged into batches; predict, classify, regress on a servable
- `servable`: one loaded SavedModel version; `model_config`, `versions`, `warmup` feed the core
- `status`: TF Serving's error codes and messages (`ServingError`)

The server loads SavedModels with TensorFlow, so it picks Keras 2 first (see `tfmodel.backend`).
"""

import tfmodel.backend  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is first imported)
