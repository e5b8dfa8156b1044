"""Serve SavedModels the way TensorFlow Serving does, and call TF Serving over gRPC or REST.

- `server/`: a local TF-Serving-compatible server (`python -m serving.server`)
- `client/`: a client for TF Serving or that server (`python -m serving.client`), no training code
- `publish/`: the publish gate (`python -m serving.publish MODEL BASE`), which uses both sides
- `demo`: serves a run's export on free ports and calls it through the client
- `tune_batching`: a `--batching_parameters_file` measured on an export, for either server
- `tensors`: TensorProto ↔ numpy, used by both sides
- `tensors_json`: JSON values ↔ numpy as TF Serving's REST API has them, used by both sides
- `apis`: the TF Serving messages, used by both sides
- `errors`: `UsageError` and the one-line report, used by both sides

The operator's tools (`rollout`, `log_summary`) belong to the server: see `server/`.
"""
