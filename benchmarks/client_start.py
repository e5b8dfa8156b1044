"""Cold start of the serving client: `import serving.client`, and a whole `python -m serving.client
predict` call, each in a fresh process, as a production caller pays them on every start.

    python -m benchmarks.client_start           # ~1 min on 2 cores; rewrites its section
    python -m benchmarks.client_start --quick   # fewer rounds; prints only

A fresh Python process per measurement (wall time from spawn to exit, the interpreter's own start
included, shown on its own row, as are numpy, grpc and protobuf, which any numpy gRPC client
imports); the round trip sends one digits example over gRPC to a local
`python -m serving.server` already serving the digits MLP. The commands take turns in each round.
Each row also counts the `tensorflow` modules the command loaded. Goals: the import under 1 s, the
round trip under 1.5 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.results import (
    Figure,
    Section,
    check_size,
    markdown_table,
    quick_or_full_main,
    section_text,
)
from benchmarks.serving_speed import MODEL, export_model, start_server

SECTION = "## Serving client: cold import and cold predict round trip"
REPO = Path(__file__).resolve().parents[1]
ROUNDS = {"smoke": 1, "quick": 3, "full": 9}
IMPORT_GOAL_S, ROUND_TRIP_GOAL_S = 1.0, 1.5
FLOOR = "python -c 'import numpy, grpc, google.protobuf'"  # any numpy gRPC client's imports
ROUND_TRIP = "python -m serving.client predict (gRPC, one example)"
# The same commands before issue 18's change (`import serving.client` imported all of TensorFlow:
# 1,623 `tensorflow` modules), `--quick` on this 2-core machine at load average 6.2.
BEFORE = "import 23.4 s, predict round trip 26.9 s (`python -c pass` 0.14 s)"
COLUMNS = ["command (fresh process)", "median s", "min s", "max s", "tensorflow modules loaded"]


def client_env() -> dict[str, str]:
    """As a client user runs it: the repo on the path, none of the project's TensorFlow settings."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return dict(env, PYTHONPATH=str(REPO))


def timed(command: list[str]) -> float:
    """Wall seconds from spawning `command` to its exit (which must be 0)."""
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=client_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def tensorflow_modules(argv: list[str]) -> int:
    """How many `tensorflow` modules `python argv...` imports (once, untimed: -X importtime)."""
    command = [sys.executable, "-X", "importtime", *argv]
    answer = subprocess.run(command, cwd=REPO, env=client_env(), capture_output=True, text=True)
    names = [line.rsplit("|", 1)[-1].strip() for line in answer.stderr.splitlines()]
    return sum(name.split(".")[0] == "tensorflow" for name in names if "import time:" not in name)


def run(size: str = "full") -> Section:
    """Each command `ROUNDS[size]` times, in turns: the section and the two goals."""
    check_size(size)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / MODEL
        np.save(Path(tmp) / "x.npy", export_model(base))
        process, grpc_port, _ = start_server(base, None)
        try:
            predict = ["predict", f"--server=127.0.0.1:{grpc_port}", f"--model={MODEL}"]
            predict += [f"--input={Path(tmp) / 'x.npy'}"]
            commands = {
                "python -c pass": ["-c", "pass"],
                FLOOR: ["-c", "import numpy, grpc, google.protobuf"],
                "python -c 'import serving.client'": ["-c", "import serving.client"],
                ROUND_TRIP: ["-m", "serving.client", *predict],
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(ROUNDS[size]):
                for name, argv in commands.items():
                    times[name].append(timed([sys.executable, *argv]))
            loaded = {name: tensorflow_modules(argv) for name, argv in commands.items()}
        finally:
            process.terminate()
            process.wait(timeout=30)
    rows = [
        [
            name,
            f"{statistics.median(t):.3f}",
            f"{min(t):.3f}",
            f"{max(t):.3f}",
            loaded[name] or "none",
        ]
        for name, t in times.items()
    ]
    table = markdown_table(COLUMNS, rows)
    text = section_text(
        SECTION,
        "`python -m benchmarks.client_start` — each command in a fresh Python process, "
        f"{ROUNDS[size]} round(s), the commands in turns; wall time from spawn to exit. The "
        "round trip is one digits example over gRPC to a local `python -m serving.server` "
        "(started once, before the rounds), reading its metadata first as the CLI does.",
        table,
        "Before the client stopped importing TensorFlow (issue 18), measured the same way: "
        f"{BEFORE}.",
    )
    import_s = statistics.median(times["python -c 'import serving.client'"])
    floor_s = statistics.median(times[FLOOR])
    why = (
        f"numpy, grpc and protobuf alone, which any numpy gRPC client imports, take "
        f"{floor_s:.2f} s here (the second row); the client adds its ~30 TF Serving proto "
        "modules and its own. On a machine this loaded, only a quieter run meets the goal"
    )
    round_trip_s = statistics.median(times[ROUND_TRIP])
    figures = [
        Figure(
            "serving",
            "cold `import serving.client`",
            import_s,
            "s",
            IMPORT_GOAL_S,
            at_least=False,
            why=why,
        ),
        Figure(
            "serving",
            "cold `python -m serving.client predict` round trip",
            round_trip_s,
            "s",
            ROUND_TRIP_GOAL_S,
            at_least=False,
            why=why,
        ),
    ]
    return Section(SECTION, text, table, figures)


def main(argv: list[str] | None = None) -> int:
    return quick_or_full_main("client_start", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
