"""Pick the tf.distribute strategy for `--strategy auto|cpu|gpu|tpu|mirrored|multi_worker`.

Device discovery goes through a `tfmodel.distribute.inventory.DeviceInventory` (the real one asks
TensorFlow and the OS), so tests can fake GPUs and TPUs being there or not. Asking for hardware that
is not there raises `UserError` naming what was looked for, what was found and what to run instead,
before TensorFlow gets a chance to print a stack trace. The small pure helpers at the end turn the
strategy into the precision, steps per execution, global batch and learning rate training uses.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfmodel.backend import tf
from tfmodel.distribute.cluster import HOW_TO_SET, is_chief, read_tf_config, task_id
from tfmodel.distribute.inventory import DeviceInventory, LocalDevices, TpuProbe
from tfmodel.errors import UserError, first_line

STRATEGIES = ("auto", "cpu", "gpu", "tpu", "mirrored", "multi_worker")
# The public name of each kind (MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy).
STRATEGY_CLASSES = {
    "tpu": "TPUStrategy",
    "mirrored": "MirroredStrategy",
    "default": "the default strategy",
    "one_device": "OneDeviceStrategy",
    "multi_worker": "MultiWorkerMirroredStrategy",
    "simulated_tpu": "MirroredStrategy",
}
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# Train steps per `tf.function` call by default: on a TPU the host round trip dominates otherwise,
# and on a CPU a small model's step costs less than the call around it (see benchmarks/RESULTS.md,
# training). Off TPU a deep network (DEEP_NETWORK_WEIGHTS variables or more, e.g. MobileNetV2)
# runs one: its step dwarfs the call, and tracing its graph inside the loop costs seconds more
# than tracing it alone, all paid in the first epoch (RESULTS.md, training_photos).
STEPS_PER_EXECUTION = 32
DEEP_NETWORK_WEIGHTS = 100


@dataclasses.dataclass(frozen=True)
class StrategyInfo:
    """The strategy and what training needs to know about it."""

    strategy: tf.distribute.Strategy
    name: str  # what was asked for: auto, cpu, gpu, ...
    kind: str  # what it became: tpu, mirrored, default, one_device, multi_worker
    devices: tuple[str, ...]  # this worker's devices, e.g. ("CPU:0", "CPU:1")
    num_replicas: int  # across all workers
    is_tpu: bool = False
    num_workers: int = 1
    task_id: int = 0
    is_chief: bool = True
    fallback: str | None = None  # why `auto` did not use a TPU that seemed to be there


def make_strategy(
    name: str,
    *,
    tpu: str = "local",
    gpus: int | None = None,
    devices: DeviceInventory | None = None,
    simulate_tpu: int | None = None,
) -> StrategyInfo:
    """The strategy for `--strategy name`; create it before any other TensorFlow work.

    `simulate_tpu` N stands a MirroredStrategy over N logical CPUs in for an N-core TPU: training
    then takes every TPU setting (static shapes, bfloat16, many steps per execution).
    """
    inventory = devices if devices is not None else LocalDevices()
    if name not in STRATEGIES:
        raise UserError(f"--strategy {name!r} is unknown: use one of {', '.join(STRATEGIES)}")
    if simulate_tpu:
        return _simulated_tpu(simulate_tpu, inventory)
    if name == "multi_worker":
        return _multi_worker()
    fallback = None
    if name in ("tpu", "auto"):
        probe = inventory.find_tpu(tpu)
        if name == "tpu" and not probe.found:
            raise _no_tpu(tpu, probe, inventory)
        if probe.found:
            try:
                return _info(name, "tpu", inventory.connect_tpu(tpu), is_tpu=True)
            except UserError as err:
                if name == "tpu":
                    raise
                fallback = str(err)
        elif probe.suspect:
            fallback = probe.detail
    info = _local(name, inventory, gpus)
    return dataclasses.replace(info, fallback=fallback) if fallback else info


def _local(name: str, inventory: DeviceInventory, gpus: int | None) -> StrategyInfo:
    """GPUs or the CPU, for every name but tpu and multi_worker."""
    if name == "cpu":
        return _one_device(name, "/cpu:0", inventory)
    found_gpus = inventory.gpus()
    if name == "gpu" and not found_gpus:
        raise UserError(
            f"--strategy gpu: TensorFlow sees no GPU; this machine has {_listing(inventory)}. "
            f"{_gpu_hint()}; or run with --strategy auto or cpu"
        )
    found_gpus = _pick_gpus(name, found_gpus, gpus)
    if name == "mirrored":
        chosen = found_gpus or inventory.cpus()
        return _info(name, "mirrored", tf.distribute.MirroredStrategy(chosen))
    if len(found_gpus) > 1:
        return _info(name, "mirrored", tf.distribute.MirroredStrategy(found_gpus))
    return _one_device(name, found_gpus[0] if found_gpus else "/cpu:0", inventory)


def _one_device(name: str, device: str, inventory: DeviceInventory) -> StrategyInfo:
    """One device: the default strategy where TensorFlow places ops anyway, else OneDeviceStrategy.

    The default strategy is no wrapper at all; OneDeviceStrategy's costs ~3× a small model's
    training step. It is still needed to keep the work on the CPU when a GPU is there.
    """
    gpus = inventory.gpus()
    if _short(device) == _short(gpus[0] if gpus else "/cpu:0"):
        return StrategyInfo(tf.distribute.get_strategy(), name, "default", (_short(device),), 1)
    return _info(name, "one_device", tf.distribute.OneDeviceStrategy(device))


def split_cpu(count: int) -> None:
    """Expose the CPU as `count` logical devices, so `mirrored` has replicas on a CPU-only host.

    TensorFlow allows this only before it initialises its devices, i.e. first thing in a process.
    """
    (cpu,) = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        raise UserError(
            f"cannot split the CPU into {count} devices: TensorFlow already set up its devices in "
            "this process; split it before anything else runs"
        ) from None


def describe(info: StrategyInfo) -> str:
    """One line for the start of training: strategy, devices and replicas."""
    head = f"strategy {info.name} → {STRATEGY_CLASSES[info.kind]}"
    replicas = f"{info.num_replicas} replica{'s' if info.num_replicas != 1 else ''}"
    devices = ", ".join(info.devices)
    if info.kind == "simulated_tpu":
        return f"{head}: {replicas} on {devices}, standing in for a {info.num_replicas}-core TPU"
    if info.fallback:
        head = f"strategy auto: not using a TPU ({info.fallback})\n{head}"
    if info.num_workers == 1:
        return f"{head}: {replicas} on {devices}"
    role = "the chief" if info.is_chief else "not the chief"
    return (
        f"{head}: {replicas} in all; "
        f"this is worker {info.task_id} of {info.num_workers} ({role}) on {devices}"
    )


def precision_policy(precision: str, info: StrategyInfo) -> str:
    """The Keras mixed-precision policy: `auto` is mixed_bfloat16 on TPU, float32 elsewhere."""
    if precision == "auto":
        return "mixed_bfloat16" if info.is_tpu else "float32"
    if precision not in PRECISIONS:
        raise UserError(f"precision {precision!r} is unknown: use auto or {', '.join(PRECISIONS)}")
    return precision


def steps_per_execution(
    config_value: int | None, info: StrategyInfo | None = None, model: Any = None
) -> int:
    """Train steps per `tf.function` call: the config's, else one for a deep `model` off TPU,
    else STEPS_PER_EXECUTION."""
    if config_value is None:
        deep = model is not None and len(model.weights) >= DEEP_NETWORK_WEIGHTS
        on_tpu = info is not None and info.is_tpu
        return 1 if deep and not on_tpu else STEPS_PER_EXECUTION
    if config_value < 1:
        raise UserError(f"training.steps_per_execution is {config_value}: use 1 or more")
    return config_value


def global_batch_size(per_replica: int, info: StrategyInfo) -> int:
    """The batch the dataset yields: the config's per-replica batch times the replica count."""
    return per_replica * info.num_replicas


