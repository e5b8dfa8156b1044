"""The ModelServerConfig: reading the `--model_config_file` text proto and TF Serving's checks.

model_config_list {
  config { name: "digits" base_path: "/abs/export/digits" model_platform: "tensorflow"
           model_version_policy { all {} }  version_labels { key: "stable" value: 1 } }
}
"""

import os

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.errors import UsageError
from serving.server.status import invalid_argument


def read_model_server_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    """Parses a ModelServerConfig text proto (the `--model_config_file` format)."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        with open(path) as file:
            text_format.Parse(file.read(), config)
    except OSError as error:
        raise UsageError(f"--model_config_file {path}: {error.strerror}.") from error
    except text_format.ParseError as error:
        raise UsageError(
            f"--model_config_file {path}: Error parsing text-format "
            f"tensorflow.serving.ModelServerConfig: {error}. See the file written by "
            "`python -m tfmodel.export` (models.config) for the expected format."
        ) from error
    return config


def validate_model_configs(entries) -> None:
    """TF Serving's checks of a ModelConfigList: unique names, absolute paths, tensorflow."""
    names = set()
    for entry in entries:
        if entry.name in names:
            raise invalid_argument(
                f"Illegal to list model {entry.name} multiple times in config list"
            )
        names.add(entry.name)
        if not os.path.isabs(entry.base_path):
            raise invalid_argument(
                f"Expected model {entry.name} to have an absolute path or URI; "
                f"got base_path()={entry.base_path}"
            )
        if not entry.model_platform:
            raise invalid_argument(
                "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                f"ModelServerConfig::model_platform, model name is {entry.name}"
            )
        if entry.model_platform != "tensorflow":
            raise invalid_argument(
                f"Model {entry.name} requested unsupported platform {entry.model_platform}"
            )
