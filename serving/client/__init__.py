"""A client for TensorFlow Serving (or `python -m serving.server`), top to bottom:

- `cli`: `python -m serving.client COMMAND`, reads inputs, makes one call, prints the answer
- `client`: `ServingClient`, numpy in and out, deadlines and retries
- `inputs`: `.npy`, image and JSON files as named arrays or tf.Examples
- `transport` (gRPC, retries, TLS) and `rest_transport` (TF Serving's `/v1/models` JSON API)
- `security`: the bearer token, and which of certificate, host name or token a refusal means
- `errors`: `UsageError` (bad input) and `RemoteError` (the server said no)

It imports no training code (`tfmodel`, Keras): only tensorflow-serving-api, grpc, numpy and
Pillow, with `serving.tensors` and `serving.apis` shared with the server.
"""

from edge.device.quiet import held_stderr

# TF Serving's protos load all of TensorFlow, whose C++ logs while loading (absl, the CUDA stub):
# held, and shown in full if the import fails or with --verbose.
with held_stderr():
    from serving.client.client import ServingClient
from serving.client.errors import RemoteError, UsageError

__all__ = ["RemoteError", "ServingClient", "UsageError"]