def learning_rate_scale(info: StrategyInfo, enabled: bool) -> float:
    """The factor on the learning rate: the replica count when scaling with the global batch."""
    return float(info.num_replicas) if enabled else 1.0


def _info(name: str, kind: str, strategy: tf.distribute.Strategy, **extra: Any) -> StrategyInfo:
    devices = tuple(_short(device) for device in strategy.extended.worker_devices)
    return StrategyInfo(strategy, name, kind, devices, strategy.num_replicas_in_sync, **extra)


def _no_tpu(address: str, probe: TpuProbe, inventory: DeviceInventory) -> UserError:
    return UserError(
        f"--strategy tpu: looked for a TPU at --tpu {address} and found {probe.detail}; "
        f"this machine has {_listing(inventory)}. On a Cloud TPU VM run the same command there "
        "(--tpu local is the default); for a TPU reached over the network pass its address "
        "(--tpu grpc://10.x.x.x:8470) or its name (--tpu my-tpu); "
        "or run with --strategy auto to train on the devices found here"
    )


def _simulated_tpu(cores: int, inventory: DeviceInventory) -> StrategyInfo:
    cpus = inventory.cpus()
    if len(cpus) < cores:
        raise UserError(
            f"--simulate-tpu {cores}: TensorFlow sees {len(cpus)} CPU device(s); the CPU must be "
            f"split into {cores} first (train does this; elsewhere call split_cpu({cores}))"
        )
    strategy = tf.distribute.MirroredStrategy(cpus[:cores])
    return _info("tpu", "simulated_tpu", strategy, is_tpu=True)


