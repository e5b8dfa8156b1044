"""The front ends: what a request meets before the core, top to bottom.

- `grpc_api` and `rest_api` (with `rest_json`, `rest_examples`, `json_writer`): the two APIs
- `tls` and `auth`: TF Serving's SSLConfig on both ports; bearer and admin tokens checked first
- `limits`: what one request may cost (sizes, nesting, threads, timeouts), checked at the door
- `health`: the gRPC health service (readiness) and the drain on stop
- `service`: the PredictionService and ModelService calls, shared by both front ends
"""
