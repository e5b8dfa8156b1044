"""What accelerators the operating system shows, read from `/sys` and `/dev` without TensorFlow.

A TPU chip is a PCI device with Google's vendor ID (0x1ae0) and one of the TPU device IDs (the
table JAX and PyTorch/XLA use). Device files alone prove nothing: `/dev/accel*` is the kernel's
accelerator class (Intel and AMD NPUs, Habana Gaudi, TPU v2-v4) and `/dev/vfio/N` is any PCI device
passed through to user space (TPU v5e and later, but also NICs and GPUs), so each is traced back to
its PCI IDs before it counts. TensorFlow drives TPU chips only through the TPU runtime `libtpu`,
which is looked for where TensorFlow looks: `$TPU_LIBRARY_PATH`, the `libtpu` package, `/lib`.
`root` is `/` on a real machine; tests pass a faked tree.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path

GOOGLE_PCI_VENDOR = "0x1ae0"
TPU_PCI_DEVICES = {
    "0x0027": "v2/v3",
    "0x0056": "v4 (plc)",
    "0x005e": "v4",
    "0x0062": "v5p",
    "0x0063": "v5e",
    "0x006f": "v6e",
    "0x0076": "v7",
}
# Vendors worth naming when their device sits where a TPU could (/dev/accel*, a VFIO group).
PCI_VENDORS = {
    "0x8086": "Intel",
    "0x1022": "AMD",
    "0x1002": "AMD",
    "0x1da3": "Habana",
    "0x10de": "NVIDIA",
    GOOGLE_PCI_VENDOR: "Google",
}
LIBTPU_FILES = ("lib/libtpu.so", "usr/lib/libtpu.so", "usr/local/lib/libtpu.so")


@dataclasses.dataclass(frozen=True)
class PciDevice:
    """One PCI function as sysfs shows it."""

    address: str  # e.g. 0000:00:04.0
    vendor: str  # e.g. 0x1ae0
    device: str  # e.g. 0x0063

    @property
    def is_tpu(self) -> bool:
        return self.vendor == GOOGLE_PCI_VENDOR and self.device in TPU_PCI_DEVICES

    def describe(self) -> str:
        """`Intel 0x8086:0x7d1d`, or `TPU v5e` for a TPU chip."""
        if self.is_tpu:
            return f"TPU {TPU_PCI_DEVICES[self.device]}"
        vendor = PCI_VENDORS.get(self.vendor, "vendor")
        return f"{vendor} {self.vendor}:{self.device}"


@dataclasses.dataclass(frozen=True)
class TpuScan:
    """The TPU chips on the PCI bus, where TensorFlow's TPU runtime is, and the other candidates."""

    chips: list[PciDevice]
    libtpu: Path | None
    others: list[str]  # device files that look like accelerators but are not TPUs, explained

    @property
    def usable(self) -> bool:
        return bool(self.chips) and self.libtpu is not None

    def describe(self) -> str:
        """One phrase: what was found and, when it is not a usable TPU, why."""
        if self.chips:
            kinds = sorted({chip.describe() for chip in self.chips})
            found = f"{len(self.chips)} TPU chip(s) ({', '.join(kinds)}) on the PCI bus"
            if self.libtpu is None:
                return (
                    f"{found} but no TPU runtime (libtpu) for TensorFlow: not in "
                    "$TPU_LIBRARY_PATH, the libtpu package or /lib"
                )
            return f"{found}, runtime {self.libtpu}"
        found = f"no TPU on the PCI bus (no vendor {GOOGLE_PCI_VENDOR} device with a TPU ID)"
        if self.others:
            found += f"; {', '.join(self.others)}: not a TPU"
        return found


def scan_tpus(root: Path = Path("/"), environ: dict[str, str] | None = None) -> TpuScan:
    """TPU chips and libtpu under `root`, and why accelerator files found are not TPUs."""
    environ = os.environ if environ is None else environ
    chips = [device for device in pci_devices(root) if device.is_tpu]
    return TpuScan(chips, find_libtpu(root, environ), _other_accelerators(root))


def pci_devices(root: Path) -> list[PciDevice]:
    """Every PCI function under `<root>/sys/bus/pci/devices`, sorted by address."""
    found = []
    for folder in sorted((root / "sys/bus/pci/devices").glob("*")):
        device = _read_pci(folder)
        if device is not None:
            found.append(device)
    return found


def find_libtpu(root: Path, environ: dict[str, str]) -> Path | None:
    """The TPU runtime TensorFlow would load: $TPU_LIBRARY_PATH, the libtpu package, or /lib."""
    if environ.get("TPU_LIBRARY_PATH"):
        path = Path(environ["TPU_LIBRARY_PATH"])
        return path if path.is_file() else None
    candidates = [root / name for name in LIBTPU_FILES]
    if root == Path("/"):
        spec = importlib.util.find_spec("libtpu")
        for folder in (spec.submodule_search_locations or []) if spec else []:
            candidates.insert(0, Path(folder) / "libtpu.so")
    return next((path for path in candidates if path.is_file()), None)


def _read_pci(folder: Path) -> PciDevice | None:
    try:
        vendor = (folder / "vendor").read_text().strip().lower()
        device = (folder / "device").read_text().strip().lower()
    except OSError:
        return None
    return PciDevice(folder.resolve().name, vendor, device)


def _other_accelerators(root: Path) -> list[str]:
    """`/dev/accel0 is Intel 0x8086:0x643e`-style notes for accelerator files that are not TPUs."""
    notes = []
    accel = sorted((root / "dev").glob("accel*")) + sorted((root / "dev/accel").glob("accel*"))
    for path in accel:
        if path.is_dir():
            continue
        pci = _read_pci(root / "sys/class/accel" / path.name / "device")
        notes.append((path, pci))
    for path in sorted((root / "dev/vfio").glob("[0-9]*")):
        members = sorted((root / "sys/kernel/iommu_groups" / path.name / "devices").glob("*"))
        for member in members or [None]:
            notes.append((path, _read_pci(member) if member else None))
    return [
        f"/{path.relative_to(root)} is {pci.describe() if pci else 'an unknown device'}"
        for path, pci in notes
        if pci is None or not pci.is_tpu
    ]
