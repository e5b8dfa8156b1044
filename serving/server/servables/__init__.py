"""Servables: one loaded SavedModel version and what runs on it.

- `batching`: concurrent requests merged into batches (TF Serving's BatchingParameters)
- `inference`: predict, classify and regress on a servable's signatures
- `servable`: one SavedModel version, loaded with TensorFlow's Session-based loader
"""
