"""`import serving.server` loads no Keras and no training code: the server serves SavedModels."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_server_imports_no_tf_keras_and_no_tfmodel():
    probe = (
        "import json, sys\n"
        "import serving.server.main, serving.server.rollout, serving.server.log_summary\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    # As a server user runs it: without the project's TF_USE_LEGACY_KERAS, which would make
    # TensorFlow itself import tf_keras (`import tensorflow` loads the Keras it is told to use).
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    answer = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    loaded = json.loads(answer.stdout.splitlines()[-1])
    assert "serving.server.servables.servable" in loaded  # the probe did import the server
    assert "tensorflow" in loaded  # it loads SavedModels with TensorFlow itself
    training = [name for name in loaded if name.split(".")[0] in ("tf_keras", "tfmodel")]
    assert training == []
