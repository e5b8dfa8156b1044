"""`python -m serving.server.rollout CONFIG ...`: canaries and rollbacks by editing models.config.

TF Serving (and `python -m serving.server`) re-read a `--model_config_file` every
`--model_config_file_poll_wait_seconds`; this command edits that file in place, atomically (a
new file renamed over the old one, so a poll never reads half of it):

    versions keep 3,4          serve exactly these versions (`model_version_policy { specific }`)
    versions latest [N]        back to serving the newest N versions (default 1)
    labels set stable=3 canary=4   point version labels (clients ask for `--label canary`)
    labels unset canary
    rollback                   undo the last edit of this model's labels and versions
    show                       the model's versions on disk, those served, and its labels

TF Serving only assigns a label to a version that is already loaded, so a canary takes two
edits: `versions keep 3,4`, wait for the poll to load 4, then `labels set canary=4`. This
command refuses a label on a version the policy does not serve, and a policy that drops a
labelled version. Each edit's previous state is appended to `CONFIG.history` (JSON lines), which
`rollback` pops. Comments in CONFIG are not kept (it is rewritten from the parsed proto).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from edge.device.quiet import add_verbose_flag
from serving.errors import UsageError, report_error
from serving.server.core.model_config import read_model_server_config
from serving.server.core.versions import aspired_versions, find_versions
from serving.server.status import ServingError

HISTORY_SUFFIX = ".history"
EPILOG = """examples:
  python -m serving.server.rollout export/models.config versions keep 3,4
  python -m serving.server.rollout export/models.config labels set stable=3 canary=4
  python -m serving.client predict --server localhost:8500 --model digits --label canary ...
  python -m serving.server.rollout export/models.config labels set stable=4   # promote
  python -m serving.server.rollout export/models.config rollback              # undo the last edit
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m serving.server.rollout",
        description="Canary roll-outs and rollbacks: edit the models.config a server polls.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "config", type=Path, help="the ModelServerConfig text proto the server polls"
    )
    parser.add_argument("--model", help="the model to edit (default: the config's only model)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    labels = commands.add_parser("labels", help="set or unset version labels")
    labels.add_argument("action", choices=["set", "unset"])
    labels.add_argument("items", nargs="+", metavar="LABEL[=VERSION]")
    versions = commands.add_parser("versions", help="choose the served versions")
    versions.add_argument("action", choices=["keep", "latest"])
    versions.add_argument("value", nargs="?", default="", help="3,4 for keep; N for latest")
    commands.add_parser("rollback", help="undo the last edit of this model")
    commands.add_parser("show", help="versions on disk, served versions and labels")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = read_model_server_config(str(args.config))
        entry = _find_entry(config, args.model, args.config)
        if args.command == "show":
            print(describe(entry))
            return 0
        before = text_format.MessageToString(entry)
        if args.command == "rollback":
            rollback(entry, args.config)
        elif args.command == "labels":
            edit_labels(entry, args.action, args.items)
        else:
            edit_versions(entry, args.action, args.value)
        check_entry(entry)
        write_config(config, args.config)
        if args.command != "rollback":
            _push_history(args.config, entry.name, before)
    except UsageError as error:
        return report_error(error, args.debug)
    print(describe(entry))
    return 0


def _find_entry(config, name: str | None, path: Path):
    entries = list(config.model_config_list.config)
    if name is None and len(entries) == 1:
        return entries[0]
    for entry in entries:
        if entry.name == name:
            return entry
    names = ", ".join(entry.name for entry in entries) or "none"
    raise UsageError(f"{path}: pass --model, one of its models ({names})")


def edit_labels(entry, action: str, items: list[str]) -> None:
    """`set stable=3 canary=4` or `unset canary`."""
    for item in items:
        label, _, version = item.partition("=")
        if action == "unset":
            if label not in entry.version_labels:
                raise UsageError(f"model {entry.name} has no label {label!r} to unset")
            del entry.version_labels[label]
        elif not label or not version.isdigit():
            raise UsageError(f"labels set {item!r}: write LABEL=VERSION, e.g. canary=4")
        else:
            entry.version_labels[label] = int(version)


def edit_versions(entry, action: str, value: str) -> None:
    """`keep 3,4` (a specific policy) or `latest [N]`."""
    policy = entry.model_version_policy
    if action == "latest":
        if value and not value.isdigit():
            raise UsageError(f"versions latest {value!r}: give a number of versions, e.g. 2")
        policy.latest.num_versions = int(value or 1)
        return
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise UsageError(f"versions keep {value!r}: list version numbers, e.g. 3,4")
    policy.specific.ClearField("versions")
    policy.specific.versions.extend(sorted({int(part) for part in parts}))


def check_entry(entry) -> None:
    """Every kept version exists on disk, and every label names a version the policy serves."""
    on_disk = _versions_on_disk(entry)
    policy = entry.model_version_policy
    if policy.WhichOneof("policy_choice") == "specific":
        missing = sorted(set(policy.specific.versions) - set(on_disk))
        if missing:
            raise UsageError(
                f"model {entry.name} has no version folder {missing} under {entry.base_path}; "
                "publish it first (python -m serving.publish MODEL BASE)"
            )
    served = set(aspired_versions(entry, on_disk))
    for label, version in sorted(entry.version_labels.items()):
        if version not in served:
            raise UsageError(
                f"label {label}={version}: model {entry.name} does not serve version {version} "
                f"(served: {sorted(served)}). Run `versions keep` with it first and let the "
                "server load it: TF Serving only labels loaded versions."
            )


def rollback(entry, path: Path) -> None:
    """Restores the labels and version policy the last edit of this model replaced."""
    history = _read_history(path)
    for index in range(len(history) - 1, -1, -1):
        if history[index]["model"] == entry.name:
            previous = text_format.Parse(
                history[index]["entry"], model_server_config_pb2.ModelConfig()
            )
            entry.version_labels.clear()
            entry.version_labels.update(previous.version_labels)
            entry.model_version_policy.CopyFrom(previous.model_version_policy)
            del history[index]
            _write_atomically(path.with_name(path.name + HISTORY_SUFFIX), _history_text(history))
            return
    raise UsageError(f"{path}{HISTORY_SUFFIX} holds no earlier state of {entry.name} to roll back")


def describe(entry) -> str:
    on_disk = _versions_on_disk(entry)
    served = sorted(aspired_versions(entry, on_disk))
    labels = ", ".join(f"{k}={v}" for k, v in sorted(entry.version_labels.items())) or "none"
    return (
        f"model      {entry.name} ({entry.base_path})\n"
        f"on disk    {sorted(on_disk) or 'no versions'}\n"
        f"served     {served}\n"
        f"labels     {labels}"
    )


def write_config(config, path: Path) -> None:
    _write_atomically(path, text_format.MessageToString(config))


def _versions_on_disk(entry) -> dict[int, str]:
    try:
        return find_versions(entry.name, entry.base_path)
    except ServingError as error:
        raise UsageError(f"model {entry.name}: {error.message}") from error


def _read_history(path: Path) -> list[dict]:
    history = path.with_name(path.name + HISTORY_SUFFIX)
    if not history.exists():
        return []
    return [json.loads(line) for line in history.read_text().splitlines() if line.strip()]


def _history_text(records: list[dict]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def _push_history(path: Path, model: str, entry_text: str) -> None:
    records = _read_history(path) + [{"model": model, "entry": entry_text}]
    _write_atomically(path.with_name(path.name + HISTORY_SUFFIX), _history_text(records))


def _write_atomically(path: Path, text: str) -> None:
    """Writes a sibling temporary file and renames it over `path` (readers see old or new)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    sys.exit(main())
