"""`start_server` for the security tests (import it into a test module to use the fixture).

`start_server(model_base_path=None, core=None, **options)` starts an in-process ModelServer on
free 127.0.0.1 ports (REST on too) serving TF Serving's half_plus_two as "half_plus_two", with any
further ServerOptions (ssl_config_file, auth_token_file, ...); every server stops at test end.
"""

import pytest

from serving.server.core.server_core import CoreOptions
from serving.server.model_server import ModelServer, ServerOptions

MODEL = "half_plus_two"


@pytest.fixture
def start_server(half_plus_two):
    started = []

    def start(model_base_path=None, core=None, **options) -> ModelServer:
        server = ModelServer(
            ServerOptions(
                port=0,
                rest_api_port=0,
                model_name=MODEL,
                model_base_path=str(model_base_path or half_plus_two),
                grpc_max_threads=4,
                core=core or CoreOptions(file_system_poll_wait_seconds=0),
                **options,
            )
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(grace_seconds=0)
