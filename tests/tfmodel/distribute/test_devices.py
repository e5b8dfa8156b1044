"""TPU detection on faked /dev and /sys trees: PCI IDs decide, device files alone never do."""

from pathlib import Path

import pytest

from tfmodel.backend import tf
from tfmodel.distribute.devices import scan_tpus
from tfmodel.distribute.inventory import LocalDevices
from tfmodel.distribute.strategies import describe, make_strategy
from tfmodel.errors import UserError

TPU_V5E = ("0x1ae0", "0x0063")
TPU_V4 = ("0x1ae0", "0x005e")
GVNIC = ("0x1ae0", "0x0042")  # Google's virtual NIC: Google's vendor ID, not a TPU
INTEL_NPU = ("0x8086", "0x7d1d")
AMD_NPU = ("0x1022", "0x1502")
GAUDI = ("0x1da3", "0x1020")
NVIDIA = ("0x10de", "0x2330")


def fake_machine(
    root: Path,
    pci: dict[str, tuple[str, str]],
    accel: dict[str, str] | None = None,
    vfio: dict[str, list[str]] | None = None,
    libtpu: bool = False,
) -> Path:
    """A /sys and /dev tree: PCI functions, /dev/accelN → PCI, /dev/vfio/N → IOMMU group members."""
    devices = root / "sys/bus/pci/devices"
    for address, (vendor, device) in pci.items():
        folder = root / "sys/devices/pci0000:00" / address
        folder.mkdir(parents=True)
        (folder / "vendor").write_text(vendor + "\n")
        (folder / "device").write_text(device + "\n")
        devices.mkdir(parents=True, exist_ok=True)
        (devices / address).symlink_to(folder)
    for name, address in (accel or {}).items():
        (root / "dev").mkdir(exist_ok=True)
        (root / "dev" / name).touch()
        (root / "sys/class/accel" / name).mkdir(parents=True)
        (root / "sys/class/accel" / name / "device").symlink_to(devices / address)
    for group, members in (vfio or {}).items():
        (root / "dev/vfio").mkdir(parents=True, exist_ok=True)
        (root / "dev/vfio" / group).touch()
        folder = root / "sys/kernel/iommu_groups" / group / "devices"
        folder.mkdir(parents=True)
        for address in members:
            (folder / address).symlink_to(devices / address)
    if libtpu:
        (root / "lib").mkdir(exist_ok=True)
        (root / "lib/libtpu.so").write_bytes(b"\x7fELF")
    return root


class Connected(LocalDevices):
    """The real OS probe on a faked tree; connecting records the address and fails or stands in."""

    def __init__(self, root: Path, fail: bool = False) -> None:
        super().__init__(root, environ={})
        self.fail, self.connected = fail, []

    def cpus(self):
        return ["/device:CPU:0"]

    def gpus(self):
        return []

    def connect_tpu(self, address):
        self.connected.append(address)
        if self.fail:
            raise UserError("--tpu local: the TPU was found but TensorFlow could not initialise it")
        return tf.distribute.OneDeviceStrategy("/cpu:0")


