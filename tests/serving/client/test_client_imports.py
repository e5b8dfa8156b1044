"""`import serving.client` loads no training code and no TensorFlow: only grpc, protobuf, numpy and
TF Serving's messages (the `tensorflow.core` protos among them, without `tensorflow/__init__.py`).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
AFTER_THE_CLIENT = """
import json
import numpy as np
from serving import apis, tensors
from serving.client import ServingClient
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import predict_pb2
proto = tf.make_tensor_proto(np.arange(6, dtype=np.float32).reshape(2, 3))
print(json.dumps({
    "sum": float(tf.reduce_sum(tf.constant([1.0, 2.0]) * 2)),
    "same_tensor_proto": type(proto) is apis.tensor_pb2.TensorProto is tensor_pb2.TensorProto,
    "same_request": predict_pb2.PredictRequest is apis.PredictRequest,
    "round_trip": tf.make_ndarray(tensors.make_tensor_proto(tensors.make_ndarray(proto))).tolist(),
    "version": tf.__version__, "keras": hasattr(tf, "keras"),
}))
"""


def run_probe(code: str) -> list[str]:
    """Runs `code` in a fresh Python as a client user runs it; returns its last stdout line, parsed.

    Without the project's TF_USE_LEGACY_KERAS, which would make TensorFlow itself import tf_keras
    (`import tensorflow` loads the Keras it is told to use).
    """
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    answer = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout.splitlines()[-1])


def test_client_imports_no_tf_keras_no_tfmodel_and_no_tensorflow_package():
    loaded = run_probe(
        "import json, sys\n"
        "import serving.client, serving.client.cli\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    assert "serving.client.client" in loaded  # the probe did import the client
    training = [name for name in loaded if name.split(".")[0] in ("tf_keras", "tfmodel", "keras")]
    assert training == []
    assert "tensorflow" not in loaded  # the package itself: its __init__ never ran
    tensorflow = [name for name in loaded if name.startswith("tensorflow.")]
    assert "tensorflow.core.framework.tensor_pb2" in tensorflow
    protos = [name for name in tensorflow if name.endswith("_pb2")]
    folders = [name for name in tensorflow if not name.endswith("_pb2")]
    assert all(any(proto.startswith(f"{folder}.") for proto in protos) for folder in folders)
    assert "tensorflow.python" not in loaded and len(tensorflow) < 60  # TensorFlow loads 1,600


@pytest.mark.slow
def test_tensorflow_imported_after_the_client_is_whole_and_shares_its_messages():
    result = run_probe(AFTER_THE_CLIENT)
    assert result["sum"] == 6.0
    assert result["same_tensor_proto"] and result["same_request"]
    assert result["round_trip"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert result["version"].startswith("2.") and result["keras"]
