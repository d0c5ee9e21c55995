"""deploy/ and docker-compose.yml, checked as far as a machine without a Docker engine allows:
everything parses, and every image, file, port, topic and environment variable they name
exists and agrees with the CLI settings, the Dockerfile and each other."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from screener.metrics import Metrics, WorkerPoolMetrics
from screener.pipeline.settings import Settings
from screener.rules import load_packs
from screener.rules.examples import run_examples

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _settings_from_env(env: dict[str, Any], where: str) -> Settings:
    """Every SCREENER_* variable names a Settings field, and the values validate."""
    values = {}
    for key, value in env.items():
        if not key.startswith("SCREENER_"):
            continue
        field = key.removeprefix("SCREENER_").lower()
        assert field in Settings.model_fields, f"{where}: {key} is not a setting"
        values[field] = str(value)
    return Settings.model_validate(values)


def _exposed_metric_names() -> set[str]:
    names = set()
    pool = WorkerPoolMetrics(1)
    try:
        registries = [Metrics.for_settings(Settings()).registry, pool.registry]
        for registry in registries:
            for metric in registry.collect():  # families: labelled ones may have no samples yet
                suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
                names |= {metric.name + s for s in suffixes.get(metric.type, [""])}
    finally:
        pool.close()
    return names


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(screener_[a-z_]+)\b", expr))


# -- Dockerfile -----------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    steps = _dockerfile()
    froms = [rest for op, rest in steps if op == "FROM"]
    assert len(froms) >= 2 and all("slim" in f for f in froms)
    user = [rest for op, rest in steps if op == "USER"][-1]
    assert user.split(":")[0] not in ("0", "root")
    (health,) = [rest for op, rest in steps if op == "HEALTHCHECK"]
    assert "/healthz" in health
    (expose,) = [rest for op, rest in steps if op == "EXPOSE"]
    assert int(expose) == Settings().metrics_port
    (entrypoint,) = [rest for op, rest in steps if op == "ENTRYPOINT"]
    scripts = _pyproject_scripts()
    assert json.loads(entrypoint)[0] in scripts


def _pyproject_scripts() -> set[str]:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(data["project"]["scripts"])


def test_dockerfile_copies_only_what_exists_and_dockerignore_keeps() -> None:
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for op, rest in _dockerfile():
        if op != "COPY" or rest.startswith("--from"):
            continue
        *sources, _dest = shlex.split(rest)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert source.rstrip("/").split("/")[0] in kept, f"{source} is in .dockerignore"


# -- docker-compose.yml ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = _yaml(ROOT / "docker-compose.yml")
    return data


def test_compose_services_images_and_files(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "topics", "screener", "prometheus", "grafana", "load"} <= set(services)
    assert services["load"]["profiles"] == ["load"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    for name, service in services.items():
        image = service.get("image", "")
        assert image and ":" in image and not image.endswith(":latest"), f"{name}: pin {image!r}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
        for dep in service.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown service {dep}"
    build = services["screener"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    # the load job reads the sample traffic it mounts
    load = services["load"]
    mount = next(v for v in load["volumes"] if v.startswith("./seeds/events:"))
    target = mount.split(":")[1]
    script = " ".join(load["command"])
    for kind in ("chat", "microblog"):
        assert f"{target}/$${{kind}}" in script or f"{target}/$$kind.jsonl" in script
        assert (ROOT / "seeds" / "events" / f"{kind}.jsonl").is_file()


def test_compose_screener_env_topics_ports_and_broker_agree(compose: dict[str, Any]) -> None:
    services = compose["services"]
    screener = services["screener"]
    settings = _settings_from_env(screener["environment"], "docker-compose screener")
    # topics: the init job creates exactly what screener reads and writes
    init = " ".join(services["topics"]["command"])
    created = set(re.search(r"for topic in ([^;]+);", init).group(1).split())  # type: ignore[union-attr]
    assert created == {*settings.input_topics, settings.review_topic, settings.dlq_topic}
    assert not settings.create_topics
    partitions = int(re.search(r"--partitions (\d+)", init).group(1))  # type: ignore[union-attr]
    assert partitions == settings.topic_partitions
    load_topics = {f"{kind}.events" for kind in ("chat", "microblog")}
    assert load_topics <= set(settings.input_topics)
    # broker: screener uses the listener Kafka advertises inside the compose network
    kafka_env = services["kafka"]["environment"]
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert any(a.endswith("//" + settings.bootstrap_servers) for a in advertised)
    port = settings.bootstrap_servers.rsplit(":", 1)[1]
    assert f"://:{port}" in kafka_env["KAFKA_LISTENERS"]
    assert "kafka:" + port in init and "kafka:" + port in " ".join(services["load"]["command"])
    # metrics: exposed, and what Prometheus scrapes
    assert str(settings.metrics_port) in [str(p) for p in screener["expose"]]
    prometheus = _yaml(DEPLOY / "prometheus" / "prometheus.yml")
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "screener")
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["screener"] and sd["port"] == settings.metrics_port
    assert job.get("metrics_path", "/metrics") == "/metrics"
    grace = float(screener["stop_grace_period"].rstrip("s"))
    assert grace > settings.shutdown_timeout_s


def test_compose_prometheus_and_grafana_mounts_agree(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prom = services["prometheus"]
    mounts = dict(v.split(":")[:2] for v in prom["volumes"] if v.startswith("."))
    config_dir = mounts["./deploy/prometheus"]
    config_flag = next(c for c in prom["command"] if c.startswith("--config.file="))
    config = config_flag.split("=", 1)[1]
    assert config.startswith(config_dir + "/")
    assert (DEPLOY / "prometheus" / Path(config).name).is_file()
    for rule_file in _yaml(DEPLOY / "prometheus" / "prometheus.yml")["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file).is_file()
    assert any(p.startswith("9090:") for p in prom["ports"])

    grafana = services["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("."))
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = _yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "screener.yml")
    assert provider["providers"][0]["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(mounts["./deploy/grafana/dashboards"] + "/")
    assert (DEPLOY / "grafana" / "dashboards" / Path(home).name).is_file()
    (datasource,) = _yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")[
        "datasources"
    ]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"


# -- Grafana dashboard and Prometheus rules (statically; the integration test runs them) ----------


def test_dashboard_is_generated_and_valid() -> None:
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "grafana" / "dashboard.py"), "--check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    board = json.loads((DEPLOY / "grafana" / "dashboards" / "screener.json").read_text("utf-8"))
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"].lower() for p in board["panels"])
    for topic in (
        "events in",
        "events out",
        "category",
        "top rules",
        "dlq",
        "screening time",
        "end-to-end",
        "lag",
        "workers",
        "rebalances",
        "rules version",
        "rules version per worker",
        "reloads",
        "shadow",
    ):
        assert topic in titles, topic  # fmt: skip
    exposed = _exposed_metric_names()
    for panel in board["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
            for name in _metric_names(target["expr"]):
                assert name in exposed, f"{panel['title']}: {name} is not exported"


def test_alert_rules_read_only_exported_metrics() -> None:
    exposed = _exposed_metric_names()
    for group in _yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]:
        for rule in group["rules"]:
            for name in _metric_names(rule["expr"]):
                assert name in exposed, f"{rule['alert']}: {name} is not exported"


# -- Kubernetes -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict[str, Any]]:
    kustomization = _yaml(K8S / "kustomization.yaml")
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files  # every manifest is applied, none missing
    docs = {}
    for name in kustomization["resources"]:
        doc = _yaml(K8S / name)
        assert doc["apiVersion"] and doc["metadata"]["name"]
        docs[doc["kind"]] = doc
    return docs


def test_k8s_deployment_agrees_with_the_image_and_settings(k8s: dict[str, Any]) -> None:
    deployment = k8s["Deployment"]
    pod = deployment["spec"]["template"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    )
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    settings = _settings_from_env(env, "k8s Deployment")
    assert settings.workers == 1 and not settings.create_topics
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == settings.metrics_port
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(settings.metrics_port)
    assert pod["spec"]["terminationGracePeriodSeconds"] > settings.shutdown_timeout_s
    # runs as the image's user; /tmp writable for the multiprocess metrics directory
    image_user = [rest for op, rest in _dockerfile() if op == "USER"][-1].split(":")[0]
    assert str(pod["spec"]["securityContext"]["runAsUser"]) == image_user
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert "emptyDir" in volumes[next(n for n, p in mounts.items() if p == "/tmp")]
    # rules: the image's packs plus the ConfigMap's, mounted where SCREENER_RULES says
    copies = [shlex.split(rest) for op, rest in _dockerfile() if op == "COPY"]
    image_packs = next(dest for *src, dest in copies if src == ["seeds/rules"])
    rules_mount = mounts[next(n for n, v in volumes.items() if "configMap" in v)]
    assert settings.rules == [image_packs, rules_mount]
    configmap = next(v for v in volumes.values() if "configMap" in v)["configMap"]["name"]
    assert configmap == k8s["ConfigMap"]["metadata"]["name"]


def test_k8s_rule_pack_configmap_loads_with_the_shipped_packs(
    k8s: dict[str, Any], tmp_path: Path
) -> None:
    for name, text in k8s["ConfigMap"]["data"].items():
        assert name.endswith((".yaml", ".yml", ".txt"))
        (tmp_path / name).write_text(text, encoding="utf-8")
    pack = load_packs([ROOT / "seeds" / "rules", tmp_path])
    assert not [r for r in run_examples(pack) if not r.ok]


def test_k8s_service_pdb_and_scaledobject_point_at_the_deployment(k8s: dict[str, Any]) -> None:
    deployment = k8s["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    port_names = {p["name"] for p in container["ports"]}
    service = k8s["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    pdb = k8s["PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    scaled = k8s["ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == env["SCREENER_GROUP_ID"]
    assert trigger["metadata"]["bootstrapServers"] == env["SCREENER_BOOTSTRAP_SERVERS"]
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
