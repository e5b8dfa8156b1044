"""SIGTERM stops `python -m serving.server` within 5 s whatever it is doing.

The states: loading (waiting for a first version, or between load retries), reloading a config,
polling, serving a request that would run for days, and holding a request in a batch queue.
Each test brings the server into its state (its log says so), sends SIGTERM and waits 5 s.
"""

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tfmodel.backend import tf

STOP_SECONDS = 5  # the bound
REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


class ServerLog:
    """Reads a server's stderr in the background (so the pipe never fills) until a line shows."""

    def __init__(self, process: subprocess.Popen):
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(process.stderr,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, seconds: float = 120) -> None:
        seen = []
        while (line := self.lines.get(timeout=seconds)) is not None:
            seen.append(line)
            if text in line:
                return
        raise AssertionError(f"the server ended without logging {text!r}:\n{''.join(seen)}")


def assert_stops_on_sigterm(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {STOP_SECONDS} s after SIGTERM") from None
    assert code == 0


def start(server_process, *flags, marker: str, ready: bool = False):
    process, address = server_process(*flags, ready=ready)
    ServerLog(process).wait_for(marker)
    return process, address


def write_while_loop_model(path) -> None:
    """A model that counts to the fed `n` in a graph loop: n = 10**15 runs for days."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        n = tf.compat.v1.placeholder(tf.int64, shape=[None], name="n")
        limit = tf.reduce_max(n)
        count = tf.while_loop(lambda i: i < limit, lambda i: i + 1, [tf.constant(0, tf.int64)])
        y = tf.add(n * 0, count, name="y")
        signature = tf.compat.v1.saved_model.predict_signature_def({"n": n}, {"y": y})
        builder = tf.compat.v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map={"serving_default": signature}
        )
        builder.save()


def send_in_background(address: str, name: str, tensor) -> grpc.Future:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs[next(iter(tensor))].CopyFrom(tensor[next(iter(tensor))])
    channel = grpc.insecure_channel(address)
    return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict.future(request, 60)


def test_sigterm_while_waiting_for_a_first_version(server_process, tmp_path):
    (tmp_path / "empty").mkdir()
    process, _ = start(
        server_process, f"--model_base_path={tmp_path / 'empty'}", marker="No versions of servable"
    )
    assert_stops_on_sigterm(process)


def test_sigterm_between_load_retries(server_process, tmp_path):
    (tmp_path / "bad" / "1").mkdir(parents=True)
    process, _ = start(
        server_process,
        f"--model_base_path={tmp_path / 'bad'}",
        "--load_retry_interval_micros=60000000",
        marker="Loading default version 1 failed",
    )
    assert_stops_on_sigterm(process)


def test_sigterm_while_a_config_reload_waits(server_process, tmp_path, half_plus_two):
    config = tmp_path / "models.config"
    entry = 'config {{ name: "{}" base_path: "{}" model_platform: "tensorflow" }}'
    config.write_text(f"model_config_list {{ {entry.format('a', half_plus_two)} }}")
    process, _ = server_process(
        f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=0.2"
    )
    log = ServerLog(process)
    (tmp_path / "b").mkdir()
    both = entry.format("a", half_plus_two) + entry.format("b", tmp_path / "b")
    config.write_text(f"model_config_list {{ {both} }}")
    log.wait_for("No versions of servable b")
    assert_stops_on_sigterm(process)


def test_sigterm_while_polling(server_process, half_plus_two):
    process, _ = server_process(
        f"--model_base_path={half_plus_two}", "--file_system_poll_wait_seconds=0.1"
    )
    assert_stops_on_sigterm(process)


def test_sigterm_while_serving_a_long_request(server_process, tmp_path):
    write_while_loop_model(tmp_path / "loop" / "1")
    process, address = server_process(f"--model_base_path={tmp_path / 'loop'}")
    log = ServerLog(process)
    del log  # drains stderr; the request below never logs
    answer = send_in_background(
        address.grpc, "default", {"n": tf.make_tensor_proto([10**15], tf.int64)}
    )
    with pytest.raises(grpc.FutureTimeoutError):
        answer.result(timeout=1)  # it is running
    assert_stops_on_sigterm(process)


def test_sigterm_with_a_request_waiting_in_a_batch(server_process, tmp_path, half_plus_two):
    parameters = tmp_path / "batching.config"
    parameters.write_text("max_batch_size { value: 64 } batch_timeout_micros { value: 60000000 }")
    process, address = server_process(
        f"--model_base_path={half_plus_two}",
        "--enable_batching",
        f"--batching_parameters_file={parameters}",
    )
    ServerLog(process)
    answer = send_in_background(address.grpc, "default", {"x": tf.make_tensor_proto([1.0])})
    with pytest.raises(grpc.FutureTimeoutError):
        answer.result(timeout=1)  # queued for a batch that waits 60 s
    assert_stops_on_sigterm(process)


# The main thread blocks the signal, so the kernel hands it to another thread, as it may when
# the server is busy: a Python signal handler (run only on the main thread) would never run.
SIGNAL_ON_ANOTHER_THREAD = """
import os, signal, threading
from serving.server.main import stop_on_signals

stopped = threading.Event()

class Server:
    def request_stop(self):
        on_main = threading.current_thread() is threading.main_thread()
        print("request_stop on the main thread:", on_main)
        stopped.set()

stop_on_signals(Server())
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
os.kill(os.getpid(), signal.SIGTERM)
print("stopped:", stopped.wait(STOP_SECONDS))
"""


def test_a_stop_signal_is_handled_off_the_main_thread():
    """request_stop takes Event locks the main thread may hold when the signal lands: it must run
    on a thread of its own, and promptly even when the main thread is deaf to the signal."""
    script = SIGNAL_ON_ANOTHER_THREAD.replace("STOP_SECONDS", str(STOP_SECONDS))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.splitlines() == ["request_stop on the main thread: False", "stopped: True"]
