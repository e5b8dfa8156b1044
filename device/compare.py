"""Judge a device check: compare each emulated Raspberry Pi run with the x86 run, print the table.

A results folder holds, per run LABEL (`x86-RUNTIME` on the host, `CPU-RUNTIME` under qemu):
`LABEL.npz` (one output array per model file, written by predict_set.py), `LABEL.json` (runtime
used, CPU feature bits, latencies), `LABEL.log` (everything the run printed) and, for device runs,
`LABEL.tests.log` / `LABEL.tests.rc` (the edge tests' output and exit code). Float outputs must
agree within 1e-5, integer (int8) outputs exactly. Emulated latencies are reported, never judged.

    python device/compare.py RESULTS --cpus cortex-a53,cortex-a72 --runtimes ai_edge_litert
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

FLOAT_TOLERANCE = 1e-5
# Printed by ai_edge_litert when it cannot read the CPU (no /sys, no cpuinfo): it then silently
# runs generic kernels, so the run no longer says anything about a Pi.
CPUINFO_ERROR = "Error in cpuinfo"
HWCAP_ASIMDDP = 1 << 20  # dot-product instructions: Pi 5 (Cortex-A76) has them, Pi 3/4 do not
HWCAP2_SME = 1 << 23  # qemu's default CPU "max" has SME, no Pi does, and int8 outputs go wrong


@dataclasses.dataclass(frozen=True)
class RunVerdict:
    """One row of the table: what a run on one CPU with one runtime showed."""

    cpu: str
    runtime: str
    outputs: str
    tests: str
    latency: str
    problems: tuple[str, ...] = ()


def compare_outputs(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> list[str]:
    """Every disagreement between two runs' outputs, each naming model, sample and value."""
    problems = [f"{name}: no output from this run" for name in sorted(set(expected) - set(actual))]
    problems += [f"{name}: not in the x86 run" for name in sorted(set(actual) - set(expected))]
    for name in sorted(set(expected) & set(actual)):
        want, got = expected[name], actual[name]
        if want.shape != got.shape or want.dtype != got.dtype:
            problems.append(
                f"{name}: expected {want.dtype}{list(want.shape)}, got {got.dtype}{list(got.shape)}"
            )
            continue
        diff = np.abs(want.astype(np.float64) - got.astype(np.float64))
        limit = FLOAT_TOLERANCE if np.issubdtype(want.dtype, np.floating) else 0.0
        bad = np.argwhere(~(diff <= limit))
        if len(bad):
            first = tuple(int(i) for i in bad[0])
            problems.append(
                f"{name}: sample {first[0]}, output {list(first[1:])}: expected {want[first]}, "
                f"got {got[first]} ({len(bad)} of {want.size} values differ, "
                f"max |diff| {np.nanmax(diff):.3g}, allowed {limit:g})"
            )
    return problems


def load_outputs(path: Path) -> dict[str, np.ndarray]:
    """The output arrays of one run, by model file name."""
    with np.load(path) as arrays:
        return {name: arrays[name] for name in arrays.files}


