"""Every dashboard query, alert expression and canary-analysis query evaluates on a real Prometheus.

Starts the whole stack (embedded NATS, five services), drives a little traffic through the
gateway's WebSocket, lets Debian's `prometheus` server scrape the services with the alert rules
loaded, then asks the Prometheus HTTP API to evaluate each query. Also checks that the metric
names the queries use are real, and that the AsyncAPI documents the services serve are the
committed ones.

Skips when the `prometheus` binary is missing (`apt-get install prometheus`), unless
PARALLAX_REQUIRE_OPS_TOOLS=1, which turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring/prometheus/rules/parallax.rules.yml"
DASHBOARD = ROOT / "monitoring/grafana/dashboards/parallax.json"
ANALYSIS = [
    ROOT / "k8s/overlays/canary/analysis-template.yaml",
    ROOT / "k8s/overlays/canary-flagger/metric-templates.yaml",
]

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(420)]

# Metrics that exist only once something happens (a failure, a guard trip, an exporter that the
# test does not run) or that another part of the system adds; any other name a query uses must
# be one Prometheus scraped.
ONLY_WHEN_IT_HAPPENS = {
    "parallax_handler_failures_total",
    "parallax_unreadable_messages_total",
    "parallax_router_pinned_total",
    "parallax_router_not_rollbackable_total",
    "parallax_router_config_refused_total",
    "parallax_comparator_unshadowed_total",
    "parallax_handler_rejections_total",
    "parallax_guard_trips_total",
    "parallax_rollout_domain_percent",
    "parallax_rollout_mode",
    "parallax_rollout_kill_switch",
    "parallax_rollout_shadow",
    "jetstream_consumer_num_pending",
    "jetstream_consumer_num_redelivered",
}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring", "group_left", "group_right",
    "rate", "increase", "irate", "changes", "histogram_quantile", "topk", "bottomk", "clamp_min",
    "clamp_max", "absent", "vector", "and", "or", "unless", "bool", "le", "offset", "label_values",
}  # fmt: skip
TEMPLATE_VALUES = {
    "$__rate_interval": "1m",
    "$__range": "1h",
    "${datasource}": "",
    "$context": ".*",
}


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        message = (
            "Debian's `prometheus` binary is not installed (apt-get install prometheus; .ci/ops-checks does)"
        )
        if os.environ.get("PARALLAX_REQUIRE_OPS_TOOLS") == "1":
            pytest.fail(message + " and PARALLAX_REQUIRE_OPS_TOOLS=1")
        pytest.skip(message)
    return binary


def substitute(expr: str) -> str:
    for variable, value in TEMPLATE_VALUES.items():
        expr = expr.replace(variable, value)
    expr = re.sub(r"\{\{\s*args\.window\s*\}\}", "1m", expr)
    expr = re.sub(r"\{\{\s*args\.[\w-]+\s*\}\}", "none", expr)
    expr = re.sub(r"\{\{\s*interval\s*\}\}", "1m", expr)
    expr = re.sub(r"\{\{\s*namespace\s*\}\}", "parallax", expr)
    return re.sub(r"\{\{\s*target\s*\}\}", "parallax-domain", expr)


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            queries.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for annotation in board.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            queries.append((f"annotation {annotation['name']!r}", annotation["expr"]))
    return queries


def alert_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load(RULES.read_text())
    return [
        (f"rule {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
    ]


def analysis_queries() -> list[tuple[str, str]]:
    queries = []
    for path in ANALYSIS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] == "AnalysisTemplate":
                for metric in doc["spec"]["metrics"]:
                    queries.append(
                        (f"AnalysisTemplate {metric['name']}", metric["provider"]["prometheus"]["query"])
                    )
            elif doc["kind"] == "MetricTemplate":
                queries.append((f"MetricTemplate {doc['metadata']['name']}", doc["spec"]["query"]))
    return queries


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    without_grouping = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_ranges
    )
    without_numbers = re.sub(r"(?<![\w.])\d+(\.\d+)?([eE][-+]?\d+)?", "", without_grouping)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_numbers))
    return {n for n in names if n not in PROMQL_WORDS and n not in {"Inf", "NaN"}}


@dataclass
class Observed:
    prometheus: str
    services: dict[str, int]


def http_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def query(prometheus: str, expr: str) -> dict[str, Any]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        return http_json(url)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())  # type: ignore[no-any-return]


def drive_traffic(gateway_ws: str) -> None:
    """Two campaign lifecycles through the real WebSocket (owner, intruder, admin)."""
    from parallax_cli.demo import CAMPAIGN_USER_PERMISSIONS
    from parallax_cli.sim.client import SimClient
    from parallax_cli.sim.players import Tally, run_campaign
    from parallax_gateway.auth import mint_token
    from parallax_runtime.settings import GatewaySettings

    secret = GatewaySettings().jwt_secret

    async def main() -> None:
        trios = [
            tuple(
                SimClient(gateway_ws, mint_token(f"{role}{i}", secret, perms), f"{role}{i}")
                for role, perms in (
                    ("owner", CAMPAIGN_USER_PERMISSIONS),
                    ("intruder", []),
                    ("admin", ["campaigns:admin"]),
                )
            )
            for i in range(2)
        ]
        clients = [c for trio in trios for c in trio]
        await asyncio.gather(*(c.connect() for c in clients))
        try:
            tally = Tally()
            await asyncio.gather(*(run_campaign(o, x, a, tally, lambda: None) for o, x, a in trios))
            assert tally.sent > 0 and tally.answered == tally.sent, tally
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "traffic did not finish in 120 s"
    if errors:
        raise errors[0]


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    binary = prometheus_binary()
    from parallax_cli.stack import running_stack
    from parallax_runtime.embedded_nats import free_port

    tmp = tmp_path_factory.mktemp("ops")
    env = {"DOMAIN_ROLLOUT_PERCENTAGE": "50", "DOMAIN_ADAPTERS_ENABLED": "true", "SHADOW_ENABLED": "true"}
    with running_stack(tmp / "stack", free_ports=True, extra_env=env) as stack:
        services = {name: s.port for name, s in stack.services.items()}
        drive_traffic(stack.gateway_ws)

        rules_dir = tmp / "rules"
        rules_dir.mkdir()
        shutil.copy(RULES, rules_dir / RULES.name)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules_dir / "*.yml")],
            "scrape_configs": [
                {
                    "job_name": "parallax",
                    "static_configs": [
                        {"targets": [f"127.0.0.1:{port}"], "labels": {"service": name}}
                        for name, port in services.items()
                    ],
                }
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        prometheus = f"http://127.0.0.1:{port}"
        try:

            def ready() -> bool:
                with urllib.request.urlopen(f"{prometheus}/-/ready", timeout=2) as response:
                    return response.status == 200

            wait_for(ready, 30, "prometheus ready")

            def scraped() -> bool:
                up = query(prometheus, 'sum(up{job="parallax"})')["data"]["result"]
                comparisons = query(prometheus, "sum(parallax_comparisons_total)")["data"]["result"]
                return bool(up) and float(up[0]["value"][1]) == len(services) and bool(comparisons)

            wait_for(scraped, 60, "five targets up and comparisons scraped")
            time.sleep(4)  # a few more scrapes, so rates over them have two points
            yield Observed(prometheus, services)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            log.close()


ALL_QUERIES = dashboard_queries() + alert_queries() + analysis_queries()


def test_queries_were_found() -> None:
    assert len(dashboard_queries()) >= 20
    assert len(alert_queries()) >= 10
    assert len(analysis_queries()) >= 6


@pytest.mark.parametrize(("where", "expr"), ALL_QUERIES, ids=[w for w, _ in ALL_QUERIES])
def test_query_evaluates(observed: Observed, where: str, expr: str) -> None:
    answer = query(observed.prometheus, substitute(expr))
    assert answer.get("status") == "success", f"{where}: {answer.get('error')}\n{substitute(expr)}"


def test_query_metric_names_exist(observed: Observed) -> None:
    scraped = set(http_json(f"{observed.prometheus}/api/v1/label/__name__/values")["data"])
    used = {name for _, expr in ALL_QUERIES for name in metric_names(substitute(expr))}
    unknown = sorted(used - scraped - ONLY_WHEN_IT_HAPPENS)
    assert not unknown, f"queries use metrics that the services do not export: {unknown}"


def test_key_panels_show_data(observed: Observed) -> None:
    """After traffic the central panels are not empty: names, labels and rates line up."""
    for expr in (
        "sum by (context, primary, shadow) (rate(parallax_router_routed_total[1m]))",
        'sum by (context) (rate(parallax_comparisons_total{result="match"}[1m]))',
        "histogram_quantile(0.95, sum by (impl, le) (rate(parallax_handler_seconds_bucket[1m])))",
        'sum by (impl, role, outcome) (rate(parallax_handler_commands_total{context="campaign"}[1m]))',
        "sum by (app_name) (rate(faststream_received_processed_messages_total[1m]))",
        "sum(parallax_comparator_pending_pairs)",
    ):
        result = query(observed.prometheus, expr)["data"]["result"]
        assert result, f"no data for {expr}"


def test_alert_rules_are_healthy(observed: Observed) -> None:
    """Prometheus itself evaluated every rule without error, and none fires on a healthy stack."""
    time.sleep(2)
    groups = http_json(f"{observed.prometheus}/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(alert_queries())
    broken = {r["name"]: r.get("lastError") for r in rules if r.get("health") != "ok"}
    assert not broken, broken
    firing = [
        r["name"] for r in rules if r["state"] == "firing" and r["name"] not in {"ParallaxServiceAbsent"}
    ]
    assert not firing, firing


def test_served_asyncapi_matches_committed(observed: Observed) -> None:
    for name, port in observed.services.items():
        served = http_json(f"http://127.0.0.1:{port}/asyncapi.json")
        committed = json.loads((ROOT / "docs/asyncapi" / f"{name}.json").read_text())
        served.pop("servers", None)  # the NATS address differs from the pinned one
        committed.pop("servers", None)
        for channel in [*served.get("channels", {}).values(), *committed.get("channels", {}).values()]:
            channel.pop("servers", None)
        assert served == committed, name
