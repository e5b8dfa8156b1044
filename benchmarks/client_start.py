"""Cold start of the serving client, each command in a fresh process as a caller pays it on every
start, beside `python -c pass` and the imports of any numpy gRPC client; `predict` sends one digits
example to a local server. Wall time from spawn to exit, the commands alternating.
"""

import statistics
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import FRESH_ENV, REPO, alternate, command_side
from benchmarks.results import Figure, Result, Table
from benchmarks.serving_load import served
from benchmarks.serving_speed import DIGITS, MODEL, export_model

ROUNDS = {"smoke": 1, "quick": 3, "full": 9}
IMPORT_GOAL_S, ROUND_TRIP_GOAL_S = 1.0, 1.5
FLOOR = "import numpy, grpc, google.protobuf"  # what any numpy gRPC client imports
IMPORT, ROUND_TRIP = "python -c 'import serving.client'", "python -m serving.client predict"
COLUMNS = ["command (fresh process)", "median s", "min s", "max s"]


def run(size: str = "full") -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        version_dir, inputs = export_model(Path(tmp), DIGITS)
        np.save(Path(tmp) / "x.npy", inputs["pixels"].example)
        with served(version_dir.parent, MODEL, None) as (_, grpc_port, _):
            predict = ["predict", f"--server=127.0.0.1:{grpc_port}", f"--model={MODEL}"]
            commands = {
                "python -c pass": ["-c", "pass"],
                f"python -c '{FLOOR}'": ["-c", FLOOR],
                IMPORT: ["-c", "import serving.client"],
                ROUND_TRIP: ["-m", "serving.client", *predict, f"--input={Path(tmp) / 'x.npy'}"],
            }
            # as a client user runs it: the repo on the path, none of the project's TF settings
            env = {k: v for k, v in FRESH_ENV.items() if k != "TF_USE_LEGACY_KERAS"}
            sides = {n: command_side(argv, cwd=REPO, env=env) for n, argv in commands.items()}
            samples = alternate(sides, ROUNDS[size], warmup=0)
    stats = (statistics.median, min, max)
    rows = [[name, *(f"{f(s.wall):.3f}" for f in stats)] for name, s in samples.items()]
    imported, trip = samples[IMPORT].median(), samples[ROUND_TRIP].median()
    figures = [
        Figure("cold `import serving.client`", imported, "s", IMPORT_GOAL_S, False),
        Figure("cold `serving.client predict` round trip", trip, "s", ROUND_TRIP_GOAL_S, False),
    ]
    method = f"{ROUNDS[size]} round(s), the commands alternating."
    title = "Serving client: cold import and cold predict round trip"
    return Result("client_start", title, method, [Table(COLUMNS, rows)], figures)
