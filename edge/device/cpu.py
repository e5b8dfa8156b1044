"""What this CPU is, read from /proc/cpuinfo at run time: its name and its int8 dot-product flags.

The speed of an int8 `.tflite` depends on the CPU: XNNPACK's int8 kernels gain from int8 dot
products (x86 `avx512_vnni` / `avx_vnni`, arm64 `asimddp`), and without them int8 can run slower
than float32. Reports and benchmarks print what they read here, never a CPU written as a constant.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

INT8_DOT_PRODUCT_FLAGS = ("avx512_vnni", "avx_vnni", "asimddp")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags (x86 `flags`, arm64 `Features`), or None where none can be read."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return None


def cpu_has(flag: str) -> bool | None:
    """Whether the CPU lists `flag`; None where the flags cannot be read (not Linux)."""
    flags = cpu_flags()
    return None if flags is None else flag in flags


def int8_dot_product() -> str:
    """E.g. `int8 dot product: avx512_vnni`, `int8 dot product: none of avx512_vnni avx_vnni
    asimddp` or `int8 dot product: unknown (no /proc/cpuinfo)`."""
    flags = cpu_flags()
    if flags is None:
        return "int8 dot product: unknown (no /proc/cpuinfo)"
    present = [flag for flag in INT8_DOT_PRODUCT_FLAGS if flag in flags]
    if present:
        return "int8 dot product: " + " ".join(present)
    return "int8 dot product: none of " + " ".join(INT8_DOT_PRODUCT_FLAGS)


def cpu_name() -> str:
    """The CPU's model name (x86 `model name`, else arm64's `CPU part` code, else the machine)."""
    try:
        lines = CPUINFO.read_text().splitlines()
    except OSError:
        lines = []
    fields = dict(line.partition(":")[::2] for line in lines if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    name = fields.get("model name") or (
        f"CPU part {fields['CPU part']}" if "CPU part" in fields else None
    )
    return name or platform.processor() or platform.machine()


def describe_cpu() -> str:
    """E.g. `AMD EPYC 7B13 (x86_64), 2 cores, int8 dot product: avx512_vnni`."""
    return f"{cpu_name()} ({platform.machine()}), {os.cpu_count()} cores, {int8_dot_product()}"
