"""Test-wide setup: quiet TensorFlow, and the Keras choice made before anything imports TF."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
