"""Judge a device check: compare each emulated Raspberry Pi run with the x86 run, print the table.

A results folder holds, per run LABEL (`x86-RUNTIME` on the host, `CPU-RUNTIME` under qemu):
`LABEL.npz` (one output array per model file, keyed FOLDER/FILE, written by predict_set.py),
`LABEL.json` (runtime used, CPU feature bits, latencies), `LABEL.log` (everything the run printed)
and, for device runs, `LABEL.tests.log` / `LABEL.tests.rc` (the edge tests' output and exit code).
Float outputs must agree within 1e-5; integer (int8) outputs exactly, but for a rare value one
quantization step off (see INT_STEP_SHARE) that never changes a top class; an encrypted file's
outputs exactly equal its plain twin's in the same run. A deep int8 network (a folder passed with
--deep, the MobileNet) rounds differently per CPU family at every layer, so its int8 outputs are
held to a bound that quantization itself sets instead (see compare_deep). Emulated latencies are
reported, not judged.

    python device/compare.py RESULTS --cpus cortex-a53,cortex-a72 --runtimes ai_edge_litert \
        --deep mobilenet
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np

FLOAT_TOLERANCE = 1e-5
# int8 outputs must be exact but for this share of values one quantization step off. TFLite's
# optimized int8 kernels are not bit-exact across CPU families: with identical int8 logits,
# ai_edge_litert's int8 softmax rounds a rare output one step differently on arm64 than on x86.
# qemu's `max` CPU, whose SME emulation changes nearly every int8 value, is far past this share.
INT_STEP_SHARE = 0.01
# Printed by ai_edge_litert when it cannot read the CPU (no /sys, no cpuinfo): it then silently
# runs generic kernels, so the run says nothing about a Pi.
CPUINFO_ERROR = "Error in cpuinfo"
ENCRYPTED_SUFFIX = (
    ".enc"  # as edge.device.crypto.SUFFIX: model_int8.tflite.enc is model_int8.tflite
)
# A deep int8 network's outputs may be further from x86's than INT_STEP_SHARE allows: XNNPACK
# requantizes in float on x86 and with integer rounding on arm64, a step apart at any of ~50
# layers, and the differences compound (a briefly trained network's int8 file moves some values
# tens of steps on either CPU, and which near-ties flip differs per CPU family). So it is held to
# the float32 file as x86's int8 file is: its mean |int8 − float32| (in softmax steps) no more
# than x86's by DEEP_MARGIN_SHARE plus DEEP_MARGIN_STEPS, and no more samples off the float32
# file's top class than x86's int8 file has, but DEEP_EXTRA_SHARE of the samples (at least one).
DEEP_MARGIN_SHARE, DEEP_MARGIN_STEPS = 0.15, 0.5
DEEP_EXTRA_SHARE = 0.02
FLOAT_TWIN = "model_float32.tflite"
PRUNED, PRUNED_FLOAT_TWIN = "model_pruned_", "model_pruned_float32.tflite"  # a pruned file's twin
# The converter fixes an int8 softmax output's quantization: p = (q + 128) / 256.
SOFTMAX_SCALE, SOFTMAX_ZERO_POINT = 1 / 256, -128
PYTEST_SUMMARY = re.compile(r"\b\d+ (passed|failed|error)")
HWCAP_ASIMDDP = 1 << 20  # dot-product instructions: Pi 5 (Cortex-A76) has them, Pi 3/4 do not
HWCAP2_SME = 1 << 23  # qemu's default CPU "max" has SME, no Pi does, and int8 outputs go wrong


@dataclasses.dataclass(frozen=True)
class RunVerdict:
    """One row of the table: what a run on one CPU with one runtime showed."""

    cpu: str
    runtime: str
    outputs: str
    tests: str
    features: str
    latency: str
    problems: tuple[str, ...] = ()


def compare_outputs(
    expected: dict[str, np.ndarray], actual: dict[str, np.ndarray], deep: tuple[str, ...] = ()
) -> list[str]:
    """Every disagreement between two runs' outputs, each naming model, sample and value;
    int8 files in the folders `deep` are judged by compare_deep."""
    problems = [f"{name}: no output from this run" for name in sorted(set(expected) - set(actual))]
    problems += [f"{name}: not in the x86 run" for name in sorted(set(actual) - set(expected))]
    for name in sorted(set(expected) & set(actual)):
        want, got = expected[name], actual[name]
        if want.shape != got.shape or want.dtype != got.dtype:
            problems.append(
                f"{name}: expected {want.dtype}{list(want.shape)}, got {got.dtype}{list(got.shape)}"
            )
        elif np.issubdtype(want.dtype, np.floating):
            problems += compare_beyond(name, want, got, FLOAT_TOLERANCE)
        elif name.split("/")[0] in deep:
            problems += compare_deep(name, expected, actual)
        else:
            problems += compare_beyond(name, want, got, 1) + compare_steps(name, want, got)
    return problems


def compare_deep(
    name: str, expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]
) -> list[str]:
    """A deep int8 network, held to its float32 twin as x86's int8 file is (DEEP_MARGIN_*,
    DEEP_EXTRA_SHARE). The twin is the folder's float32 file of the same weights, run on the same
    CPU (a pruned file's is the pruned float32)."""
    folder, file = name.rsplit("/", 1)
    twin = f"{folder}/{PRUNED_FLOAT_TWIN if file.startswith(PRUNED) else FLOAT_TWIN}"
    if twin not in expected or twin not in actual:
        return [f"{name}: no {twin} outputs to bound its quantization error by"]
    problems = []
    x86_off, here_off = (off_float_top(run[name], run[twin]) for run in (expected, actual))
    allowed = x86_off + max(1, round(DEEP_EXTRA_SHARE * len(expected[name])))
    if here_off > allowed:
        problems.append(
            f"{name}: {here_off} samples off its float32 twin's top class, x86's {x86_off} "
            f"(allowed: {allowed})"
        )
    x86, here = (steps_from_float(run[name], run[twin]) for run in (expected, actual))
    bound = x86 * (1 + DEEP_MARGIN_SHARE) + DEEP_MARGIN_STEPS
    if here > bound:
        problems.append(
            f"{name}: mean {here:.3f} steps from its float32 twin, x86's are {x86:.3f} "
            f"(allowed: {bound:.3f})"
        )
    return problems


def off_float_top(quantized: np.ndarray, probabilities: np.ndarray) -> int:
    """How many samples' int8 top class is not the float32 file's."""
    flat_q, flat_p = (a.reshape(len(a), -1) for a in (quantized, probabilities))
    return int(np.sum(flat_q.argmax(axis=1) != flat_p.argmax(axis=1)))


def steps_from_float(quantized: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean |int8 output − float32 probability| in softmax quantization steps."""
    steps = probabilities.astype(np.float64) / SOFTMAX_SCALE + SOFTMAX_ZERO_POINT
    return float(np.mean(np.abs(quantized.astype(np.float64) - steps)))


def compare_encrypted(actual: dict[str, np.ndarray]) -> list[str]:
    """An encrypted file's outputs must be exactly its plain twin's in the same run: the same
    model bytes, decrypted in memory."""
    problems = []
    for name in sorted(n for n in actual if n.endswith(ENCRYPTED_SUFFIX)):
        plain = actual.get(name.removesuffix(ENCRYPTED_SUFFIX))
        if plain is None:
            problems.append(f"{name}: no output of its plain twin to compare with")
        elif plain.dtype != actual[name].dtype or not np.array_equal(plain, actual[name]):
            problems.append(f"{name}: outputs differ from the plain file's")
    return problems


def compare_beyond(name: str, want: np.ndarray, got: np.ndarray, limit: float) -> list[str]:
    """The first value (and how many) further than `limit` from x86; NaN counts as far."""
    diff = np.abs(want.astype(np.float64) - got.astype(np.float64))
    bad = np.argwhere(~(diff <= limit))
    if not len(bad):
        return []
    first = tuple(int(i) for i in bad[0])
    return [
        f"{name}: sample {first[0]}, output {list(first[1:])}: expected {want[first]}, got "
        f"{got[first]} ({len(bad)} of {want.size} values differ by more than {limit:g})"
    ]


def compare_steps(name: str, want: np.ndarray, got: np.ndarray) -> list[str]:
    """Integer outputs one step off: allowed only rarely, and never changing a top class."""
    problems = []
    stepped = int(np.sum(want.astype(np.int64) != got.astype(np.int64)))
    if stepped > INT_STEP_SHARE * want.size:
        problems.append(
            f"{name}: {stepped} of {want.size} values one step off, more than the "
            f"{INT_STEP_SHARE:.0%} that arm64 kernel rounding explains"
        )
    return problems + compare_top_classes(name, want, got)


def compare_top_classes(name: str, want: np.ndarray, got: np.ndarray) -> list[str]:
    """Every sample whose top class here is not x86's (a tie with it counts as a change)."""
    return [problem for _, problem in top_class_changes(name, want, got)]


def top_class_changes(name: str, want: np.ndarray, got: np.ndarray) -> list[tuple[int, str]]:
    """(sample, problem) for each sample whose top class here is not x86's (a tie counts)."""
    flat_want, flat_got = want.reshape(len(want), -1), got.reshape(len(got), -1)
    top = flat_want.argmax(axis=1)
    changed = np.flatnonzero(flat_got[np.arange(len(top)), top] < flat_got.max(axis=1))
    return [
        (int(s), f"{name}: sample {s}: top class {top[s]} on x86, {flat_got[s].argmax()} here")
        for s in changed
    ]


def describe_match(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> str:
    """`bit-identical`, or the largest float difference and how many int8 values are off."""
    notes = []
    floats = [n for n in expected if np.issubdtype(expected[n].dtype, np.floating)]
    largest = max((float(np.max(np.abs(expected[n] - actual[n]))) for n in floats), default=0.0)
    if largest:
        notes.append(f"float |diff| ≤ {largest:.2g}")
    steps = sum(int(np.sum(expected[n] != actual[n])) for n in expected if n not in floats)
    if steps:
        size = sum(expected[n].size for n in expected if n not in floats)
        notes.append(f"int8 {steps}/{size} values off")
    return "match, " + (", ".join(notes) if notes else "bit-identical")


def load_outputs(path: Path) -> dict[str, np.ndarray]:
    """The output arrays of one run, by model file name."""
    with np.load(path, allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def describe_latency(meta: dict) -> str:
    """Median single-sample latency per model in µs, shortened: `digits/float32 120 · …`."""
    parts = []
    for name, ms in sorted(meta.get("latency_ms", {}).items()):
        us = ms * 1000
        short = name.replace("model_", "").replace(".tflite", "")  # digits/int8, digits/int8.enc
        parts.append(f"{short} {us:.0f}" if us >= 100 else f"{short} {us:.3g}")
    return " · ".join(parts) if parts else "-"


def judge_tests(results: Path, label: str) -> tuple[str, bool]:
    """The edge tests' summary line, and whether they passed."""
    rc_file, log_file = results / f"{label}.tests.rc", results / f"{label}.tests.log"
    if not rc_file.exists():
        return "not run", False
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    # pytest's last line, not what the runtime prints as it exits (LiteRT's "INFO: ... Destroy")
    lines = [line.strip("= ") for line in log.splitlines() if line.strip()]
    summaries = [line for line in lines if PYTEST_SUMMARY.search(line)]
    summary = (summaries or lines or ["no output"])[-1]
    if int(rc_file.read_text()) != 0:
        return f"FAILED: {summary}", False
    return summary, True


def judge_cpu(meta: dict) -> list[str]:
    """Problems with the CPU a run saw: qemu's `max` CPU (SME) instead of a Pi CPU."""
    if meta.get("machine") == "aarch64" and int(meta.get("hwcap2", 0)) & HWCAP2_SME:
        return ["CPU has SME: QEMU_CPU was not set to a Pi CPU (int8 outputs are then wrong)"]
    return []


def describe_features(meta: dict) -> str:
    """The CPU features that tell the emulated Pis apart (and qemu's `max` from a Pi)."""
    hwcap, hwcap2 = int(meta.get("hwcap", 0)), int(meta.get("hwcap2", 0))
    return ", ".join(
        [
            "dotprod" if hwcap & HWCAP_ASIMDDP else "no dotprod",
            "SME" if hwcap2 & HWCAP2_SME else "no SME",
        ]
    )


def judge_run(
    results: Path,
    cpu: str,
    runtime: str,
    expected: dict[str, np.ndarray],
    deep: tuple[str, ...] = (),
) -> RunVerdict:
    """Compare one emulated run with the x86 run of the same runtime and check its tests."""
    label = f"{cpu}-{runtime}"
    outputs_file, meta_file = results / f"{label}.npz", results / f"{label}.json"
    tests, tests_ok = judge_tests(results, label)
    failed_tests = () if tests_ok else (f"edge tests {tests}",)
    if not outputs_file.exists() or not meta_file.exists():
        missing = ("predict wrote no outputs", *failed_tests)
        return RunVerdict(cpu, runtime, "MISSING", tests, "-", "-", missing)
    meta = json.loads(meta_file.read_text())
    actual = load_outputs(outputs_file)
    problems = compare_outputs(expected, actual, deep) + compare_encrypted(actual) + judge_cpu(meta)
    if meta.get("runtime") != runtime:
        problems.append(f"ran with {meta.get('runtime')}, not {runtime}")
    logs = [results / f"{label}.log", results / f"{label}.tests.log"]
    if any(CPUINFO_ERROR in p.read_text(errors="replace") for p in logs if p.exists()):
        problems.append(f"'{CPUINFO_ERROR}' printed: the runtime could not read the Pi's CPU")
    outputs = f"MISMATCH ({len(problems)})" if problems else describe_match(expected, actual)
    features = describe_features(meta)
    latency = describe_latency(meta)
    return RunVerdict(cpu, runtime, outputs, tests, features, latency, (*problems, *failed_tests))


def format_table(rows: list[RunVerdict]) -> str:
    """The closing table, one line per CPU × runtime, columns padded to fit."""
    header = ("CPU", "runtime", "outputs vs x86", "edge tests", "CPU features", "µs per sample")
    cells = [header] + [(r.cpu, r.runtime, r.outputs, r.tests, r.features, r.latency) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def judge_results(
    results: Path, cpus: list[str], runtimes: list[str], deep: tuple[str, ...] = ()
) -> list[RunVerdict]:
    """One verdict per CPU × runtime, plus the x86 reference rows."""
    rows = []
    for runtime in runtimes:
        reference = results / f"x86-{runtime}.npz"
        if not reference.exists():
            raise SystemExit(f"device-check: no x86 reference outputs {reference}")
        meta = json.loads((results / f"x86-{runtime}.json").read_text())
        if meta.get("runtime") != runtime:
            raise SystemExit(
                f"device-check: the x86 reference ran {meta.get('runtime')}, not {runtime}"
            )
        latency = describe_latency(meta)
        rows.append(RunVerdict("x86_64 (host)", runtime, "reference", "-", "-", latency))
        expected = load_outputs(reference)
        rows += [judge_run(results, cpu, runtime, expected, deep) for cpu in cpus]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="folder written by device/check.sh")
    parser.add_argument("--cpus", required=True, help="comma-separated QEMU_CPU names")
    parser.add_argument("--runtimes", required=True, help="comma-separated runtime module names")
    parser.add_argument(
        "--deep", default="", help="comma-separated model folders of deep int8 networks"
    )
    args = parser.parse_args(argv)
    deep = tuple(filter(None, args.deep.split(",")))
    rows = judge_results(args.results, args.cpus.split(","), args.runtimes.split(","), deep)
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
