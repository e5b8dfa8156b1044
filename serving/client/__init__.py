"""A client for TensorFlow Serving (or `python -m serving.server`), top to bottom:

- `cli`: `python -m serving.client COMMAND`, reads inputs, makes one call, prints the answer
- `client`: `ServingClient`, numpy in and out, deadlines and retries
- `inputs`: `.npy`, image and JSON files as named arrays or tf.Examples
- `transport` (gRPC, retries, TLS) and `rest_transport` (TF Serving's `/v1/models` JSON API)
- `security`: the bearer token, and which of certificate, host name or token a refusal means
- `errors`: `UsageError` (bad input) and `RemoteError` (the server said no)

It imports no training code (`tfmodel`, Keras) and not TensorFlow itself: only the messages of
tensorflow-serving-api (without `tensorflow/__init__.py`, see `serving.apis`), grpc, numpy and, for
images, Pillow, with `serving.tensors`, `serving.tensors_json` and `serving.apis` shared with the
server.
"""

from serving.client.client import ServingClient
from serving.client.errors import RemoteError, UsageError

__all__ = ["RemoteError", "ServingClient", "UsageError"]
