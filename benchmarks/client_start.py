"""Cold start of the serving client, each command in a fresh process as a caller pays it on every
start: `python -c pass`, numpy + grpc + protobuf (what any numpy gRPC client imports), `import
serving.client`, and `python -m serving.client predict` of one digits example to a local server.
Wall time from spawn to exit, the commands alternating.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import alternate, command_side
from benchmarks.results import Figure, Result, table
from benchmarks.run import main_one
from benchmarks.serving_load import REPO, start_server
from benchmarks.serving_speed import DIGITS, MODEL, export_model

ROUNDS = {"smoke": 1, "quick": 3, "full": 9}
IMPORT_GOAL_S, ROUND_TRIP_GOAL_S = 1.0, 1.5
IMPORT, ROUND_TRIP = "python -c 'import serving.client'", "python -m serving.client predict"
COLUMNS = ["command (fresh process)", "median s", "min s", "max s"]


def client_env() -> dict[str, str]:
    """As a client user runs it: the repo on the path, none of the project's TensorFlow settings."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return dict(env, PYTHONPATH=str(REPO))


def run(size: str = "full") -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        version_dir, inputs = export_model(Path(tmp), DIGITS)
        np.save(Path(tmp) / "x.npy", inputs["pixels"].example)
        process, grpc_port, _ = start_server(version_dir.parent, MODEL, None)
        try:
            predict = ["predict", f"--server=127.0.0.1:{grpc_port}", f"--model={MODEL}"]
            commands = {
                "python -c pass": ["-c", "pass"],
                "python -c 'import numpy, grpc, google.protobuf'": [
                    "-c",
                    "import numpy, grpc, google.protobuf",
                ],
                IMPORT: ["-c", "import serving.client"],
                ROUND_TRIP: ["-m", "serving.client", *predict, f"--input={Path(tmp) / 'x.npy'}"],
            }
            env = client_env()
            sides = {n: command_side(argv, cwd=REPO, env=env) for n, argv in commands.items()}
            samples = alternate(sides, ROUNDS[size], warmup=0)
        finally:
            process.terminate()
            process.wait(timeout=30)
    rows = [
        [name, *(f"{f(s.wall):.3f}" for f in (statistics.median, min, max))]
        for name, s in samples.items()
    ]
    figures = [
        Figure("cold `import serving.client`", samples[IMPORT].median(), "s", IMPORT_GOAL_S, False),
        Figure(
            "cold `python -m serving.client predict` round trip",
            samples[ROUND_TRIP].median(),
            "s",
            ROUND_TRIP_GOAL_S,
            False,
        ),
    ]
    method = f"{ROUNDS[size]} round(s), the commands alternating."
    title = "Serving client: cold import and cold predict round trip"
    return Result("client_start", title, method, [table(COLUMNS, rows)], figures)


if __name__ == "__main__":
    sys.exit(main_one("client_start"))
