"""Strategy selection with faked hardware, the real no-TPU/no-GPU errors here, and the helpers."""

import dataclasses
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from tfmodel.backend import keras, tf
from tfmodel.distribute.devices import scan_tpus
from tfmodel.distribute.inventory import TpuProbe
from tfmodel.distribute.strategies import (
    StrategyInfo,
    describe,
    global_batch_size,
    learning_rate_scale,
    make_strategy,
    precision_policy,
    steps_per_execution,
)
from tfmodel.errors import UserError

HAS_TPU = bool(scan_tpus().chips)


@dataclasses.dataclass
class FakeDevices:
    """A machine with `gpu_count` GPUs, `cpu_count` logical CPUs and maybe a TPU."""

    gpu_count: int = 0
    tpu: bool = False
    cpu_count: int = 1
    connected: list = dataclasses.field(default_factory=list)

    def cpus(self):
        return [f"/device:CPU:{i}" for i in range(self.cpu_count)]

    def gpus(self):
        return [f"/device:GPU:{i}" for i in range(self.gpu_count)]

    def find_tpu(self, address):
        return TpuProbe(self.tpu, f"a TPU at {address}" if self.tpu else "no TPU (faked)")

    def connect_tpu(self, address):
        self.connected.append(address)
        return tf.distribute.OneDeviceStrategy("/cpu:0")  # stands in for a TPUStrategy


# name, fake machine, --gpus → kind, strategy class, devices
SELECTIONS = [
    ("auto", FakeDevices(gpu_count=2, tpu=True), None, "tpu", "OneDeviceStrategy", ["CPU:0"]),
    ("auto", FakeDevices(gpu_count=2), None, "mirrored", "MirroredStrategy", ["GPU:0", "GPU:1"]),
    # One device where TensorFlow places ops anyway: no wrapper at all (the default strategy).
    ("auto", FakeDevices(gpu_count=2), 1, "default", "_DefaultDistributionStrategy", ["GPU:0"]),
    ("auto", FakeDevices(gpu_count=1), None, "default", "_DefaultDistributionStrategy", ["GPU:0"]),
    ("auto", FakeDevices(cpu_count=2), None, "default", "_DefaultDistributionStrategy", ["CPU:0"]),
    ("cpu", FakeDevices(), None, "default", "_DefaultDistributionStrategy", ["CPU:0"]),
    # The CPU while a GPU is there: only OneDeviceStrategy keeps the work off the GPU.
    ("cpu", FakeDevices(gpu_count=2, tpu=True), None, "one_device", "OneDeviceStrategy", ["CPU:0"]),
    (
        "gpu",
        FakeDevices(gpu_count=2, tpu=True),
        None,
        "mirrored",
        "MirroredStrategy",
        ["GPU:0", "GPU:1"],
    ),
    ("gpu", FakeDevices(gpu_count=3), 2, "mirrored", "MirroredStrategy", ["GPU:0", "GPU:1"]),
    ("gpu", FakeDevices(gpu_count=1), None, "default", "_DefaultDistributionStrategy", ["GPU:0"]),
    ("tpu", FakeDevices(gpu_count=2, tpu=True), None, "tpu", "OneDeviceStrategy", ["CPU:0"]),
    (
        "mirrored",
        FakeDevices(gpu_count=2, cpu_count=2),
        None,
        "mirrored",
        "MirroredStrategy",
        ["GPU:0", "GPU:1"],
    ),
    (
        "mirrored",
        FakeDevices(cpu_count=2),
        None,
        "mirrored",
        "MirroredStrategy",
        ["CPU:0", "CPU:1"],
    ),
    (
        "mirrored",
        FakeDevices(gpu_count=1, tpu=True),
        None,
        "mirrored",
        "MirroredStrategy",
        ["GPU:0"],
    ),
]


