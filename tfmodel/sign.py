"""Sign a model folder and verify it: `python -m tfmodel.sign keygen | sign DIR | verify DIR`.

The signature is OpenSSF model-signing's format (PyPI `model-signing`): `DIR/model.sig`, a
Sigstore bundle whose DSSE envelope carries an in-toto statement listing the sha256 of every file
in DIR (but model.sig itself), signed offline with an elliptic-curve key (P-256; the format has no
Ed25519). Verifying checks the signature with the public key, then hashes DIR again: a changed,
added or removed file (a symlink too) is refused, naming the file. Signed folders are a SavedModel
version (`export/NAME/1/`, checked by `python -m serving.server --model_verify_key`) and an edge
folder (`edge/`, checked on the device by `edge.device.signature`, which needs only `cryptography`).
model-signing is imported when used: it takes a second and a half to import.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from tfmodel.errors import UserError, report_error
from tfmodel.quiet import add_verbose_flag

SIGNATURE_FILE = "model.sig"  # also in edge/device/names.py, which cannot import tfmodel
PRIVATE_KEY_FILE = "model-signing.key"
PUBLIC_KEY_FILE = "model-signing.pub"


def generate_key_pair(private_path: str | Path, public_path: str | Path) -> None:
    """A new P-256 key: the private half (PKCS#8 PEM, mode 0600) and the public half (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for path, content, mode in ((private_path, private, 0o600), (public_path, public, 0o644)):
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise UserError(f"{path} already exists; keygen never overwrites a key") from None
        with os.fdopen(descriptor, "wb") as out:
            out.write(content)


def _hashing_config():
    """Every file counts (git files too, which model-signing skips by default) but model.sig."""
    from model_signing import hashing

    return hashing.Config().set_ignored_paths(paths=[SIGNATURE_FILE], ignore_git_paths=False)


def sign_model(model_dir: str | Path, private_key: str | Path) -> Path:
    """Writes `model_dir/model.sig` over every file of `model_dir`; returns its path."""
    from model_signing import signing

    model_dir, signature = Path(model_dir), Path(model_dir) / SIGNATURE_FILE
    if not model_dir.is_dir():
        raise UserError(f"{model_dir} is not a folder; pass a model version or edge folder")
    try:
        config = signing.Config().use_elliptic_key_signer(private_key=private_key)
        config.set_hashing_config(_hashing_config()).sign(model_dir, signature)
    except (OSError, ValueError, TypeError) as error:
        raise UserError(
            f"cannot sign {model_dir} with {private_key}: {error}; pass a P-256, P-384 or P-521 "
            "private key in PEM (python -m tfmodel.sign keygen makes one)"
        ) from None
    return signature


def check_public_key(public_key: str | Path) -> None:
    """Fails now, with a fix, when `public_key` is not a usable PEM elliptic-curve public key."""
    from model_signing import verifying

    try:
        verifying.Config().use_elliptic_key_verifier(public_key=public_key)
    except (OSError, ValueError, TypeError) as error:
        raise UserError(
            f"verify key {public_key} is not a P-256/384/521 public key in PEM ({error}); pass "
            f"the {PUBLIC_KEY_FILE} written by python -m tfmodel.sign keygen"
        ) from None


def verify_model(model_dir: str | Path, public_key: str | Path) -> None:
    """Raises UserError naming what is wrong unless `public_key` signed exactly these files."""
    from model_signing import verifying

    model_dir = Path(model_dir)
    signature = model_dir / SIGNATURE_FILE
    if not signature.is_file():
        raise UserError(
            f"{model_dir} is not signed: it has no {SIGNATURE_FILE}; sign it with "
            f"python -m tfmodel.sign sign {model_dir} --key {PRIVATE_KEY_FILE}"
        )
    check_public_key(public_key)
    config = verifying.Config().use_elliptic_key_verifier(public_key=public_key)
    try:
        config.set_hashing_config(_hashing_config()).verify(model_dir, signature)
    except Exception as error:  # model-signing raises ValueError, KeyError, InvalidSignature...
        raise UserError(f"{model_dir}: {_explain(error, signature, public_key)}") from None


def _explain(error: Exception, signature: Path, public_key: str | Path) -> str:
    """model-signing's error as one sentence naming the files that differ or the key."""
    text = str(error)
    if text.startswith("Signature mismatch: "):
        try:
            differences = ast.literal_eval(text.removeprefix("Signature mismatch: "))
        except (ValueError, SyntaxError):
            differences = [text]
        return "its files differ from what was signed: " + "; ".join(map(_difference, differences))
    if "symbolic link" in text.lower() or "symlink" in text.lower():
        return f"it holds a symbolic link, which is never signed: {text}"
    return (
        f"{signature} was not made by the key {public_key}, or was altered "
        f"({type(error).__name__}: {text or 'invalid signature'})"
    )


def _difference(text: str) -> str:
    """One of model-signing's differences, shortened: which file was changed, added, removed."""
    changed = re.match(r"Hash mismatch for '(.*)': Expected", text)
    if changed:
        return f"{changed.group(1)} was changed"
    for prefix, what in (("Extra files found", "added"), ("Missing files", "removed")):
        if text.startswith(prefix):
            return f"{text.partition(': ')[2]} {'was' if ', ' not in text else 'were'} {what}"
    return text


EXAMPLES = f"""examples:
  python -m tfmodel.sign keygen                       # {PRIVATE_KEY_FILE} (keep it offline) + .pub
  python -m tfmodel.sign sign runs/latest/export/digits_mlp/1 --key {PRIVATE_KEY_FILE}
  python -m tfmodel.sign sign runs/latest/edge --key {PRIVATE_KEY_FILE}
  python -m tfmodel.sign verify runs/latest/export/digits_mlp/1 --key {PUBLIC_KEY_FILE}
then serve only signed versions:
  python -m serving.server --model_base_path=$PWD/runs/latest/export/digits_mlp \\
      --model_verify_key={PUBLIC_KEY_FILE}
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tfmodel.sign",
        description="Sign model folders (OpenSSF model-signing, EC keys) and verify them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="make a P-256 key pair")
    keygen.add_argument("--key", default=PRIVATE_KEY_FILE, help="private key file to write")
    keygen.add_argument("--public", default=PUBLIC_KEY_FILE, help="public key file to write")
    sign = commands.add_parser("sign", help=f"write DIR/{SIGNATURE_FILE}")
    sign.add_argument("dir", help="a SavedModel version folder or an edge folder")
    sign.add_argument("--key", default=PRIVATE_KEY_FILE, help="PEM private key")
    verify = commands.add_parser("verify", help=f"check DIR against DIR/{SIGNATURE_FILE}")
    verify.add_argument("dir", help="a signed folder")
    verify.add_argument("--key", default=PUBLIC_KEY_FILE, help="PEM public key")
    for sub in (keygen, sign, verify):
        sub.add_argument("--debug", action="store_true", help="show tracebacks")
        add_verbose_flag(sub)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "keygen":
            generate_key_pair(args.key, args.public)
            print(f"private key  {args.key}  (signs: keep it secret and offline)")
            print(f"public key   {args.public}  (verifies: give it to servers and devices)")
        elif args.command == "sign":
            print(f"signed       {sign_model(args.dir, args.key)}")
        else:
            verify_model(args.dir, args.key)
            print(f"verified     {args.dir}: every file is as {args.key}'s owner signed it")
    except UserError as err:
        return report_error(err, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
