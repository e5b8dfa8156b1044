"""What the benchmark scripts share: the machine they ran on, a Markdown table, and their own
section of benchmarks/RESULTS.md (each script replaces its section and leaves the others alone).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SHARED_NOTE = "a machine shared with other jobs, so compare rows measured together, not machines"


def describe_machine() -> str:
    """E.g. `2 cores, AMD EPYC (x86_64), load average 1.7 at start`."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: keep platform's name
    load = f", load average {os.getloadavg()[0]:.1f} at start" if hasattr(os, "getloadavg") else ""
    return f"{os.cpu_count()} cores, {model} ({platform.machine()}){load}"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """`rows` (cells already formatted, or anything `str` gives) under `columns`, as Markdown."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def write_section(heading: str, text: str, results: Path = RESULTS) -> None:
    """Replace the section that starts with `heading` in `results` (or append it).

    A section runs from its `## ` heading to the next one; `text` starts with `heading`.
    """
    old = results.read_text() if results.exists() else "# Benchmark results\n"
    text = text.rstrip("\n") + "\n\n"
    start = old.find(heading)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + text + (old[end + 1 :] if end >= 0 else "")
    results.write_text(new.rstrip("\n") + "\n")
