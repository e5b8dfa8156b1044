"""`--model_verify_key`: a version loads only if that key signed exactly its files.

The check runs where the core loads a version, before TensorFlow reads a byte of it: an unsigned
or altered version ends in state END with the reason (naming the files that differ) in its status,
and the core keeps serving the previous good version. The format is OpenSSF model-signing's
(`tfmodel.sign`): `<version>/model.sig` over the sha256 of every file of the version folder.
"""

from serving.server.status import failed_precondition
from tfmodel.errors import UserError
from tfmodel.sign import verify_model


def check_signed(path: str, public_key: str) -> None:
    """Raises FAILED_PRECONDITION, naming the reason, unless `public_key` signed `path`."""
    try:
        verify_model(path, public_key)
    except UserError as error:
        raise failed_precondition(f"Refusing to load an unverified model: {error}") from None
