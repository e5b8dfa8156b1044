"""A Keras 3 `keras.applications.MobileNetV3Small` (α 0.25, 32×32) from a `model.builder` trains on
generated photos by the TPU recipe on 8 simulated replicas (test_keras3_simulated_tpu's checks);
a file of its own, so the test runner gives it a worker beside the CNN's."""

import pytest
from test_keras3_simulated_tpu import train_and_check


@pytest.mark.slow
@pytest.mark.timeout(900)  # tracing MobileNetV3Small for 8 replicas takes minutes on 2 cores
def test_a_keras3_mobilenet_on_8_simulated_tpu_cores_counts_every_test_example(tmp_path):
    train_and_check("mobilenet-photos", tmp_path)
