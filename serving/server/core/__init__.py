"""The core: which versions of which models are loaded, and what feeds that decision.

- `server_core`: `ServerCore`, the aspired versions of each model, loaded, served by name or label
- `model_config`: a ModelServerConfig text proto (`--model_config_file`), read and checked
- `versions`: the integer version folders under a base path and the version policy over them
- `model_signature`: `--model_verify_key`, a version loads only if that key signed its files
- `warmup`: `assets.extra/tf_serving_warmup_requests` replayed before a version is served
- `request_log`: a model's `logging_config`: sampled requests to rotating TFRecord files
"""
