"""`python -m serving.server`: a local server speaking TensorFlow Serving's gRPC and REST APIs.

For development and tests where `tensorflow_model_server` cannot run: the same flags, the same
model layout (`<base_path>/<integer version>/saved_model.pb`), the same protos, JSON, status codes
and error messages, so a client written against this server works unchanged against TF Serving.
Models are loaded with TensorFlow's Session-based SavedModel loader, as TF Serving does.
"""

import argparse
import logging
import os
import signal
import threading

from edge.device.quiet import add_verbose_flag
from serving.errors import UsageError, report_error
from serving.server.backend import tf
from serving.server.core.request_log import DEFAULT_MAX_BYTES
from serving.server.core.server_core import CoreOptions
from serving.server.frontend.limits import add_limit_flags, limits_from_args
from serving.server.model_server import ModelServer, ServerOptions
from serving.server.servables.batching import BatchingParameters, read_batching_parameters

log = logging.getLogger("serving.server")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

EXAMPLES = """\
examples:
  # serve one model (version folders 1/, 2/, ... under the base path), gRPC on 8500, REST on 8501
  python -m serving.server --model_name=digits --model_base_path=$PWD/runs/latest/export/digits \\
      --rest_api_port=8501
  # serve the models of a ModelServerConfig text proto, re-read every 60 s
  python -m serving.server --model_config_file=$PWD/export/models.config \\
      --model_config_file_poll_wait_seconds=60
  # batch concurrent requests server-side
  python -m serving.server --model_base_path=/abs/models/digits --enable_batching \\
      --batching_parameters_file=batching.config
  # TLS (mTLS with client_verify: true) on both ports, a token on every call, signed models only
  python -m serving.server --model_base_path=/abs/models/digits --rest_api_port=8501 \\
      --ssl_config_file=ssl.config --auth_token_file=tokens.txt --admin_token_file=admin.txt \\
      --model_verify_key=model-signing.pub
  # Prometheus metrics on the REST port, and the gRPC health service (readiness) for probes
  python -m serving.server --model_base_path=/abs/models/digits --rest_api_port=8501 \\
      --monitoring_config_file=monitoring.config --enable_grpc_healthcheck_service
  curl localhost:8501/monitoring/prometheus/metrics
  # then call it like TF Serving
  curl -d '{"instances": [[0.0, 1.0]]}' localhost:8501/v1/models/digits:predict
"""


