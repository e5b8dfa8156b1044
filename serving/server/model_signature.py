"""`--model_verify_key`: a version loads only if that key signed exactly its files.

The check runs where the core loads a version, before TensorFlow reads a byte of it: an unsigned
or altered version ends in state END with the reason (naming the files that differ) in its status,
and the core keeps serving the previous good version. A failed check is never retried (a missing
or wrong signature does not fix itself): the version fails at once, and a server whose only
version fails exits with TF Serving's "did not become available" message. The format is OpenSSF
model-signing's (`tfmodel.sign`): `<version>/model.sig` over the sha256 of every file of the
version folder.
"""

import grpc

from serving.server.status import ServingError
from tfmodel.errors import UserError
from tfmodel.sign import verify_model


class UnverifiedModelError(ServingError):
    """FAILED_PRECONDITION: the version is not signed by the key; load retries cannot help."""

    def __init__(self, reason: str):
        super().__init__(
            grpc.StatusCode.FAILED_PRECONDITION, f"Refusing to load an unverified model: {reason}"
        )


def check_signed(path: str, public_key: str) -> None:
    """Raises UnverifiedModelError, naming the reason, unless `public_key` signed `path`."""
    try:
        verify_model(path, public_key)
    except UserError as error:
        raise UnverifiedModelError(str(error)) from None
