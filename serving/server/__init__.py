"""A local server speaking TensorFlow Serving's gRPC and REST APIs, grouped as TF Serving's tree is.

Top to bottom (each folder's `__init__` lists its modules):
- `main`: `python -m serving.server`, tensorflow_model_server's flags → `ServerOptions`
- `model_server`: `ModelServer`, a ServerCore with its endpoints and config-file poller
- `frontend/`: the gRPC and REST front ends, TLS, tokens, request limits, the health service and
  the calls both front ends share (TF Serving's `model_servers/`)
- `core/`: `ServerCore` (which versions of which models are loaded), version folders, the model
  config, warmup, request logs and signed-model checks (TF Serving's `core/` and `config/`)
- `servables/`: one loaded SavedModel version, predict/classify/regress on it, and batching
  (TF Serving's `servables/tensorflow/` and `batching/`)
- `metrics` and `status`: Prometheus metrics under TF Serving's names, and its error codes and
  messages (`ServingError`); every layer uses them
- `backend`: the one place the server imports TensorFlow (quietly, without Keras)
- `rollout` and `log_summary`: the operator's tools, `python -m serving.server.rollout` (canary
  labels, kept versions, rollback in a models.config) and `python -m serving.server.log_summary`

The server loads SavedModels with TensorFlow alone: it imports no Keras and no training code
(`tfmodel`), a contract `make lint` checks.
"""

# First, before any module below imports a TF Serving proto (which loads TensorFlow): TensorFlow
# loads quietly, as `backend` says.
from serving.server import backend  # noqa: F401, E402