def _multi_worker() -> StrategyInfo:
    tf_config = read_tf_config()
    if tf_config is None:
        raise UserError(
            f"--strategy multi_worker needs the cluster in TF_CONFIG, which is unset: {HOW_TO_SET}"
        )
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (tf.errors.OpError, RuntimeError, ValueError) as err:
        raise UserError(
            f"cannot start the multi-worker strategy from TF_CONFIG: {first_line(err)}"
        ) from None
    workers = sum(
        len(hosts) for job, hosts in tf_config["cluster"].items() if job in ("chief", "worker")
    )
    return _info(
        "multi_worker",
        "multi_worker",
        strategy,
        num_workers=workers,
        task_id=task_id(tf_config),
        is_chief=is_chief(tf_config),
    )


def _pick_gpus(name: str, found: list[str], limit: int | None) -> list[str]:
    """The first `limit` GPUs (all when None), or a UserError if there are fewer."""
    if limit is None:
        return found
    if limit < 1:
        raise UserError(f"--gpus {limit}: give 1 or more, or leave it out to use every GPU")
    if limit > len(found) and name in ("gpu", "mirrored"):
        seen = (
            f"{len(found)} GPU(s): {', '.join(_short(gpu) for gpu in found)}" if found else "no GPU"
        )
        fix = f"ask for at most {len(found)}" if found else "run with --strategy auto or cpu"
        raise UserError(f"--gpus {limit}: TensorFlow sees {seen}; {fix}")
    return found[:limit]


def _gpu_hint() -> str:
    """What to check when no GPU shows up, depending on how this TensorFlow was built."""
    build = tf.sysconfig.get_build_info()
    if build.get("is_cuda_build"):
        return (
            f"This TensorFlow is built for CUDA {build.get('cuda_version', '')}, so check the "
            "NVIDIA driver and GPU with nvidia-smi and that CUDA_VISIBLE_DEVICES does not hide them"
        )
    return (
        "This TensorFlow has no CUDA support: pip install 'tensorflow[and-cuda]' on a GPU machine"
    )


def _listing(inventory: DeviceInventory) -> str:
    gpus = inventory.gpus()
    found = [_short(device) for device in inventory.cpus() + gpus]
    return ", ".join(found) + ("" if gpus else " (no GPU)")


def _short(device: str) -> str:
    """`/job:localhost/replica:0/task:0/device:GPU:1` → `GPU:1`."""
    return device.rpartition("/")[2].removeprefix("device:").upper()
