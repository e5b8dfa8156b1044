"""Multi-worker clusters: build and check `TF_CONFIG`, and decide who writes the run folder.

TensorFlow's MultiWorkerMirroredStrategy reads the cluster from the `TF_CONFIG` environment
variable; `--worker-hosts h1:p,h2:p --task-index i` builds it for the user. With no `chief` task,
worker 0 is the chief (TensorFlow's convention): only it writes the run folder and exports; the
other workers write to a temporary folder they remove at the end, per TF's multi-worker guide.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfmodel.errors import UserError

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)
HOW_TO_SET = (
    f"on every node set {TF_CONFIG_EXAMPLE} (index 0 on the first node, 1 on the second, ...), "
    "or pass --worker-hosts host1:12345,host2:12345 --task-index I to tfmodel.train"
)


def parse_worker_hosts(text: str) -> list[str]:
    """`"h1:p,h2:p"` as a list of `host:port`, or a UserError naming the bad entry."""
    hosts = [host.strip() for host in text.split(",") if host.strip()]
    if not hosts:
        raise UserError("--worker-hosts is empty: give every worker as host:port, comma-separated")
    for host in hosts:
        name, sep, port = host.rpartition(":")
        if not sep or not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise UserError(
                f"--worker-hosts entry {host!r} is not host:port (e.g. 10.0.0.2:12345); "
                "list every worker, comma-separated, in the same order on every node"
            )
    if len(set(hosts)) != len(hosts):
        raise UserError(f"--worker-hosts {text!r} lists a worker twice; each needs its own port")
    return hosts


def build_tf_config(worker_hosts: list[str], task_index: int) -> dict[str, Any]:
    """The `TF_CONFIG` for worker `task_index` of a cluster of equal workers (worker 0 is chief)."""
    if not 0 <= task_index < len(worker_hosts):
        raise UserError(
            f"--task-index {task_index} is out of range for {len(worker_hosts)} worker hosts: "
            f"use 0 to {len(worker_hosts) - 1}, a different one on each node"
        )
    return {
        "cluster": {"worker": list(worker_hosts)},
        "task": {"type": "worker", "index": task_index},
    }


def read_tf_config(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The checked `TF_CONFIG` from the environment, or None when it is not set."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"TF_CONFIG is not valid JSON ({err}); {HOW_TO_SET}") from None
    check_tf_config(tf_config)
    return tf_config


def check_tf_config(tf_config: Any) -> None:
    """Raise UserError unless `tf_config` names a cluster and a task that belongs to it."""
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    task = tf_config.get("task") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not isinstance(task, dict):
        raise UserError(
            f"TF_CONFIG needs a 'cluster' and a 'task' entry, got {tf_config!r}; {HOW_TO_SET}"
        )
    for job, hosts in cluster.items():
        if not isinstance(hosts, list) or not all(isinstance(host, str) for host in hosts):
            raise UserError(
                f"TF_CONFIG cluster job {job!r} must list host:port strings; {HOW_TO_SET}"
            )
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster:
        raise UserError(
            f"TF_CONFIG task type {kind!r} is not a job of the cluster ({', '.join(cluster)}); "
            f"{HOW_TO_SET}"
        )
    if not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise UserError(
            f"TF_CONFIG task index {index!r} is out of range for the {len(cluster[kind])} "
            f"{kind!r} hosts; {HOW_TO_SET}"
        )


def is_chief(tf_config: Mapping[str, Any] | None) -> bool:
    """True for the task that writes the run folder: `chief`, else worker 0; alone, always."""
    if not tf_config:
        return True
    kind, index = tf_config["task"]["type"], tf_config["task"]["index"]
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in tf_config["cluster"]


def task_id(tf_config: Mapping[str, Any] | None) -> int:
    """This task's index in its job (0 when not in a cluster)."""
    return int(tf_config["task"]["index"]) if tf_config else 0


def worker_temp_dir(run_dir: str | Path, task_id: int) -> Path:
    """Where non-chief worker `task_id` writes what the chief writes to `run_dir`.

    TF's guide puts a worker's files in `workertemp_<id>` next to the chief's; applied to the run
    folder that is `<runs>/workertemp_<id>/<run name>`, so no second run folder ever appears.
    """
    run_dir = Path(run_dir)
    return run_dir.parent / f"workertemp_{task_id}" / run_dir.name


def writable_run_dir(run_dir: str | Path, tf_config: Mapping[str, Any] | None) -> Path:
    """`run_dir` for the chief (or a single machine), this worker's temporary folder otherwise."""
    if is_chief(tf_config):
        return Path(run_dir)
    return worker_temp_dir(run_dir, task_id(tf_config))


def remove_worker_temp_dir(run_dir: str | Path, tf_config: Mapping[str, Any] | None) -> None:
    """Delete a non-chief worker's temporary folder once training ends (no-op on the chief)."""
    if not is_chief(tf_config):
        shutil.rmtree(worker_temp_dir(run_dir, task_id(tf_config)).parent, ignore_errors=True)
