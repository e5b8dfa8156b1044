"""Serve SavedModels the way TensorFlow Serving does, and call TF Serving over gRPC or REST.

- `server/`: a local TF-Serving-compatible server (`python -m serving.server`)
- `client/`: a client for TF Serving or that server (`python -m serving.client`), no training code
- `publish/`: the publish gate (`python -m serving.publish MODEL BASE`), which uses both sides
- `demo`: serves a run's export on free ports and calls it through the client
- `log_summary`: what a request log (or warmup file) holds
- `tune_batching`: a `--batching_parameters_file` measured on an export, for either server
- `rollout`: canary labels, kept versions and rollback, edited in a models.config a server polls
- `tensors` and `apis`: TensorProto ↔ numpy and the TF Serving messages, used by both sides
"""
