"""deploy/: every file loads, and says what the project says (no cluster or Docker runs here).

Server flags are parsed by the local server's own parser (they are tensorflow_model_server's),
ports and probes are compared with those flags, config files are read by the readers the server
uses, model paths follow the export layout, and each training Job's TF_CONFIG is compared with
what `tfmodel.train --worker-hosts ... --task-index I` builds.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.server.main import build_parser
from serving.server.metrics import read_monitoring_config
from serving.server.servables.batching import read_batching_parameters
from tfmodel.config import load_config
from tfmodel.distribute import cluster
from tfmodel.export.saved_model import MODELS_CONFIG_FILE, export_model_name
from tfmodel.train import parse_args as train_args

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def load_all(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind]


def server_flags(args: list[str]):
    """The flags as the server parses them (an unknown flag fails the test)."""
    return build_parser().parse_args(args)


@pytest.mark.parametrize("name", sorted(p.name for p in DEPLOY.rglob("*.y*ml")))
def test_every_yaml_file_loads(name):
    path = next(DEPLOY.rglob(name))
    assert list(yaml.safe_load_all(path.read_text()))


def test_config_files_are_read_by_the_server_readers():
    assert read_monitoring_config(str(DEPLOY / "config" / "monitoring.config")) == (
        "/monitoring/prometheus/metrics"
    )
    batching = read_batching_parameters(str(DEPLOY / "config" / "batching.config"))
    assert batching.allowed_batch_sizes[-1] == batching.max_batch_size  # TF Serving requires it


def test_compose_runs_tf_serving_on_the_export_with_ports_from_its_flags():
    (compose,) = load_all("docker-compose.yaml")
    service = compose["services"]["tf-serving"]
    assert service["image"].startswith("tensorflow/serving:")
    assert service["entrypoint"] == ["tensorflow_model_server"]
    flags = server_flags(service["command"])
    assert service["ports"] == [f"{p}:{p}" for p in (flags.port, flags.rest_api_port)]
    assert flags.model_config_file.startswith("${EXPORT_DIR")
    assert flags.model_config_file.endswith(f"}}/{MODELS_CONFIG_FILE}")
    assert "${EXPORT_DIR}:${EXPORT_DIR}:ro" in service["volumes"]  # models.config paths hold
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in service["volumes"][1:])
    assert mounts == {
        "./config/monitoring.config": flags.monitoring_config_file,
        "./config/batching.config": flags.batching_parameters_file,
    }
    assert flags.enable_batching and flags.enable_grpc_healthcheck_service
    assert str(flags.port) in " ".join(service["healthcheck"]["test"])  # bash, not curl

    (scrape,) = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"]
    assert scrape["metrics_path"] == read_monitoring_config(
        str(DEPLOY / "config/monitoring.config")
    )
    assert scrape["static_configs"][0]["targets"] == [f"tf-serving:{flags.rest_api_port}"]


def test_k8s_serving_probes_ports_and_files_match_the_server_flags():
    docs = load_all("k8s/serving.yaml")
    (deployment,) = by_kind(docs, "Deployment")
    (config_map,) = by_kind(docs, "ConfigMap")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["tensorflow_model_server"]
    flags = server_flags(container["args"])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"grpc": flags.port, "http": flags.rest_api_port}

    # probes that need nothing in the image: a gRPC health probe (needs the health service)
    # and a TCP connect, both made by the kubelet; no exec probe (the image has no curl)
    assert flags.enable_grpc_healthcheck_service
    assert container["readinessProbe"]["grpc"]["port"] == flags.port
    assert container["startupProbe"]["grpc"]["port"] == flags.port
    assert container["livenessProbe"]["tcpSocket"]["port"] == flags.port
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert (
        pre_stop[0] == "sleep" and int(pre_stop[1]) < pod["spec"]["terminationGracePeriodSeconds"]
    )
    probes = [container[key] for key in ("readinessProbe", "startupProbe", "livenessProbe")]
    assert all("exec" not in probe for probe in probes)

    # the config files the flags name are the ConfigMap's keys, mounted where the flags look
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    for path in (
        flags.model_config_file,
        flags.monitoring_config_file,
        flags.batching_parameters_file,
    ):
        assert Path(path).parent == Path(mounts["config"]) and Path(path).name in config_map["data"]
    for name in ("monitoring.config", "batching.config"):  # the same as deploy/config's
        assert _without_comments(config_map["data"][name]) == _without_comments(
            (DEPLOY / "config" / name).read_text()
        )
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(flags.rest_api_port)
    assert annotations["prometheus.io/path"] == "/monitoring/prometheus/metrics"

    # models.config: the reference recipe's model under the export layout, on the models volume
    models = text_format.Parse(
        config_map["data"]["models.config"], model_server_config_pb2.ModelServerConfig()
    )
    (entry,) = models.model_config_list.config
    assert entry.name == export_model_name(load_config(REPO / "configs" / "digits_mlp.yaml"))
    assert Path(entry.base_path) == Path(mounts["models"]) / entry.name

    (service,) = by_kind(docs, "Service")
    assert {p["targetPort"]: p["port"] for p in service["spec"]["ports"]} == ports
    assert service["spec"]["selector"] == pod["metadata"]["labels"]
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert container["resources"]["requests"]["cpu"]  # CPU utilisation needs a request


def _without_comments(text: str) -> str:
    return "\n".join(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def test_k8s_training_jobs_carry_the_tf_config_worker_hosts_builds():
    docs = load_all("k8s/train-multiworker.yaml")
    (service,) = by_kind(docs, "Service")
    assert service["spec"]["clusterIP"] == "None"  # headless: one DNS name per pod
    (port,) = service["spec"]["ports"]
    jobs = by_kind(docs, "Job")
    hosts = [
        f"{job['spec']['template']['spec']['hostname']}.{service['metadata']['name']}:{port['port']}"
        for job in jobs
    ]
    for index, job in enumerate(jobs):
        pod = job["spec"]["template"]
        assert pod["spec"]["subdomain"] == service["metadata"]["name"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        (container,) = pod["spec"]["containers"]
        env = {item["name"]: item["value"] for item in container["env"]}
        expected = cluster.build_tf_config(cluster.parse_worker_hosts(",".join(hosts)), index)
        assert json.loads(env["TF_CONFIG"]) == expected
        cluster.check_tf_config(json.loads(env["TF_CONFIG"]))
        assert container["command"] == ["python", "-m", "tfmodel.train"]
        args = train_args(container["args"])
        assert args.strategy == "multi_worker" and (REPO / args.config).is_file()
        assert container["ports"][0]["containerPort"] == port["port"]
    run_dirs = {tuple(job["spec"]["template"]["spec"]["containers"][0]["args"]) for job in jobs}
    assert len(run_dirs) == 1  # every worker names the same --run-dir


def test_dockerfile_copies_what_the_jobs_run():
    text = (DEPLOY / "Dockerfile").read_text()
    for folder in ("tfmodel", "serving", "configs"):
        assert re.search(rf"^COPY {folder} {folder}$", text, re.MULTILINE)
