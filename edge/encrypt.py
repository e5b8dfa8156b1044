"""Encrypt an edge folder's models: `python -m edge.encrypt keygen | encrypt DIR --key KEY`.

`keygen` writes a new AES-256 key (64 hex digits and a newline, mode 0600; never overwrites).
`encrypt` replaces each `model_<variant>.tflite` that DIR/model.json lists by
`model_<variant>.tflite.enc` in `edge.device.crypto`'s format (AES-256-GCM, a fresh nonce per file,
the model's name, version and variant authenticated with it) and records in model.json, per file,
the cipher, the key's id and the encrypted bytes' size and sha256. `python -m edge.optimize RUN
--encrypt-key KEY` does this as its last step, before `--sign-key` signs: model.sig then lists the
encrypted files. Needs `cryptography` only (no TensorFlow), but runs on the computer that holds the
plain files; the device only decrypts (`edge.device.crypto`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.device.cli import make_parser, report_error
from edge.device.crypto import CIPHER, KEY_BYTES, SUFFIX, Binding, key_id, read_key, seal
from edge.device.errors import EdgeError
from edge.device.names import MANIFEST
from edge.device.runtime import sha256_of, verify_model_file

KEY_FILE = "model-encryption.key"
EXAMPLES = f"""examples:
  python -m edge.encrypt keygen                                   # {KEY_FILE}, mode 0600
  python -m edge.encrypt encrypt runs/latest/edge --key {KEY_FILE}
  python -m edge.encrypt encrypt runs/latest/edge --key {KEY_FILE} --keep-plain model_int8.tflite
  python -m edge.optimize runs/latest --encrypt-key {KEY_FILE}   # the same, as edge.optimize ends

Then on the device (the key file readable only by the service's user):
  python -m edge.device.predict models/model_int8.tflite.enc digit.png --decrypt-key {KEY_FILE}
"""


def generate_key(path: str | Path) -> str:
    """Write a new random key to `path` (hex, mode 0600, never over a file); return its id."""
    key = os.urandom(KEY_BYTES)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise EdgeError(f"{path} already exists; keygen never overwrites a key") from None
    with os.fdopen(descriptor, "w") as out:
        out.write(key.hex() + "\n")
    return key_id(key)


def encrypt_folder(
    folder: str | Path,
    key_path: str | Path,
    names: Sequence[str] = (),
    keep_plain: bool = False,
) -> list[Path]:
    """Seal `names` (default: every plain file model.json lists) of `folder`; the sealed paths.

    The plain files are removed once model.json lists the sealed ones, unless `keep_plain`.
    """
    folder = Path(folder)
    manifest = _read_manifest(folder)
    key = read_key(key_path)
    files = manifest["files"]
    names = list(names) or [n for n, entry in files.items() if "encryption" not in entry]
    sealed_entries, written = {}, []
    for name in names:
        entry = files.get(name)
        if entry is None or "encryption" in entry:
            listed = ", ".join(n for n, e in files.items() if "encryption" not in e)
            raise EdgeError(f"{folder / MANIFEST} lists no plain {name}; choose from: {listed}")
        content = (folder / name).read_bytes() if (folder / name).is_file() else b""
        verify_model_file(folder / name, content, manifest)  # never seal a damaged file
        binding = Binding(manifest["model"]["name"], manifest["model"]["version"], entry["variant"])
        sealed = seal(content, key, binding)
        path = folder / (name + SUFFIX)
        path.write_bytes(sealed)
        encryption = {"cipher": CIPHER, "key_id": key_id(key), "plain_bytes": len(content)}
        sealed_entries[name] = (
            path.name,
            {**entry, "bytes": len(sealed), "sha256": sha256_of(sealed), "encryption": encryption},
        )
        written.append(path)
    manifest["files"] = _with_sealed(files, sealed_entries, keep_plain)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if not keep_plain:
        for name in sealed_entries:
            (folder / name).unlink()
    return written


def _read_manifest(folder: Path) -> dict:
    """model.json of `folder`, which must name the model and version the files get bound to."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EdgeError(f"{path} cannot be read ({err}); pass an edge folder") from None
    model = manifest.get("model") if isinstance(manifest, dict) else None
    if not isinstance(model, dict) or {"name", "version"} - model.keys() or "files" not in manifest:
        raise EdgeError(
            f"{path} names no model and version to bind the files to; write the folder "
            "again with python -m edge.optimize, which records them"
        )
    return manifest


def _with_sealed(files: dict, sealed: dict, keep_plain: bool) -> dict:
    """model.json's file list, each sealed entry after (or instead of) its plain one."""
    entries = {}
    for name, entry in files.items():
        if name not in sealed or keep_plain:
            entries[name] = entry
        if name in sealed:
            sealed_name, sealed_entry = sealed[name]
            entries[sealed_name] = sealed_entry
    return entries


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = make_parser("python -m edge.encrypt", __doc__, EXAMPLES)
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="write a new AES-256 key file (mode 0600)")
    keygen.add_argument("--key", type=Path, default=Path(KEY_FILE), help="key file to write")
    encrypt = commands.add_parser("encrypt", help="replace DIR's .tflite files by .tflite.enc")
    encrypt.add_argument("dir", type=Path, help="an edge folder written by edge.optimize")
    encrypt.add_argument("files", nargs="*", help="file names to encrypt (default: all)")
    encrypt.add_argument("--key", type=Path, default=Path(KEY_FILE), help="the key file")
    encrypt.add_argument(
        "--keep-plain", action="store_true", help="keep the plain files beside the encrypted ones"
    )
    for sub in (keygen, encrypt):
        sub.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "keygen":
            identity = generate_key(args.key)
            print(f"key {args.key} (id {identity}): copy it only to the devices, mode 0600")
        else:
            for path in encrypt_folder(args.dir, args.key, args.files, args.keep_plain):
                print(f"encrypted {path}")
    except EdgeError as err:
        return report_error(err, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
