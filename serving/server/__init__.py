"""A local server speaking TensorFlow Serving's gRPC and REST APIs, top to bottom:

- `main`: `python -m serving.server`, tensorflow_model_server's flags → `ServerOptions`
- `model_server`: `ModelServer`, a ServerCore with its endpoints and config-file poller
- `grpc_api` and `rest_api` (with `rest_json`, `rest_examples`, `json_writer`): the front ends
- `tls` and `auth`: TF Serving's SSLConfig on both ports; bearer and admin tokens checked first
- `limits`: what one request may cost (sizes, nesting, threads, timeouts), checked at the door
- `service`: the PredictionService and ModelService calls, shared by both front ends
- `core`: `ServerCore`, which versions of which models are loaded, by name or label
- `batching` and `inference`: requests merged into batches; predict, classify, regress on a servable
- `servable`: one loaded SavedModel version; `model_config`, `versions`, `warmup` feed the core
- `model_signature`: `--model_verify_key`, a version loads only if that key signed its files
- `status`: TF Serving's error codes and messages (`ServingError`)
- `metrics` and `health`: Prometheus metrics under TF Serving's names; the gRPC health service
  (readiness) and the drain on stop
- `request_log`: a model's `logging_config`: sampled requests to rotating TFRecord files

The server loads SavedModels with TensorFlow, so it picks Keras 2 first (see `tfmodel.backend`).
"""

import tfmodel.backend  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is first imported)