@pytest.mark.parametrize("name, machine, gpus, kind, cls, devices", SELECTIONS)
def test_selection_follows_the_rules_for_each_machine(name, machine, gpus, kind, cls, devices):
    info = make_strategy(name, gpus=gpus, devices=machine)
    assert (info.name, info.kind, type(info.strategy).__name__) == (name, kind, cls)
    assert list(info.devices) == devices
    assert info.num_replicas == len(devices) == info.strategy.num_replicas_in_sync
    assert info.is_tpu == (kind == "tpu")
    assert machine.connected == (["local"] if kind == "tpu" else [])


def test_auto_and_tpu_use_the_tpu_address_given():
    machine = FakeDevices(tpu=True)
    make_strategy("tpu", tpu="grpc://10.0.0.2:8470", devices=machine)
    assert machine.connected == ["grpc://10.0.0.2:8470"]


def test_missing_tpu_names_what_was_looked_for_found_and_the_fix():
    machine = FakeDevices(gpu_count=1)
    with pytest.raises(UserError) as err:
        make_strategy("tpu", devices=machine)
    message = str(err.value)
    for part in (
        "--tpu local",
        "no TPU (faked)",
        "CPU:0, GPU:0",
        "Cloud TPU VM",
        "grpc://",
        "--strategy auto",
    ):
        assert part in message
    assert machine.connected == []


@pytest.mark.parametrize(
    "name, machine, gpus, expected",
    [
        ("gpu", FakeDevices(), None, ["no GPU", "CPU:0 (no GPU)", "--strategy auto"]),
        ("gpu", FakeDevices(), 2, ["no GPU", "nvidia-smi"]),
        ("gpu", FakeDevices(gpu_count=1), 2, ["--gpus 2", "1 GPU(s): GPU:0", "at most 1"]),
        ("mirrored", FakeDevices(), 2, ["--gpus 2", "no GPU"]),
        ("auto", FakeDevices(gpu_count=1), 0, ["--gpus 0", "1 or more"]),
        ("cuda", FakeDevices(), None, ["'cuda'", "auto, cpu, gpu, tpu, mirrored, multi_worker"]),
    ],
)
def test_impossible_requests_are_user_errors(name, machine, gpus, expected):
    with pytest.raises(UserError) as err:
        make_strategy(name, gpus=gpus, devices=machine)
    for part in expected:
        assert part in str(err.value)


@pytest.mark.parametrize(
    "tf_config, expected",
    [
        (None, ["TF_CONFIG", "is unset", "--worker-hosts", "--task-index"]),
        ("{not json", ["not valid JSON", "--worker-hosts"]),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', ["index 3"]),
    ],
)
def test_multi_worker_needs_a_valid_tf_config(monkeypatch, tf_config, expected):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(UserError) as err:
        make_strategy("multi_worker", devices=FakeDevices())
    for part in expected:
        assert part in str(err.value)


HAS_GPU = bool(tf.config.list_physical_devices("GPU"))