def describe_match(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> str:
    """`bit-identical` or the largest float difference, for a run that matched."""
    largest = max(
        float(np.max(np.abs(expected[n].astype(np.float64) - actual[n].astype(np.float64))))
        for n in expected
    )
    return "match, bit-identical" if largest == 0 else f"match, max |diff| {largest:.2g}"


def describe_latency(meta: dict) -> str:
    """Median single-sample latency per model, shortened: `float32 1.2 · int8 0.9 ms`."""
    parts = [
        f"{name.removeprefix('model_').removesuffix('.tflite')} {ms:.2f}"
        for name, ms in sorted(meta.get("latency_ms", {}).items())
    ]
    return " · ".join(parts) + " ms" if parts else "-"


def judge_tests(results: Path, label: str) -> tuple[str, bool]:
    """The edge tests' summary line, and whether they passed."""
    rc_file, log_file = results / f"{label}.tests.rc", results / f"{label}.tests.log"
    if not rc_file.exists():
        return "not run", False
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    lines = [line.strip("= ") for line in log.splitlines() if line.strip()]
    summary = lines[-1] if lines else "no output"
    if int(rc_file.read_text()) != 0:
        return f"FAILED: {summary}", False
    return summary, True


def judge_cpu(meta: dict) -> list[str]:
    """Problems with the CPU a run saw: qemu's `max` CPU (SME) instead of a Pi CPU."""
    if meta.get("machine") == "aarch64" and int(meta.get("hwcap2", 0)) & HWCAP2_SME:
        return ["CPU has SME: QEMU_CPU was not set to a Pi CPU (int8 outputs are then wrong)"]
    return []


def judge_run(results: Path, cpu: str, runtime: str, expected: dict[str, np.ndarray]) -> RunVerdict:
    """Compare one emulated run with the x86 run of the same runtime and check its tests."""
    label = f"{cpu}-{runtime}"
    outputs_file, meta_file = results / f"{label}.npz", results / f"{label}.json"
    tests, tests_ok = judge_tests(results, label)
    failed_tests = () if tests_ok else (f"edge tests {tests}",)
    if not outputs_file.exists() or not meta_file.exists():
        missing = ("predict wrote no outputs", *failed_tests)
        return RunVerdict(cpu, runtime, "MISSING", tests, "-", missing)
    meta = json.loads(meta_file.read_text())
    actual = load_outputs(outputs_file)
    problems = compare_outputs(expected, actual) + judge_cpu(meta)
    if meta.get("runtime") != runtime:
        problems.append(f"ran with {meta.get('runtime')}, not {runtime}")
    logs = [results / f"{label}.log", results / f"{label}.tests.log"]
    if any(CPUINFO_ERROR in p.read_text(errors="replace") for p in logs if p.exists()):
        problems.append(f"'{CPUINFO_ERROR}' printed: the runtime could not read the Pi's CPU")
    dotprod = " (dotprod)" if int(meta.get("hwcap", 0)) & HWCAP_ASIMDDP else ""
    outputs = f"MISMATCH ({len(problems)})" if problems else describe_match(expected, actual)
    latency = describe_latency(meta) + dotprod
    return RunVerdict(cpu, runtime, outputs, tests, latency, (*problems, *failed_tests))


def format_table(rows: list[RunVerdict]) -> str:
    """The closing table, one line per CPU × runtime, columns padded to fit."""
    header = ("CPU", "runtime", "outputs vs x86", "edge tests", "emulated latency (median)")
    cells = [header] + [(r.cpu, r.runtime, r.outputs, r.tests, r.latency) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def judge_results(results: Path, cpus: list[str], runtimes: list[str]) -> list[RunVerdict]:
    """One verdict per CPU × runtime, plus the x86 reference rows."""
    rows = []
    for runtime in runtimes:
        reference = results / f"x86-{runtime}.npz"
        if not reference.exists():
            raise SystemExit(f"device-check: no x86 reference outputs {reference}")
        meta = json.loads((results / f"x86-{runtime}.json").read_text())
        rows.append(
            RunVerdict("x86_64 (host)", runtime, "reference", "-", describe_latency(meta), True)
        )
        expected = load_outputs(reference)
        rows += [judge_run(results, cpu, runtime, expected) for cpu in cpus]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="folder written by device/check.sh")
    parser.add_argument("--cpus", required=True, help="comma-separated QEMU_CPU names")
    parser.add_argument("--runtimes", required=True, help="comma-separated runtime module names")
    args = parser.parse_args(argv)
    rows = judge_results(args.results, args.cpus.split(","), args.runtimes.split(","))
    print(format_table(rows))
    device_rows = [r for r in rows if r.cpu in args.cpus.split(",")]
    failed = [r for r in device_rows if r.problems]
    for row in failed:
        for problem in row.problems:
            print(f"FAIL {row.cpu} {row.runtime}: {problem}", file=sys.stderr)
    passed = len(device_rows) - len(failed)
    print(f"device-check: {passed} of {len(device_rows)} emulated Pi runs passed (outputs, tests)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