def _flag_bool(text: str) -> bool:
    """TF-style boolean flag values: `--flag`, `--flag=true`, `--flag=false`."""
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.server",
        description=__doc__.split("\n\n")[0].removeprefix("`python -m serving.server`: "),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--port", type=int, default=8500, help="gRPC port (default 8500)")
    add("--rest_api_port", type=int, default=0, help="HTTP/REST port; 0 (default) turns REST off")
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    add("--model_name", default="default", help="model name (ignored with --model_config_file)")
    add("--model_base_path", default="", help="absolute folder holding the version folders")
    add("--model_config_file", default="", help="ModelServerConfig text proto naming the models")
    add(
        "--model_config_file_poll_wait_seconds",
        type=float,
        default=0,
        help="re-read --model_config_file this often (0, the default: read once)",
    )
    add(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1,
        help="look for new versions this often (default 1; 0: only at start)",
    )
    for name, default, text in [
        ("--enable_batching", False, "batch concurrent requests server-side"),
        ("--enable_model_warmup", True, "replay assets.extra/tf_serving_warmup_requests on load"),
        (
            "--allow_version_labels_for_unavailable_models",
            False,
            "allow version_labels pointing at versions not loaded yet",
        ),
        (
            "--enable_grpc_healthcheck_service",
            False,
            "add grpc.health.v1.Health: SERVING once every configured model is available",
        ),
    ]:
        add(name, type=_flag_bool, nargs="?", const=True, default=default, help=text)
    add("--batching_parameters_file", default="", help="BatchingParameters text proto")
    add(
        "--monitoring_config_file",
        default="",
        help="MonitoringConfig text proto: Prometheus metrics on the REST port",
    )
    add(
        "--request_log_max_bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="size at which a request log file is closed and the next begun",
    )
    add("--max_num_load_retries", type=int, default=5, help="retries of a failed version load")
    add("--load_retry_interval_micros", type=int, default=60_000_000, help="wait between retries")
    add("--saved_model_tags", default="serve", help="comma-separated MetaGraph tags to load")
    add("--grpc_max_threads", type=int, default=4 * (os.cpu_count() or 1), help="gRPC threads")
    add("--ssl_config_file", default="", help="SSLConfig text proto: TLS (mTLS) on both ports")
    add("--auth_token_file", default="", help="bearer tokens (one per line) every call must send")
    add("--admin_token_file", default="", help="bearer tokens that alone may reload the config")
    add("--model_verify_key", default="", help="PEM public key: load only versions it signed")
    add_limit_flags(parser)
    add("--debug", action="store_true", help="show tracebacks")
    add_verbose_flag(parser)
    return parser


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    """ServerOptions from parsed flags, with TF Serving's checks on their combination."""
    if args.port == 0:
        raise UsageError("--port=0: the gRPC API needs a port; pick one, e.g. --port=8500.")
    if args.rest_api_port == args.port:
        raise UsageError(f"--rest_api_port={args.port} equals --port; give REST its own port.")
    if not args.model_base_path and not args.model_config_file:
        raise UsageError(
            "Both --model_base_path and --model_config_file are empty: give the absolute path "
            "of a model folder (holding version folders such as 1/) or a models.config file."
        )
    if args.batching_parameters_file and not args.enable_batching:
        raise UsageError("--batching_parameters_file is set without --enable_batching; add it.")
    batching = None
    if args.enable_batching:
        batching = (
            read_batching_parameters(args.batching_parameters_file)
            if args.batching_parameters_file
            else BatchingParameters()
        )
    core = CoreOptions(
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        enable_model_warmup=args.enable_model_warmup,
        max_num_load_retries=args.max_num_load_retries,
        load_retry_interval_seconds=args.load_retry_interval_micros / 1e6,
        saved_model_tags=tuple(tag for tag in args.saved_model_tags.split(",") if tag),
        batching=batching,
        model_verify_key=args.model_verify_key,
        request_log_max_bytes=args.request_log_max_bytes,
    )
    return ServerOptions(
        port=args.port,
        rest_api_port=args.rest_api_port or None,
        host=args.host,
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        model_config_file=args.model_config_file,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        grpc_max_threads=args.grpc_max_threads,
        ssl_config_file=args.ssl_config_file,
        auth_token_file=args.auth_token_file,
        admin_token_file=args.admin_token_file,
        monitoring_config_file=args.monitoring_config_file,
        enable_grpc_healthcheck_service=args.enable_grpc_healthcheck_service,
        grpc_channel_arguments=args.grpc_channel_arguments,
        limits=limits_from_args(args),
        core=core,
    )


def stop_on_signals(server: ModelServer) -> None:
    """Calls `server.request_stop()` on SIGTERM or SIGINT, from a thread of its own.

    Not from a Python signal handler: that runs on the main thread between two bytecodes, maybe
    while the thread holds the very Event lock `request_stop` takes (a deadlock), and only
    once the main thread runs Python again, which a long C-level wait (a load retry's sleep)
    delays if the kernel hands the signal to another thread. Python's C-level handler instead
    writes the signal's number to a pipe at once (`signal.set_wakeup_fd`), and a thread blocked
    reading that pipe does the stop.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # set_wakeup_fd's requirement
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: None)  # the stop is the watcher's; nothing to do here
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        while os.read(read_end, 1)[0] not in STOP_SIGNALS:
            pass
        server.request_stop()

    threading.Thread(target=watch, name="stop-signals", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s] %(message)s"
    )

    tf.get_logger().setLevel(logging.DEBUG if args.debug or args.verbose else logging.ERROR)
    try:
        server = ModelServer(options_from_args(args))
        stop_on_signals(server)  # before loading: a stop ends the wait for models
        server.start()
    except UsageError as error:
        return report_error(error, args.debug)
    server.wait()
    log.info("Stopping the model server")
    server.stop()
    log.info("Server stopped")
    return 0