@pytest.mark.parametrize(
    "machine, chips, others",
    [
        ({"pci": {"0000:00:04.0": TPU_V5E, "0000:00:05.0": TPU_V5E}, "libtpu": True}, 2, []),
        (  # TPU v4 VM: chips show up as /dev/accelN, which trace back to the TPU
            {"pci": {"0000:00:04.0": TPU_V4}, "accel": {"accel0": "0000:00:04.0"}},
            1,
            [],
        ),
        (  # Intel Core Ultra laptop: the NPU is /dev/accel/accel0 in newer kernels, accel0 here
            {"pci": {"0000:00:0b.0": INTEL_NPU}, "accel": {"accel0": "0000:00:0b.0"}},
            0,
            ["/dev/accel0 is Intel 0x8086:0x7d1d"],
        ),
        (
            {"pci": {"0000:c5:00.1": AMD_NPU}, "accel": {"accel0": "0000:c5:00.1"}},
            0,
            ["/dev/accel0 is AMD 0x1022:0x1502"],
        ),
        (
            {"pci": {"0000:19:00.0": GAUDI}, "accel": {"accel0": "0000:19:00.0"}},
            0,
            ["/dev/accel0 is Habana 0x1da3:0x1020"],
        ),
        (  # a GPU passed through with VFIO, and Google's virtual NIC on the bus
            {
                "pci": {"0000:3b:00.0": NVIDIA, "0000:00:04.0": GVNIC},
                "vfio": {"7": ["0000:3b:00.0"]},
            },
            0,
            ["/dev/vfio/7 is NVIDIA 0x10de:0x2330"],
        ),
        (  # TPU v5e VM: chips reached through VFIO groups
            {"pci": {"0000:00:04.0": TPU_V5E}, "vfio": {"0": ["0000:00:04.0"]}, "libtpu": True},
            1,
            [],
        ),
        ({"pci": {}}, 0, []),
    ],
)
def test_a_tpu_is_known_by_its_pci_ids_not_by_device_files(tmp_path, machine, chips, others):
    scan = scan_tpus(fake_machine(tmp_path, **machine), environ={})
    assert len(scan.chips) == chips
    assert scan.others == others
    assert scan.usable == (chips > 0 and machine.get("libtpu", False))


def test_tpu_chips_without_the_runtime_are_found_but_not_usable(tmp_path):
    scan = scan_tpus(fake_machine(tmp_path, {"0000:00:04.0": TPU_V5E}), environ={})
    assert not scan.usable
    assert "1 TPU chip(s) (TPU v5e) on the PCI bus but no TPU runtime (libtpu)" in scan.describe()
    runtime = tmp_path / "opt/libtpu.so"
    runtime.parent.mkdir()
    runtime.write_bytes(b"\x7fELF")
    scan = scan_tpus(tmp_path, environ={"TPU_LIBRARY_PATH": str(runtime)})
    assert scan.usable and str(runtime) in scan.describe()


@pytest.mark.parametrize(
    "machine, why",
    [
        (
            {"pci": {"0000:00:0b.0": INTEL_NPU}, "accel": {"accel0": "0000:00:0b.0"}},
            "/dev/accel0 is Intel 0x8086:0x7d1d: not a TPU",
        ),
        ({"pci": {"0000:00:04.0": TPU_V5E}}, "no TPU runtime (libtpu)"),
    ],
)
def test_auto_falls_back_in_one_line_when_the_tpu_is_not_one(tmp_path, machine, why):
    devices = Connected(fake_machine(tmp_path, **machine))
    info = make_strategy("auto", devices=devices)
    assert (info.kind, info.is_tpu, devices.connected) == ("default", False, [])
    first, second = describe(info).splitlines()
    assert first.startswith("strategy auto: not using a TPU (") and why in first
    assert second == "strategy auto → the default strategy: 1 replica on CPU:0"
    with pytest.raises(UserError, match="--strategy auto"):
        make_strategy("tpu", devices=devices)


def test_auto_falls_back_when_a_found_tpu_cannot_be_initialised(tmp_path):
    devices = Connected(fake_machine(tmp_path, {"0000:00:04.0": TPU_V5E}, libtpu=True), fail=True)
    info = make_strategy("auto", devices=devices)
    assert devices.connected == ["local"] and not info.is_tpu
    assert "could not initialise it" in describe(info).splitlines()[0]
    with pytest.raises(UserError, match="could not initialise"):
        make_strategy("tpu", devices=devices)


def test_auto_uses_a_real_looking_tpu_and_says_nothing_else(tmp_path):
    devices = Connected(fake_machine(tmp_path, {"0000:00:04.0": TPU_V5E}, libtpu=True))
    info = make_strategy("auto", devices=devices)
    assert info.is_tpu and devices.connected == ["local"]
    assert describe(info) == "strategy auto → TPUStrategy: 1 replica on CPU:0"


def test_a_plain_machine_gives_no_fallback_line(tmp_path):
    info = make_strategy("auto", devices=Connected(fake_machine(tmp_path, {})))
    assert describe(info) == "strategy auto → the default strategy: 1 replica on CPU:0"
