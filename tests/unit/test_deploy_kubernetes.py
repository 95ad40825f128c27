"""The Kubernetes manifests of deploy/kubernetes/: schema-valid, complete and safe.

Every document is validated against the Kubernetes OpenAPI schemas bundled with
kubernetes-validate (strict: unknown fields fail), then checked for what the
schema cannot see: one Deployment per processor plus the inbox watcher, probes
on the worker web port, writable mounts for a read-only root filesystem, the
configuration wired from the ConfigMap and the Secret, placeholder-only
secrets, and NetworkPolicies that deny ingress except Prometheus on the web port.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import typing
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from workers.engine import PROCESSORS
from workers.runtime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "kubernetes"

#: The Kubernetes releases the manifests are validated against: 1.31, the oldest
#: minor still commonly run in managed clusters, and the newest schema bundled
#: with kubernetes-validate (which catches APIs that were removed since).
KUBERNETES_VERSION = "1.31"
VERSIONS = sorted(
    {KUBERNETES_VERSION, ".".join(kubernetes_validate.latest_version().split(".")[:2])}
)

WORKERS = (*PROCESSORS, "inbox")
CONFIG_MAP = "claims-engine-config"
SECRET = "claims-engine-secrets"
#: The only value a committed Secret may hold (secret.yaml says to replace it).
PLACEHOLDER = "REPLACE_ME"
#: Secrets that other work adds to the settings; allowed in the Secret before
#: the field exists.
PENDING_SECRETS = {"CLAIMS_DASHBOARD_TOKEN"}


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in documents() if d["kind"] == kind}


def config() -> dict[str, str]:
    return of_kind("ConfigMap")[CONFIG_MAP]["data"]


def secret_values(doc: dict[str, Any]) -> dict[str, str]:
    values = dict(doc.get("stringData") or {})
    for key, encoded in (doc.get("data") or {}).items():
        values[key] = base64.b64decode(encoded).decode()
    return values


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


def secret_env_names() -> set[str]:
    """CLAIMS_* variables of every secret setting (``SecretStr`` fields)."""
    return {
        f"CLAIMS_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)
    }


def test_there_are_manifests() -> None:
    kinds = {d["kind"] for _, d in documents()}
    assert {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "Job",
        "PersistentVolumeClaim",
        "NetworkPolicy",
    } <= kinds


def test_the_schema_version_is_bundled() -> None:
    bundled = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{KUBERNETES_VERSION}.0-local-strict"
    )
    assert bundled.is_dir(), f"kubernetes-validate has no schemas for {KUBERNETES_VERSION}"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("filename", "doc"),
    documents(),
    ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in documents()],
)
def test_every_manifest_is_valid_for_kubernetes(
    filename: str, doc: dict[str, Any], version: str
) -> None:
    try:
        used = kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{filename}: {doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")
    assert used == version, f"validated against {used}, not {version}"


def test_the_validator_rejects_an_invalid_manifest() -> None:
    """Guards the test above: a typo'd field must fail strict validation."""
    deployment = dict(of_kind("Deployment")["units"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(p.name for p in manifest_files())
    assert [i["name"] for i in kustomization["images"]] == ["claims-engine"]


def test_names_are_unique_per_kind() -> None:
    seen: set[tuple[str, str]] = set()
    for filename, doc in documents():
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"{filename}: duplicate {key}"
        seen.add(key)


def test_one_deployment_per_processor_plus_the_inbox() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == set(WORKERS)
    for name, deployment in deployments.items():
        c = container(deployment)
        assert c["args"] == ["worker", name]
        assert "command" not in c, "the image's ENTRYPOINT is `claims`"
        assert re.fullmatch(r"claims-engine:[\w.-]+", c["image"]), c["image"]


def test_deployment_selectors_match_only_their_own_pods() -> None:
    deployments = of_kind("Deployment")
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        for other, other_dep in deployments.items():
            labels = other_dep["spec"]["template"]["metadata"]["labels"]
            matches = selector.items() <= labels.items()
            assert matches == (name == other), f"{name}'s selector vs {other}'s pods"


def test_probes_on_the_worker_web_port() -> None:
    port = int(config()["CLAIMS_WEB_PORT"])
    for name, deployment in of_kind("Deployment").items():
        c = container(deployment)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in (("livenessProbe", "/claims/live"), ("readinessProbe", "/claims/ready")):
            get = c[probe]["httpGet"]
            assert get["path"] == path, f"{name} {probe}"
            target = ports[get["port"]] if isinstance(get["port"], str) else get["port"]
            assert target == port, f"{name} {probe} port"
        if "startupProbe" in c:
            assert c["startupProbe"]["httpGet"]["path"] == "/claims/live", name


def quantity(value: str | int) -> float:
    """A Kubernetes CPU or memory quantity in cores or bytes (the suffixes used here)."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def test_resources_requests_and_limits() -> None:
    for name, deployment in of_kind("Deployment").items():
        resources = container(deployment)["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), f"{name} {kind}"
        for resource in ("cpu", "memory"):
            request = quantity(resources["requests"][resource])
            limit = quantity(resources["limits"][resource])
            assert 0 < request <= limit, f"{name} {resource}"
        # sized for a small node: a request the scheduler can place anywhere
        assert quantity(resources["requests"]["memory"]) <= quantity("512Mi"), name
        assert quantity(resources["requests"]["cpu"]) <= quantity("250m"), name


def test_pods_run_as_the_image_user_without_privileges() -> None:
    pods = [(n, d["spec"]["template"]["spec"]) for n, d in of_kind("Deployment").items()]
    pods += [(n, j["spec"]["template"]["spec"]) for n, j in of_kind("Job").items()]
    assert "USER claims" in (REPO / "deploy/docker/Dockerfile").read_text()
    assert "--uid 10001" in (REPO / "deploy/docker/Dockerfile").read_text()
    for name, pod in pods:
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] == 10001, name
        assert security["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        for c in pod["containers"]:
            csc = c["securityContext"]
            assert csc["allowPrivilegeEscalation"] is False, name
            assert csc["readOnlyRootFilesystem"] is True, name
            assert csc["capabilities"]["drop"] == ["ALL"], name


def test_service_links_are_off() -> None:
    """A Service named `claims` would inject CLAIMS_SERVICE_HOST etc. into the settings."""
    for name, deployment in of_kind("Deployment").items():
        assert deployment["spec"]["template"]["spec"]["enableServiceLinks"] is False, name


def test_directories_the_workers_write_are_mounted() -> None:
    """The root filesystem is read-only: every directory written needs a volume."""
    cfg = config()
    needs = {name: {"/tmp"} for name in WORKERS}
    for name in PROCESSORS:
        needs[name].add(cfg["CLAIMS_STATE_DIR"])  # faust's data directory
    needs["claims"].add(cfg["CLAIMS_OUTBOX_DIR"])
    needs["inbox"].add(cfg["CLAIMS_INBOX_DIR"])
    claims = of_kind("PersistentVolumeClaim")
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in container(deployment)["volumeMounts"]}
        assert needs[name] <= set(mounts), f"{name} misses {needs[name] - set(mounts)}"
        for path, mount in mounts.items():
            assert mount["name"] in volumes, f"{name}: {path} mounts an undeclared volume"
            assert not mount.get("readOnly"), f"{name}: {path} must be writable"
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name
    outbox = next(
        v
        for v in of_kind("Deployment")["claims"]["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    )
    inbox = next(
        v
        for v in of_kind("Deployment")["inbox"]["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    )
    assert (
        outbox["persistentVolumeClaim"]["claimName"] != inbox["persistentVolumeClaim"]["claimName"]
    )


def test_scaling_rules() -> None:
    partitions = int(config()["CLAIMS_TOPIC_PARTITIONS"])
    deployments = of_kind("Deployment")
    for name, deployment in deployments.items():
        assert 1 <= deployment["spec"]["replicas"] <= partitions, (
            f"{name}: replicas beyond the partition count are idle"
        )
    inbox = deployments["inbox"]["spec"]
    assert inbox["replicas"] == 1
    assert inbox["strategy"]["type"] == "Recreate"
    claims = deployments["claims"]["spec"]
    outbox = of_kind("PersistentVolumeClaim")["claims-outbox"]["spec"]["accessModes"]
    if "ReadWriteMany" not in outbox:
        assert claims["replicas"] == 1, "several claims replicas need a ReadWriteMany outbox"
        assert claims["strategy"]["type"] == "Recreate", "a ReadWriteOnce outbox is not shared"


def test_configuration_comes_from_the_config_map_and_the_secret() -> None:
    pods = [(n, d["spec"]["template"]["spec"]) for n, d in of_kind("Deployment").items()]
    pods += [(n, j["spec"]["template"]["spec"]) for n, j in of_kind("Job").items()]
    assert CONFIG_MAP in of_kind("ConfigMap")
    assert SECRET in of_kind("Secret")
    for name, pod in pods:
        for c in pod["containers"]:
            refs = {
                (kind, ref[kind]["name"])
                for ref in c["envFrom"]
                for kind in ("configMapRef", "secretRef")
                if kind in ref
            }
            assert refs == {("configMapRef", CONFIG_MAP), ("secretRef", SECRET)}, name
            assert not c.get("env"), f"{name}: settings belong in the ConfigMap"


def test_config_map_holds_real_non_secret_settings() -> None:
    cfg = config()
    known = {f"CLAIMS_{name.upper()}" for name in Settings.model_fields}
    assert set(cfg) <= known, f"unknown settings: {set(cfg) - known}"
    assert not set(cfg) & (secret_env_names() | PENDING_SECRETS), "a secret in the ConfigMap"
    for key in cfg:
        assert not re.search(r"PASSWORD|TOKEN|SECRET|PRIVATE", key), key
    assert cfg["CLAIMS_WEB_HOST"] == "0.0.0.0"  # the probes come from the kubelet
    assert cfg["CLAIMS_LOG_FORMAT"] == "json"
    assert all(isinstance(v, str) for v in cfg.values())


def test_the_settings_accept_the_config_map_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CLAIMS_"):
            monkeypatch.delenv(key)
    values = {**config(), **secret_values(of_kind("Secret")[SECRET])}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.web_host == "0.0.0.0"
    assert str(settings.state_dir) == values["CLAIMS_STATE_DIR"]
    assert settings.topic_partitions == int(values["CLAIMS_TOPIC_PARTITIONS"])


def test_every_secret_setting_is_in_the_secret() -> None:
    keys = set(secret_values(of_kind("Secret")[SECRET]))
    assert secret_env_names() <= keys
    assert keys <= secret_env_names() | PENDING_SECRETS, f"unknown secrets: {keys}"
    assert "CLAIMS_KAFKA_SASL_PASSWORD" in keys
    assert "CLAIMS_DASHBOARD_TOKEN" in keys


def test_secrets_hold_only_the_placeholder() -> None:
    secrets = of_kind("Secret")
    assert secrets
    for name, doc in secrets.items():
        values = secret_values(doc)
        assert values, name
        for key, value in values.items():
            assert value == PLACEHOLDER, f"{name}.{key} looks like a real credential"
    text = (K8S / "secret.yaml").read_text()
    assert "must be replaced" in text or "PLACEHOLDERS ONLY" in text


def test_no_credentials_anywhere_in_the_manifests() -> None:
    suspicious = re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|eyJ[\w-]{10,}\.[\w-]{10,}"
    )
    for path in K8S.glob("*.yaml"):
        assert not suspicious.search(path.read_text()), path.name


def test_a_service_per_worker_for_prometheus() -> None:
    port = int(config()["CLAIMS_WEB_PORT"])
    services = of_kind("Service")
    deployments = of_kind("Deployment")
    assert set(services) == set(WORKERS)
    for name, service in services.items():
        annotations = service["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/claims/metrics"
        (svc_port,) = service["spec"]["ports"]
        assert svc_port["port"] == port
        assert svc_port["targetPort"] in ("web", port)
        selector = service["spec"]["selector"]
        selected = [
            d
            for d, dep in deployments.items()
            if selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert selected == [name], f"service {name} selects {selected}"


def test_topics_job_creates_the_topics_once() -> None:
    (job,) = of_kind("Job").values()
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (c,) = pod["containers"]
    assert c["args"] == ["topics", "create"]
    assert c["image"].split(":")[0] == "claims-engine"


# --- NetworkPolicies ---------------------------------------------------------------------

#: Where Prometheus runs (networkpolicies.yaml says to patch it in an overlay otherwise).
MONITORING_NAMESPACE = "monitoring"
PROMETHEUS_LABELS = {"app.kubernetes.io/name": "prometheus"}
BROKER_EXAMPLE = re.compile(
    r"^# --- broker policy \(not applied by kustomize\) ---\n(.*?)^# --- end of broker policy ---$",
    re.MULTILINE | re.DOTALL,
)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects these labels."""
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    if not (selector.get("matchLabels") or {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def pod_labels() -> dict[str, dict[str, str]]:
    """The pod labels of every workload (Deployments and the Job), by workload name."""
    workloads = {**of_kind("Deployment"), **of_kind("Job")}
    return {n: w["spec"]["template"]["metadata"]["labels"] for n, w in workloads.items()}


def selected_workloads(policy: dict[str, Any]) -> set[str]:
    return {
        n for n, labels in pod_labels().items() if selects(policy["spec"]["podSelector"], labels)
    }


def test_ingress_is_denied_by_default() -> None:
    """One policy selects every pod of the namespace for ingress and allows nothing."""
    deny = [
        name
        for name, policy in of_kind("NetworkPolicy").items()
        if policy["spec"]["podSelector"] == {}
        and "Ingress" in policy["spec"]["policyTypes"]
        and not policy["spec"].get("ingress")
    ]
    assert deny == ["default-deny-ingress"]
    assert selected_workloads(of_kind("NetworkPolicy")["default-deny-ingress"]) == set(pod_labels())


def test_only_prometheus_reaches_the_workers_web_port() -> None:
    port = int(config()["CLAIMS_WEB_PORT"])
    deployments = of_kind("Deployment")
    reachable: set[str] = set()
    for name, policy in of_kind("NetworkPolicy").items():
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress"], f"{name}: egress is not restricted here"
        rules = spec.get("ingress") or []
        if not rules:
            continue
        selected = selected_workloads(policy)
        reachable |= selected
        for rule in rules:
            # A rule without `from` or without `ports` would admit every source or port.
            assert rule.get("from"), f"{name}: a rule without `from` admits everyone"
            assert rule["ports"] == [{"protocol": "TCP", "port": port}], name
            for peer in rule["from"]:
                assert "ipBlock" not in peer, name
                # both selectors in ONE peer: Prometheus pods of the monitoring namespace
                assert peer["namespaceSelector"] == {
                    "matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                }, name
                assert peer["podSelector"] == {"matchLabels": PROMETHEUS_LABELS}, name
        for workload in selected:
            ports = {p["containerPort"] for p in container(deployments[workload])["ports"]}
            assert port in ports, f"{name} opens {port}, which {workload} does not serve"
    # every worker, and not the topics Job (it serves nothing)
    assert reachable == set(deployments) == set(WORKERS)


def test_the_broker_policy_admits_the_engine_pods() -> None:
    """The brokers are outside these manifests: networkpolicies.yaml documents the policy
    to apply in their namespace, and it must still select every pod of the engine."""
    text = (K8S / "networkpolicies.yaml").read_text()
    match = BROKER_EXAMPLE.search(text)
    assert match, "networkpolicies.yaml lost its broker policy example"
    body = "\n".join(
        line.removeprefix("#").removeprefix(" ") for line in match.group(1).splitlines()
    )
    policy = yaml.safe_load(body)
    kubernetes_validate.validate(policy, KUBERNETES_VERSION, strict=True)
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert policy["metadata"]["namespace"] != kustomization["namespace"]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": kustomization["namespace"]}
    }
    engine = {n for n, labels in pod_labels().items() if selects(peer["podSelector"], labels)}
    assert engine == set(pod_labels()), "the broker must admit the workers and the topics Job"
    bootstrap_port = int(config()["CLAIMS_KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    assert rule["ports"] == [{"protocol": "TCP", "port": bootstrap_port}]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_build() -> None:
    """`kubectl kustomize` renders every manifest into the namespace with the pinned image."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True
    ).stdout
    rendered = [d for d in yaml.safe_load_all(out) if d]
    assert len(rendered) == len(documents())
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    for doc in rendered:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == kustomization["namespace"]
            continue
        assert doc["metadata"]["namespace"] == kustomization["namespace"], doc["metadata"]
        if doc["kind"] in ("Deployment", "Job"):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                assert c["image"] == f"{image.get('newName', image['name'])}:{image['newTag']}"