@pytest.mark.parametrize(
    "strategy, expected",
    [
        pytest.param(
            "tpu",
            ["looked for a TPU at --tpu local", "no TPU on the PCI bus", "grpc://", "auto"],
            marks=pytest.mark.skipif(HAS_TPU, reason="this machine has a TPU"),
        ),
        pytest.param(
            "gpu",
            ["TensorFlow sees no GPU", "nvidia-smi", "--strategy auto"],
            marks=pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU"),
        ),
    ],
)
@pytest.mark.slow
def test_training_on_missing_hardware_exits_2_for_real(tmp_path, strategy, expected):
    # The timeout bounds the wait (no hang trying to reach a TPU); speed is not asserted here.
    out = subprocess.run(
        [sys.executable, "-m", "tfmodel.train", "--strategy", strategy, "--output", "runs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    message = next(line for line in out.stderr.splitlines() if line.startswith("error: "))
    for part in expected:
        assert part in message
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_unreachable_tpu_address_is_refused_without_waiting():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        make_strategy("tpu", tpu=f"grpc://127.0.0.1:{port}")
    assert time.monotonic() - start < 10
    assert f"no answer at grpc://127.0.0.1:{port}" in str(err.value)


@pytest.mark.slow
def test_mirrored_spans_two_logical_cpus_and_reduces_across_them():
    """Logical devices must be set before TensorFlow starts, so this runs in its own process."""
    script = textwrap.dedent(
        """
        from tfmodel.backend import tf
        from tfmodel.errors import UserError
        from tfmodel.distribute.strategies import describe, make_strategy, split_cpu
        split_cpu(2)
        info = make_strategy("mirrored")
        replica = lambda: tf.distribute.get_replica_context().replica_id_in_sync_group + 10
        ids = info.strategy.run(replica)
        total = info.strategy.reduce(tf.distribute.ReduceOp.SUM, ids, axis=None)
        try:
            split_cpu(3)
        except UserError:
            print("late split refused")
        print(describe(info), "| sum", int(total))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "late split refused" in out.stdout
    assert "MirroredStrategy: 2 replicas on CPU:0, CPU:1 | sum 21" in out.stdout


def _info(replicas: int, is_tpu: bool) -> StrategyInfo:
    return StrategyInfo(
        tf.distribute.get_strategy(), "test", "test", ("CPU:0",) * replicas, replicas, is_tpu
    )


@pytest.mark.parametrize(
    "asked, is_tpu, policy",
    [
        ("auto", True, "mixed_bfloat16"),
        ("auto", False, "float32"),
        ("mixed_float16", True, "mixed_float16"),
        ("float32", True, "float32"),
        ("mixed_bfloat16", False, "mixed_bfloat16"),
    ],
)
def test_precision_policy_resolves_auto_by_hardware(asked, is_tpu, policy):
    resolved = precision_policy(asked, _info(1, is_tpu))
    assert resolved == policy
    assert keras.mixed_precision.Policy(resolved).name == policy  # Keras accepts it


def test_precision_policy_rejects_unknown_names():
    with pytest.raises(UserError, match="float32, mixed_float16, mixed_bfloat16"):
        precision_policy("float16", _info(1, False))


def test_steps_per_execution_defaults_high_but_one_for_a_deep_network_off_tpu():
    assert steps_per_execution(None) == 32
    assert steps_per_execution(4) == 4
    with pytest.raises(UserError, match="steps_per_execution"):
        steps_per_execution(0)
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    deep = keras.Sequential([keras.Input((4,))] + [keras.layers.Dense(4) for _ in range(50)])
    assert steps_per_execution(None, _info(1, False), small) == 32
    assert steps_per_execution(None, _info(1, False), deep) == 1
    assert steps_per_execution(None, _info(1, True), deep) == 32  # a TPU's round trip
    assert steps_per_execution(8, _info(1, False), deep) == 8  # the config's wins


def test_batch_and_learning_rate_grow_with_replicas():
    two = _info(2, False)
    assert global_batch_size(32, two) == 64
    assert global_batch_size(32, _info(1, False)) == 32
    assert 0.01 * learning_rate_scale(two, enabled=True) == pytest.approx(0.02)
    assert 0.01 * learning_rate_scale(two, enabled=False) == 0.01


def test_describe_names_strategy_replicas_devices_and_worker_role():
    info = make_strategy("gpu", devices=FakeDevices(gpu_count=2))
    assert describe(info) == "strategy gpu → MirroredStrategy: 2 replicas on GPU:0, GPU:1"
    worker = dataclasses.replace(
        info, kind="multi_worker", num_workers=2, task_id=1, is_chief=False
    )
    assert describe(worker) == (
        "strategy gpu → MultiWorkerMirroredStrategy: 2 replicas in all; "
        "this is worker 1 of 2 (not the chief) on GPU:0, GPU:1"
    )
    tpu = make_strategy("auto", devices=FakeDevices(tpu=True))
    assert describe(tpu) == "strategy auto → TPUStrategy: 1 replica on CPU:0"
