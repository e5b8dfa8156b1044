"""TF_CONFIG building and checking, chief detection, and where non-chief workers write."""

import json

import pytest
from tensorflow.python.distribute import multi_worker_util  # TF's own chief rule, as reference

from tfmodel.backend import tf
from tfmodel.distribute.cluster import (
    build_tf_config,
    is_chief,
    parse_worker_hosts,
    read_tf_config,
    remove_worker_temp_dir,
    worker_temp_dir,
    writable_run_dir,
)
from tfmodel.errors import UserError

HOSTS = ["10.0.0.1:2222", "10.0.0.2:2222", "10.0.0.3:2222"]


def test_worker_hosts_parse_and_bad_entries_are_named():
    assert parse_worker_hosts(" 10.0.0.1:2222, 10.0.0.2:2222 ,") == HOSTS[:2]
    for bad, named in [
        ("", "empty"),
        ("a:1,b", "'b'"),
        ("a:x", "'a:x'"),
        (":80", "':80'"),
        ("a:70000", "'a:70000'"),
        ("a:1,a:1", "twice"),
    ]:
        with pytest.raises(UserError, match=named):
            parse_worker_hosts(bad)


def test_built_tf_config_is_what_tensorflow_reads(monkeypatch):
    tf_config = build_tf_config(HOSTS, 1)
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    assert resolver.cluster_spec().as_dict() == {"worker": HOSTS}
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    assert read_tf_config() == tf_config


def test_task_index_outside_the_cluster_is_refused():
    with pytest.raises(UserError, match="--task-index 3 .* use 0 to 2"):
        build_tf_config(HOSTS, 3)


@pytest.mark.parametrize(
    "cluster, task_type, index",
    [
        ({"worker": HOSTS}, "worker", 0),
        ({"worker": HOSTS}, "worker", 2),
        ({"chief": ["c:1"], "worker": HOSTS}, "chief", 0),
        ({"chief": ["c:1"], "worker": HOSTS}, "worker", 0),
    ],
)
def test_chief_rule_matches_tensorflow(cluster, task_type, index):
    tf_config = {"cluster": cluster, "task": {"type": task_type, "index": index}}
    assert is_chief(tf_config) == multi_worker_util.is_chief(cluster, task_type, index)


def test_a_single_machine_is_its_own_chief():
    assert is_chief(None)
    assert read_tf_config({}) is None


@pytest.mark.parametrize(
    "text, named",
    [
        ("{oops", "not valid JSON"),
        ('{"cluster": {"worker": ["a:1"]}}', "needs a 'cluster' and a 'task'"),
        (
            '{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}',
            "host:port strings",
        ),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}',
            "'ps' is not a job",
        ),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', "index 1"),
    ],
)
def test_bad_tf_config_says_what_is_wrong_and_how_to_set_it(text, named):
    with pytest.raises(UserError, match=named) as err:
        read_tf_config({"TF_CONFIG": text})
    assert "--worker-hosts" in str(err.value)


def test_only_the_chief_writes_the_run_folder(tmp_path):
    run_dir = tmp_path / "runs" / "digits-20250101-120000"
    chief, worker = build_tf_config(HOSTS, 0), build_tf_config(HOSTS, 2)
    assert writable_run_dir(run_dir, chief) == run_dir
    assert writable_run_dir(run_dir, None) == run_dir
    temp = writable_run_dir(run_dir, worker)
    assert temp == worker_temp_dir(run_dir, 2) == tmp_path / "runs" / "workertemp_2" / run_dir.name
    for folder in (run_dir, temp):
        folder.mkdir(parents=True)
        (folder / "model.keras").write_text("weights")
    remove_worker_temp_dir(run_dir, chief)  # the chief's folder is never removed
    remove_worker_temp_dir(run_dir, worker)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [run_dir.name]
    assert (run_dir / "model.keras").is_file()
