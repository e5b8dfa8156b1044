"""The one place the server imports TensorFlow: quietly, and without Keras.

The server loads SavedModels with TensorFlow alone. What TensorFlow's C++ side prints while it
loads and probes for CUDA (absl's pre-init warning, cudart_stub, cuInit on a CPU machine) is held
and shown only if the import fails, or always with `--verbose` / TFMODEL_VERBOSE=1 — the same
capture the device runtime uses (`edge.device.quiet`). Deprecation notices (the Session-based
loader the servables keep on purpose) are dropped unless verbose.
"""

import os

from edge.device.quiet import held_stderr, hide_deprecation_notices, verbose_requested

if not verbose_requested():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

with held_stderr():
    import tensorflow as tf

    tf.config.list_physical_devices()  # the CUDA probe, here rather than at the first load

__all__ = ["tf"]


hide_deprecation_notices(tf.get_logger())
