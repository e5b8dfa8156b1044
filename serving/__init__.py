"""Serve SavedModels the way TensorFlow Serving does, and call TF Serving over gRPC or REST."""

import tfmodel.backend  # noqa: F401  (picks Keras 2 before any TensorFlow import below)
