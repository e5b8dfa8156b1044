"""What hardware this process can use: TensorFlow's CPUs and GPUs, and how a TPU answers.

`make_strategy` (tfmodel.distribute.strategies) asks a `DeviceInventory`; `LocalDevices` is the real
one, and tests pass fakes. Looking for a TPU takes at most a few seconds and never a stack trace:
the local machine's PCI bus is read through `tfmodel.distribute.devices`, a `grpc://` worker gets
one TCP connect, and a Cloud TPU name is resolved on a thread that is given NAME_TIMEOUT_S.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from pathlib import Path
from typing import Any, Protocol

from tfmodel.backend import tf
from tfmodel.distribute.devices import scan_tpus
from tfmodel.errors import UserError, first_line

PROBE_TIMEOUT_S = 5.0  # a TPU worker at grpc://host:port answers a TCP connect at once
NAME_TIMEOUT_S = 20.0  # resolving a TPU name asks the GCE metadata server and the Cloud TPU API


@dataclasses.dataclass(frozen=True)
class TpuProbe:
    """Whether a TPU looks reachable at an address, and what was checked or found.

    `suspect` marks a near miss worth one line when `--strategy auto` moves on: TPU chips without
    the runtime, or accelerator device files that turned out not to be TPUs.
    """

    found: bool
    detail: str
    suspect: bool = False


class DeviceInventory(Protocol):
    """What hardware this process can use; `LocalDevices` asks TensorFlow and the OS."""

    def cpus(self) -> list[str]: ...

    def gpus(self) -> list[str]: ...

    def find_tpu(self, address: str) -> TpuProbe: ...

    def connect_tpu(self, address: str) -> tf.distribute.Strategy: ...


class LocalDevices:
    """The devices TensorFlow sees in this process, and TPUs found through the OS under `root`."""

    def __init__(self, root: Path = Path("/"), environ: dict[str, str] | None = None) -> None:
        self.root = root
        self.environ = environ

    def cpus(self) -> list[str]:
        return [device.name for device in tf.config.list_logical_devices("CPU")]

    def gpus(self) -> list[str]:
        return [device.name for device in tf.config.list_logical_devices("GPU")]

    def find_tpu(self, address: str) -> TpuProbe:
        """Look without touching TensorFlow or the network for longer than a few seconds."""
        if address == "local":
            scan = scan_tpus(self.root, self.environ)
            return TpuProbe(scan.usable, scan.describe(), suspect=bool(scan.chips or scan.others))
        if address.startswith("grpc://"):
            host, _, port = address.removeprefix("grpc://").rpartition(":")
            try:
                socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S).close()
            except (OSError, ValueError) as err:
                return TpuProbe(False, f"no answer at {address} ({err})")
            return TpuProbe(True, f"a TPU worker answering at {address}")
        return TpuProbe(True, f"Cloud TPU name {address!r}, resolved through the Cloud TPU API")

    def connect_tpu(self, address: str) -> tf.distribute.Strategy:
        """Resolve, connect, initialise the TPU system and return a TPUStrategy over its cores."""
        resolver = _resolve_tpu(address)
        try:
            if address != "local":
                tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        except (tf.errors.OpError, RuntimeError, ValueError) as err:
            raise UserError(
                f"--tpu {address}: the TPU was found but TensorFlow could not initialise it "
                f"({first_line(err)}). On a TPU VM use a TensorFlow TPU software version "
                "(tpu-vm-tf-2.x-pjrt) so TensorFlow has TPU support, or pass --strategy auto"
            ) from None


def _resolve_tpu(address: str) -> Any:
    """A TPUClusterResolver, given at most NAME_TIMEOUT_S: names need the metadata server."""
    outcome: dict[str, Any] = {}

    def resolve() -> None:
        try:
            outcome["resolver"] = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        except Exception as err:  # any failure means "no TPU by that name"
            outcome["error"] = err

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(NAME_TIMEOUT_S)
    if "resolver" in outcome:
        return outcome["resolver"]
    reason = (
        first_line(outcome["error"])
        if "error" in outcome
        else f"no answer in {NAME_TIMEOUT_S:.0f} s"
    )
    raise UserError(
        f"--tpu {address}: could not resolve this TPU ({reason}). A TPU name works only on Google "
        "Cloud; elsewhere pass --tpu grpc://10.x.x.x:8470, or run with --strategy auto"
    )
