"""Encrypted `.tflite` files: AES-256-GCM, opened in memory only, with `cryptography` alone.

`python -m edge.encrypt` (on the computer) seals each file of an edge folder with a 32-byte key;
the runtime (`EdgeModel(..., decrypt_key=KEY)`, `--decrypt-key`, or the file named by
$TFMODEL_DECRYPT_KEY) opens it here into bytes for the interpreter's `model_content`, so the
plain model never touches the disk. A sealed file, `model_<variant>.tflite.enc`, is

    MAGIC (8 B) | header length (2 B, big-endian) | header (JSON) | nonce (12 B) | ciphertext, tag

The header names the cipher, the key's id (a hash of the key, so a wrong key is named as such)
and the model, version and variant the file was made for. Everything before the nonce is GCM's
associated data: it cannot be edited without the tag failing, and the runtime compares it with
model.json, so a file from another model, version or variant is refused with that reason. The
nonce is fresh (random) for every file written.

A key file holds the 32 key bytes raw, or as 64 hex digits on one line (what keygen writes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.device.errors import EdgeError
from edge.device.names import MANIFEST

CIPHER = "AES-256-GCM"
SUFFIX = ".enc"  # model_int8.tflite → model_int8.tflite.enc
MAGIC = b"TFMENC1\n"
KEY_ENV = "TFMODEL_DECRYPT_KEY"  # names the key file when --decrypt-key is not given
KEY_BYTES = 32
NONCE_BYTES = 12
_HEADER_LENGTH_BYTES = 2


@dataclass(frozen=True)
class Binding:
    """What a sealed file was made for; all of it is authenticated with the model bytes."""

    model: str
    version: str
    variant: str

    def describe(self) -> str:
        return f"model {self.model!r} version {self.version!r} ({self.variant})"


def key_id(key: bytes) -> str:
    """A short public name for a key (16 hex digits): it tells keys apart, never recovers one."""
    return hashlib.sha256(b"tfmodel edge key id\0" + key).hexdigest()[:16]


def read_key(path: str | Path) -> bytes:
    """The 32 key bytes of a key file: raw, or 64 hex digits (whitespace around them ignored)."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as err:
        raise EdgeError(
            f"decrypt key {path} cannot be read ({err.strerror}); pass the key file the folder "
            "was encrypted with (python -m edge.encrypt keygen makes one)"
        ) from None
    if len(content) == KEY_BYTES:
        return content
    try:
        key = bytes.fromhex(content.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise EdgeError(
            f"key file {path} holds neither {KEY_BYTES} raw bytes nor {2 * KEY_BYTES} hex digits; "
            "make one with python -m edge.encrypt keygen"
        )
    return key


def seal(content: bytes, key: bytes, binding: Binding) -> bytes:
    """`content` encrypted with `key` under a fresh nonce, `binding` authenticated with it."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    fields = {"cipher": CIPHER, "key_id": key_id(key), **dataclasses.asdict(binding)}
    header = json.dumps(fields, sort_keys=True).encode()
    associated = MAGIC + len(header).to_bytes(_HEADER_LENGTH_BYTES, "big") + header
    nonce = os.urandom(NONCE_BYTES)
    return associated + nonce + AESGCM(key).encrypt(nonce, content, associated)


@dataclass(frozen=True)
class Sealed:
    """A sealed file taken apart: the authenticated header, the nonce, the ciphertext."""

    associated: bytes
    header: dict[str, Any]
    nonce: bytes
    ciphertext: memoryview

    @property
    def binding(self) -> Binding:
        return Binding(self.header["model"], self.header["version"], self.header["variant"])


def is_sealed(content: bytes) -> bool:
    """Whether `content` is an encrypted file (it starts with MAGIC), not a plain `.tflite`."""
    return content.startswith(MAGIC)


def parse(path: Path, content: bytes) -> Sealed:
    """The parts of a sealed file; a header that does not parse is named as damage."""
    start = len(MAGIC) + _HEADER_LENGTH_BYTES
    end = start + int.from_bytes(content[len(MAGIC) : start], "big")
    try:
        header = json.loads(content[start:end])
        missing = {"cipher", "key_id", "model", "version", "variant"} - header.keys()
        if missing:
            raise ValueError(f"it lacks {', '.join(sorted(missing))}")
        if header["cipher"] != CIPHER or len(content) < end + NONCE_BYTES + 16:
            raise ValueError(f"cipher {header['cipher']!r}, {len(content)} bytes")
    except (ValueError, AttributeError) as err:
        raise EdgeError(
            f"{path} has a damaged encryption header ({err}); copy it again from the edge folder"
        ) from None
    nonce = content[end : end + NONCE_BYTES]
    # A view, not a copy: the ciphertext is nearly the whole file (~0.5 ms for 6.5 MB here).
    return Sealed(content[:end], header, nonce, memoryview(content)[end + NONCE_BYTES :])


def expected_binding(path: Path, manifest: dict[str, Any] | None) -> Binding | None:
    """What model.json says the file at `path` is, or None when it does not say."""
    model = (manifest or {}).get("model")
    entry = (manifest or {}).get("files", {}).get(path.name)
    if not model or not entry:
        return None
    return Binding(model["name"], str(model["version"]), entry["variant"])


def open_model(
    path: Path, content: bytes, manifest: dict[str, Any] | None, key_path: str | Path | None
) -> bytes:
    """The plain model bytes of `content` (read from `path`), decrypted in memory if sealed.

    Refuses, naming the reason: a plain file model.json lists as encrypted (swapped), a file
    made for another model, version or variant than model.json describes, no key, a wrong key,
    a file altered after it was sealed.
    """
    entry = (manifest or {}).get("files", {}).get(path.name, {})
    if not is_sealed(content):
        if "encryption" in entry:
            raise EdgeError(
                f"{path} is not encrypted, but {MANIFEST} lists it as {CIPHER}: it was swapped "
                "for another file; copy it again from the run's edge/ folder"
            )
        return content
    sealed = parse(path, content)
    expected = expected_binding(path, manifest)
    if expected is not None and sealed.binding != expected:
        raise EdgeError(
            f"{path} was encrypted for {sealed.binding.describe()}, but {MANIFEST} describes "
            f"{expected.describe()}; use the file from the same edge folder"
        )
    key = _key_for(path, sealed, key_path)
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, sealed.associated)
    except InvalidTag:
        raise EdgeError(
            f"{path} was altered after it was encrypted (its {CIPHER} tag does not match); "
            "copy it again from the run's edge/ folder"
        ) from None


def _key_for(path: Path, sealed: Sealed, key_path: str | Path | None) -> bytes:
    """The key `sealed` needs, from `key_path` or $TFMODEL_DECRYPT_KEY, checked by its id."""
    try:
        import cryptography  # noqa: F401  (before the key: say how to install it first)
    except ImportError:
        message = f"{path} is encrypted: opening it needs `pip install cryptography`"
        raise EdgeError(message) from None
    key_path = key_path or os.environ.get(KEY_ENV)
    wanted = sealed.header["key_id"]
    if not key_path:
        raise EdgeError(
            f"{path} is encrypted ({CIPHER}, key id {wanted}) and no key was given; pass "
            f"--decrypt-key FILE or set {KEY_ENV} to the key file's path"
        )
    try:
        key = read_key(key_path)
    except EdgeError as err:
        raise EdgeError(f"{path} cannot be decrypted: {err}") from None
    if key_id(key) != wanted:
        raise EdgeError(
            f"{path} was encrypted with another key (id {wanted}) than {key_path} (id "
            f"{key_id(key)}); pass the key the folder was encrypted with"
        )
    return key
