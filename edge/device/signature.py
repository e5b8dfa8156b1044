"""Verify a signed edge folder on the device with `cryptography` alone (`edge.device.signature`).

`python -m tfmodel.sign sign runs/latest/edge` writes `edge/model.sig` in OpenSSF model-signing's
format: a Sigstore bundle (JSON) whose DSSE envelope holds an in-toto statement listing the sha256
of every file, signed with an elliptic-curve key. The `model-signing` package that writes it pulls
in sigstore and a dozen more packages; a device needs only this: check the ECDSA signature over the
envelope's PAE encoding with the public key, then the files' sha256 against the signed list.
`tests/edge/device/test_edge_signature.py` checks that this and model-signing agree on every case.

The runtime (`EdgeModel(..., verify_key=KEY)`, `--verify-key`) checks only what it loads, the
`.tflite` and model.json, so a device may hold a subset of the folder; `verify_folder` and this
module's command line check the whole folder, as `python -m tfmodel.sign verify` does.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge.device.errors import EdgeError
from edge.device.names import SIGNATURE_FILE

_PUBLIC_KEY = "model-signing.pub"  # what python -m tfmodel.sign keygen writes beside the key
_BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
_CURVE_HASHES = {"secp256r1": "SHA256", "secp384r1": "SHA384", "secp521r1": "SHA512"}


def _pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature is computed over."""
    header = f"DSSEv1 {len(_PAYLOAD_TYPE)} {_PAYLOAD_TYPE} {len(payload)} ".encode()
    return header + payload


def load_public_key(path: Path):
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        raise EdgeError("verifying a signature needs `pip install cryptography`") from None
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as err:
        raise EdgeError(
            f"verify key {path} is not a P-256/384/521 public key in PEM ({err}); "
            f"pass {_PUBLIC_KEY}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVE_HASHES:
        raise EdgeError(f"verify key {path} is not a P-256/384/521 public key; pass {_PUBLIC_KEY}")
    return key


def signed_digests(folder: Path, public_key: Path) -> tuple[dict[str, str], list[str]]:
    """The signed sha256 of each file (name → hex) and the signed ignore paths of `folder`,
    once the signature in `folder/model.sig` is checked with `public_key`."""
    key = load_public_key(public_key)  # first: it says how to install cryptography
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = Path(folder) / SIGNATURE_FILE
    if not path.is_file():
        raise EdgeError(f"{folder} is not signed: it has no {SIGNATURE_FILE}; copy it too")
    wrong = f"{path} was not made by the key {public_key}, or was altered"
    try:
        bundle = json.loads(path.read_text())
        envelope = bundle["dsseEnvelope"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(envelope["signatures"][0]["sig"], validate=True)
        hint = bundle["verificationMaterial"]["publicKey"].get("hint")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
        raise EdgeError(f"{wrong}: it is not a model-signing bundle ({err!r})") from None
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if (
        bundle.get("mediaType") != _BUNDLE_MEDIA_TYPE
        or envelope.get("payloadType") != _PAYLOAD_TYPE
    ):
        raise EdgeError(f"{wrong}: unexpected bundle media type or payload type")
    if hint and hint != hashlib.sha256(pem).hexdigest():
        raise EdgeError(f"{wrong}: it names another key")
    try:
        key.verify(
            signature, _pae(payload), ec.ECDSA(getattr(hashes, _CURVE_HASHES[key.curve.name])())
        )
    except InvalidSignature:
        raise EdgeError(f"{wrong}: the signature does not match") from None
    try:
        return _read_statement(json.loads(payload), path)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
        raise EdgeError(f"{path} holds a malformed statement ({err!r})") from None


def _read_statement(statement: dict[str, Any], path: Path) -> tuple[dict[str, str], list[str]]:
    """The resources of a signed in-toto statement, after the checks model-signing makes."""
    if (
        statement.get("_type") != _STATEMENT_TYPE
        or statement.get("predicateType") != _PREDICATE_TYPE
    ):
        raise EdgeError(f"{path} holds no model-signing v1.0 statement")
    serialization = statement["predicate"]["serialization"]
    if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
        raise EdgeError(f"{path} was made per shard or not with sha256; sign with tfmodel.sign")
    resources = statement["predicate"]["resources"]
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    if [s["digest"]["sha256"] for s in statement["subject"]] != [root]:
        raise EdgeError(f"{path} is inconsistent: its file list does not hash to its subject")
    digests = {r["name"]: r["digest"] for r in resources if r["algorithm"] == "sha256"}
    return digests, list(serialization.get("ignore_paths", []))


def verify_contents(folder: Path, public_key: Path, contents: Mapping[str, bytes]) -> None:
    """Refuses unless each `contents` item (file name → the bytes about to be used) was signed."""
    digests, _ = signed_digests(folder, public_key)
    for name, content in contents.items():
        if name not in digests:
            raise EdgeError(f"{Path(folder) / name} was not signed: {SIGNATURE_FILE} omits it")
        if hashlib.sha256(content).hexdigest() != digests[name]:
            raise EdgeError(f"{Path(folder) / name} was changed after signing: refusing to load it")


def verify_folder(folder: Path, public_key: Path) -> None:
    """Refuses unless the files of `folder` are exactly those signed, naming each difference."""
    folder = Path(folder)
    digests, ignored = signed_digests(folder, public_key)
    ignored = [Path(p) for p in [*ignored, SIGNATURE_FILE]]
    actual = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder)
        if any(name == p or p in name.parents for p in ignored):
            continue
        if path.is_symlink():
            raise EdgeError(f"{path} is a symbolic link, which is never signed")
        if path.is_file():
            actual[name.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    problems = [f"{n} was added" for n in sorted(actual.keys() - digests.keys())]
    problems += [f"{n} was removed" for n in sorted(digests.keys() - actual.keys())]
    problems += [
        f"{n} was changed" for n in sorted(actual) if n in digests and actual[n] != digests[n]
    ]
    if problems:
        raise EdgeError(f"{folder}: its files differ from what was signed: {'; '.join(problems)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge.device.signature",
        description="Check a signed edge folder (model.sig) with a public key, on the device.",
    )
    parser.add_argument("folder", type=Path, help="the edge folder holding model.sig")
    parser.add_argument("--key", type=Path, required=True, help="PEM public key (.pub)")
    args = parser.parse_args(argv)
    try:
        verify_folder(args.folder, args.key)
    except EdgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(f"verified {args.folder}: every file is as signed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
