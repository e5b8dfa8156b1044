"""`python -m serving.server`: a local server speaking TensorFlow Serving's gRPC and REST APIs.

For development and tests where `tensorflow_model_server` cannot run: the same flags, the same
model layout (`<base_path>/<integer version>/saved_model.pb`), the same protos, JSON, status codes
and error messages, so a client written against this server works unchanged against TF Serving.
Models are loaded with TensorFlow's Session-based SavedModel loader, as TF Serving does.
"""

# isort: off
from tfmodel.backend import tf  # first: sets TensorFlow's environment before anything loads TF

# isort: on
import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading

from tensorflow_serving.config import model_server_config_pb2

from serving.batching import BatchingParameters, read_batching_parameters
from serving.core import CoreOptions, ServerCore
from serving.grpc_api import start_grpc_server
from serving.model_config import read_model_server_config
from serving.rest_api import start_rest_server
from serving.status import ServingError
from tfmodel.errors import UserError

log = logging.getLogger("serving.server")

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
  # then call it like TF Serving
  curl -d '{"instances": [[0.0, 1.0]]}' localhost:8501/v1/models/digits:predict
"""


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """What to serve and where; named after tensorflow_model_server's flags.

    For programmatic use `port=0` picks a free gRPC port and `rest_api_port=0` a free REST port;
    `rest_api_port=None` turns REST off (the CLI's `--rest_api_port=0`).
    """

    port: int = 8500
    rest_api_port: int | None = None
    host: str = "127.0.0.1"
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: float = 0
    grpc_max_threads: int = 4 * (os.cpu_count() or 1)
    core: CoreOptions = CoreOptions()


class ModelServer:
    """A running server: the ServerCore, the gRPC and REST endpoints and the config-file poller."""

    def __init__(self, options: ServerOptions):
        self.options = options
        self.core = ServerCore(options.core)
        self.grpc_port: int | None = None
        self.rest_port: int | None = None
        self._grpc_server = None
        self._rest_server = None
        self._stopped = threading.Event()
        self._config_poller: threading.Thread | None = None

    def start(self) -> "ModelServer":
        """Loads every model (blocking until each is available), then opens gRPC and REST."""
        config = self._initial_config()
        try:
            self.core.reload_config(config)
        except ServingError as error:
            self.core.stop()
            message = f"Failed to start server. Error: {error.code.name}: {error.message}"
            raise UserError(message) from error
        self.core.start_polling()
        options = self.options
        try:
            self._grpc_server, self.grpc_port = start_grpc_server(
                self.core, options.host, options.port, options.grpc_max_threads
            )
            log.info("Running gRPC ModelServer at %s:%d ...", options.host, self.grpc_port)
            if options.rest_api_port is not None:
                self._rest_server, self.rest_port = start_rest_server(
                    self.core, options.host, options.rest_api_port
                )
                log.info("Exporting HTTP/REST API at %s:%d ...", options.host, self.rest_port)
        except UserError:
            self.stop()
            raise
        if options.model_config_file and options.model_config_file_poll_wait_seconds > 0:
            self._config_poller = threading.Thread(
                target=self._poll_config_file, name="config-poll", daemon=True
            )
            self._config_poller.start()
        return self

    def _initial_config(self) -> model_server_config_pb2.ModelServerConfig:
        if self.options.model_config_file:
            return read_model_server_config(self.options.model_config_file)
        config = model_server_config_pb2.ModelServerConfig()
        entry = config.model_config_list.config.add()
        entry.name = self.options.model_name
        entry.base_path = self.options.model_base_path
        entry.model_platform = "tensorflow"
        return config

    def _poll_config_file(self) -> None:
        while not self._stopped.wait(self.options.model_config_file_poll_wait_seconds):
            try:
                self.core.reload_config(read_model_server_config(self.options.model_config_file))
            except (UserError, ServingError) as error:
                log.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", error)

    def request_stop(self) -> None:
        """Wakes `wait` (safe in a signal handler); the waiting thread then calls `stop`."""
        self._stopped.set()

    def wait(self) -> None:
        """Blocks until `request_stop` or `stop` is called."""
        self._stopped.wait()

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Stops taking requests, lets in-flight ones finish (up to the grace), unloads models."""
        self._stopped.set()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace_seconds).wait()
        if self._rest_server is not None:
            self._rest_server.shutdown()
            self._rest_server.server_close()
        if self._config_poller is not None:
            self._config_poller.join()
        self.core.stop()


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
    add("--model_config_file_poll_wait_seconds", type=float, default=0,
        help="re-read --model_config_file this often (0, the default: read once)")  # fmt: skip
    add("--file_system_poll_wait_seconds", type=float, default=1,
        help="look for new versions this often (default 1; 0: only at start)")  # fmt: skip
    for name, default, text in [
        ("--enable_batching", False, "batch concurrent requests server-side"),
        ("--enable_model_warmup", True, "replay assets.extra/tf_serving_warmup_requests on load"),
        ("--allow_version_labels_for_unavailable_models", False,
         "allow version_labels pointing at versions not loaded yet"),
    ]:  # fmt: skip
        add(name, type=_flag_bool, nargs="?", const=True, default=default, help=text)
    add("--batching_parameters_file", default="", help="BatchingParameters text proto")
    add("--max_num_load_retries", type=int, default=5, help="retries of a failed version load")
    add("--load_retry_interval_micros", type=int, default=60_000_000, help="wait between retries")
    add("--saved_model_tags", default="serve", help="comma-separated MetaGraph tags to load")
    add("--grpc_max_threads", type=int, default=4 * (os.cpu_count() or 1), help="gRPC threads")
    add("--debug", action="store_true", help="show tracebacks")
    return parser


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    """ServerOptions from parsed flags, with TF Serving's checks on their combination."""
    if args.port == 0:
        raise UserError("--port=0: the gRPC API needs a port; pick one, e.g. --port=8500.")
    if args.rest_api_port == args.port:
        raise UserError(f"--rest_api_port={args.port} equals --port; give REST its own port.")
    if not args.model_base_path and not args.model_config_file:
        raise UserError(
            "Both --model_base_path and --model_config_file are empty: give the absolute path "
            "of a model folder (holding version folders such as 1/) or a models.config file."
        )
    if args.batching_parameters_file and not args.enable_batching:
        raise UserError("--batching_parameters_file is set without --enable_batching; add it.")
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
        core=core,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s] %(message)s"
    )

    tf.get_logger().setLevel(logging.DEBUG if args.debug else logging.ERROR)
    try:
        server = ModelServer(options_from_args(args)).start()
    except UserError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.request_stop())
    server.wait()
    log.info("Stopping the model server")
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
