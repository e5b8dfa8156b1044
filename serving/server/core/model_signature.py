"""`--model_verify_key`: a version loads only if that key signed exactly its files.

The check runs where the core loads a version, before TensorFlow reads a byte of it: an unsigned
or altered version ends in state END with the reason (naming the files that differ) in its status,
and the core keeps serving the previous good version. A failed check is never retried (a missing
or wrong signature does not fix itself): the version fails at once, and a server whose only
version fails exits with TF Serving's "did not become available" message. The format is OpenSSF
model-signing's (`tfmodel.sign` writes it): `<version>/model.sig` over the sha256 of every file of
the version folder. The check is the on-device verifier's (`edge.device.signature`, `cryptography`
alone), so the server needs neither the training code nor the model-signing package to verify.
"""

from pathlib import Path

import grpc

from edge.device.errors import EdgeError
from edge.device.signature import load_public_key, verify_folder
from serving.errors import UsageError
from serving.server.status import ServingError


class UnverifiedModelError(ServingError):
    """FAILED_PRECONDITION: the version is not signed by the key; load retries cannot help."""

    def __init__(self, reason: str):
        super().__init__(
            grpc.StatusCode.FAILED_PRECONDITION, f"Refusing to load an unverified model: {reason}"
        )


def check_public_key(public_key: str) -> None:
    """Raises UsageError at startup unless `public_key` is an EC public key the check can use."""
    try:
        load_public_key(Path(public_key))
    except EdgeError as error:
        raise UsageError(f"--model_verify_key: {error}") from None


def check_signed(path: str, public_key: str) -> None:
    """Raises UnverifiedModelError, naming the reason, unless `public_key` signed `path`."""
    try:
        verify_folder(Path(path), Path(public_key))
    except EdgeError as error:
        raise UnverifiedModelError(str(error)) from None
