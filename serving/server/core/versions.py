"""Which versions of a model to serve: version folders on disk filtered by the version policy.

A model's base path holds one folder per version, named by an integer (`1/`, `00000123/`); other
entries (a half-written `.tmp` folder, files) are ignored. The policy of the ModelConfig picks the
aspired versions, as TF Serving's file-system source does: `latest` (default: the highest
`num_versions`, at least 1), `all`, or `specific` (the listed versions that exist).
"""

import os
import re

from tensorflow_serving.config import model_server_config_pb2

from serving.server.status import invalid_argument

_VERSION_NAME = re.compile(r"[+-]?\d+")


def find_versions(name: str, base_path: str) -> dict[int, str]:
    """The version folders under `base_path`: version number → folder path."""
    if not os.path.isdir(base_path):
        raise invalid_argument(f"Could not find base path {base_path} for servable {name}")
    versions: dict[int, str] = {}
    for child in sorted(os.listdir(base_path)):
        path = os.path.join(base_path, child)
        if _VERSION_NAME.fullmatch(child) and os.path.isdir(path):
            versions[int(child)] = path  # like TF Serving, the last duplicate ("1", "01") wins
    return versions


def aspired_versions(
    config: model_server_config_pb2.ModelConfig, found: dict[int, str]
) -> dict[int, str]:
    """The versions the model's version policy wants served, among the folders found."""
    policy = config.model_version_policy
    choice = policy.WhichOneof("policy_choice") or "latest"
    if choice == "all":
        return dict(found)
    if choice == "specific":
        wanted = set(policy.specific.versions)
        return {version: path for version, path in found.items() if version in wanted}
    count = max(policy.latest.num_versions, 1)
    newest = sorted(found, reverse=True)[:count]
    return {version: found[version] for version in newest}
