"""Monitoring artefacts: Prometheus alert rules and scrape configs, the Grafana
dashboard and provisioning, and the compose `monitoring` profile.

Every PromQL expression may only use the metrics the workers export (or `up`),
and every outcome/processor label value it selects must be one the code
produces: a renamed metric or outcome breaks these tests instead of silently
emptying a panel or muting an alert.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import typing
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import outcomes as outcome_schemas
from schemas.reconciliation import ClaimCategory
from workers.engine import PROCESSORS

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
GRAFANA = REPO / "deploy" / "grafana"
WORKERS = {*PROCESSORS, "inbox"}
JOB = "claims-engine"

#: Metrics the workers export today (workers/runtime/metrics.py) and the ones
#: being added (the processing-time histogram and the consumer lag gauge).
METRICS = {
    "claims_messages_total",
    "claims_dead_letters_total",
    "claims_outcomes_total",
    "claims_failures_total",
    "claims_outputs_total",
    "claims_processing_seconds_bucket",
    "claims_processing_seconds_sum",
    "claims_processing_seconds_count",
    "claims_consumer_lag",
}
ALLOWED = METRICS | {"up"}

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS |= {"and", "or", "unless", "bool", "offset", "atan2"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, Grafana variables
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group() in _KEYWORDS:
            continue  # a function or aggregation, or an operator
        names.add(match.group())
    return names


def matchers(expr: str, label: str) -> list[tuple[str, str]]:
    """(operator, value) of every matcher on ``label``, e.g. ("=~", "a|b")."""
    return re.findall(rf'\b{label}\s*(=~|!~|!=|=)\s*"([^"]*)"', expr)


def balanced(expr: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def known_outcomes() -> set[str]:
    """Every value the code gives the `outcome` label of claims_outcomes_total."""
    values = set(typing.get_args(ClaimCategory))  # reconcile: the posting's category
    values |= {n for n in dir(outcome_schemas) if n.startswith("Session")}  # enrich: type names
    for path in (REPO / "workers").rglob("*.py"):
        values |= set(re.findall(r'\.outcome\(\s*\w+,\s*"([^"]+)"', path.read_text()))
    return values


def check_expression(expr: str, where: str) -> None:
    assert balanced(expr), f"{where}: unbalanced brackets in {expr!r}"
    names = metric_names(expr)
    assert names, f"{where}: no metric in {expr!r}"
    assert names <= ALLOWED, f"{where}: unknown metrics {names - ALLOWED}"
    outcomes = known_outcomes()
    for op, value in matchers(expr, "outcome"):
        if op == "=":
            assert value in outcomes, f"{where}: no code produces outcome {value!r}"
        elif op == "=~":
            for alternative in value.split("|"):
                assert any(re.fullmatch(alternative, o) for o in outcomes), (
                    f"{where}: no outcome matches {alternative!r}"
                )
    for op, value in matchers(expr, "processor"):
        if op == "=":
            assert value in PROCESSORS, f"{where}: unknown processor {value!r}"
    for op, value in matchers(expr, "job"):
        if op == "=":
            assert value == JOB, f"{where}: job {value!r} is not scraped"


# --- the helpers themselves -------------------------------------------------------


def test_metric_names_finds_metrics_and_only_metrics() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, processor) (rate(foo_bucket{processor=~"$p"}'
        "[$__rate_interval]))) > 5 unless on (service) up == 0 or vector(0)"
    )
    assert metric_names(expr) == {"foo_bucket", "up"}
    assert metric_names("sum(claims_consumer_lag) > 1e3") == {"claims_consumer_lag"}
    assert not balanced("sum(rate(x[5m])")
    with pytest.raises(AssertionError):
        check_expression("rate(claims_messages_totl[5m])", "typo")
    with pytest.raises(AssertionError):
        check_expression('claims_outcomes_total{outcome="file-rejected"}', "bad outcome")


def test_known_outcomes_come_from_the_code() -> None:
    outcomes = known_outcomes()
    assert {"file-refused", "file-released", "claims-released", "denied"} <= outcomes
    assert {"SessionEnriched", "SessionHeld", "SessionRejected"} <= outcomes


# --- alert rules --------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    assert set(doc) == {"groups"}
    rules = []
    for group in doc["groups"]:
        assert set(group) <= {"name", "rules", "interval", "limit", "labels"}, group.get("name")
        assert group["name"] and group["rules"]
        rules += group["rules"]
    return rules


def test_alert_rules_have_the_rule_file_structure() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule), rule["alert"]
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
        assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        for text in rule["annotations"].values():
            assert text.count("{{") == text.count("}}"), rule["alert"]


def test_alert_expressions_use_exported_metrics() -> None:
    for rule in alert_rules():
        check_expression(rule["expr"], rule["alert"])


def test_the_operational_alerts_exist() -> None:
    exprs = {r["alert"]: r["expr"] for r in alert_rules()}

    def having(*needles: str) -> list[str]:
        return [a for a, e in exprs.items() if all(n in e for n in needles)]

    assert having("claims_dead_letters_total", "[10m]", "topic", "reason"), "dead-letter growth"
    assert having("claims_consumer_lag", "> 1000"), "consumer lag high"
    no_output = having("claims_messages_total", 'status="ok"', "claims_consumer_lag", "[15m]")
    assert no_output, "no output while lag > 0"
    assert having("up{", "== 0"), "worker down"
    assert having('outcome="file-refused"'), "validation gate refusing files"


# --- scrape configuration -------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_prometheus_scrapes_every_compose_worker() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS / rule_file).is_file(), rule_file
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs[JOB]
    assert job["metrics_path"] == "/claims/metrics"
    services = compose()["services"]
    names: set[str] = set()
    for sd in job["dns_sd_configs"]:
        names |= set(sd["names"])
        assert sd["port"] == int(services["enrich"]["environment"]["CLAIMS_WEB_PORT"])
    assert names == WORKERS
    assert names <= set(services)
    assert any(r.get("target_label") == "service" for r in job["relabel_configs"])


def test_kubernetes_scrape_job_matches_the_manifests() -> None:
    config = yaml.safe_load((PROMETHEUS / "kubernetes-scrape.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    kustomization = yaml.safe_load((REPO / "deploy/kubernetes/kustomization.yaml").read_text())
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["namespaces"]["names"] == [kustomization["namespace"]]
    assert any(r.get("target_label") == "service" for r in job["relabel_configs"])


# --- Grafana ----------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "claims-engine.json").read_text())


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def targets() -> list[tuple[str, dict[str, Any]]]:
    return [(p["title"], t) for p in panels(dashboard()["panels"]) for t in p.get("targets", [])]


def test_dashboard_structure() -> None:
    board = dashboard()
    assert board["uid"] and board["title"]
    assert board["schemaVersion"] >= 38  # Grafana 10.0
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(board["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(board["panels"]):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_dashboard_expressions_use_exported_metrics() -> None:
    for title, target in targets():
        assert target["datasource"]["uid"] == "${datasource}", title
        check_expression(target["expr"], f"panel {title!r}")


def test_dashboard_has_the_operational_panels() -> None:
    exprs = [t["expr"] for _, t in targets()]

    def having(*needles: str) -> bool:
        return any(all(n in e for n in needles) for e in exprs)

    assert having("claims_messages_total", "by (processor")  # throughput per processor
    assert having("histogram_quantile(0.5,", "claims_processing_seconds_bucket")
    assert having("histogram_quantile(0.95,", "claims_processing_seconds_bucket")
    assert having("claims_consumer_lag")
    assert having("claims_dead_letters_total", "by (topic, reason)")
    for outcome in ("claims-released", "file-released", "file-refused", "denied"):
        assert having(f'outcome="{outcome}"'), outcome


def test_payments_posted_counts_every_posting_category() -> None:
    payments = [t["expr"] for _, t in targets() if t["legendFormat"] == "payments posted"]
    assert payments
    for expr in payments:
        ((op, regex),) = matchers(expr, "outcome")
        assert op == "=~"
        assert set(regex.split("|")) == set(typing.get_args(ClaimCategory))


def test_grafana_provisioning_matches_compose() -> None:
    services = compose()["services"]
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    url = re.fullmatch(r"http://([\w-]+):(\d+)", source["url"])
    assert url, source["url"]
    host, port = url.groups()
    assert host in services
    assert any(p.endswith(f":{port}") for p in services[host]["ports"])

    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/claims-engine.yml").read_text())
    (provider,) = providers["providers"]
    folder = provider["options"]["path"].rstrip("/")
    mounted = {
        target: source
        for source, target, *_ in (v.split(":") for v in services["grafana"]["volumes"])
    }
    dashboards = [t for t in mounted if t.startswith(folder + "/") and t.endswith(".json")]
    assert dashboards, "no dashboard is mounted where the provider looks"
    assert "/etc/grafana/provisioning" in mounted


# --- the compose monitoring profile ---------------------------------------------------


def test_monitoring_profile_services() -> None:
    services = compose()["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    for name, svc in services.items():
        if name not in ("prometheus", "grafana"):
            assert "profiles" not in svc, f"{name} would no longer start by default"


def test_monitoring_mounts_exist_in_the_repository() -> None:
    doc = compose()
    named = set(doc["volumes"])
    for name in ("prometheus", "grafana"):
        for volume in doc["services"][name]["volumes"]:
            source, target = volume.split(":")[:2]
            assert target.startswith("/"), volume
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source} is not declared"
    prometheus = doc["services"]["prometheus"]
    (config_flag,) = [c for c in prometheus["command"] if c.startswith("--config.file=")]
    config_path = config_flag.split("=", 1)[1]
    for volume in prometheus["volumes"]:
        source, target = volume.split(":")[:2]
        if config_path.startswith(target + "/"):
            assert (REPO / source / config_path[len(target) + 1 :]).is_file()
            break
    else:
        pytest.fail(f"{config_path} is not mounted")


def test_grafana_password_is_a_placeholder_from_the_environment() -> None:
    env = compose()["services"]["grafana"]["environment"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:-[\w-]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    for name in ("prometheus", "grafana"):
        for port in compose()["services"][name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"


# --- the worker healthcheck -----------------------------------------------------------


class _Live(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/claims/live" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        pass


def _healthcheck(port: int) -> int:
    test = compose()["services"]["enrich"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    env = {**os.environ, "CLAIMS_WEB_PORT": str(port)}
    return subprocess.run([sys.executable, *test[2:]], env=env, check=False).returncode


def test_worker_healthcheck_probes_the_live_endpoint() -> None:
    services = compose()["services"]
    for name in PROCESSORS:
        assert "/claims/live" in " ".join(services[name]["healthcheck"]["test"]), name
    server = HTTPServer(("127.0.0.1", 0), _Live)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert _healthcheck(server.server_address[1]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert _healthcheck(server.server_address[1]) != 0, "a closed port must be unhealthy"


def test_the_listed_metrics_are_the_ones_the_workers_export() -> None:
    from workers.runtime.metrics import Metrics

    m = Metrics()
    m.observe("enrich", "sessions.completed", "ok", 0.01)
    m.failed("enrich", "sessions.completed", "transient")
    m.dead_lettered("enrich", "sessions.completed", "schema-invalid")
    m.outcome("enrich", "SessionEnriched")
    m.produced("enrich", "sessions.enriched")
    m.set_lag("claims-enrich", "sessions.completed", 0, 3)
    exported = {
        line.split("{")[0].split(" ")[0]
        for line in m.prometheus().splitlines()
        if line and not line.startswith("#")
    }
    assert exported >= METRICS, METRICS - exported
