"""Writes the generated monitoring files from their sources, or checks that they are current.

Sources (edit these):
  monitoring/prometheus/rules/parallax.rules.yml   the alert rules
  this file's DASHBOARD                            the Grafana dashboard's panels and queries
Generated (do not edit by hand):
  monitoring/grafana/dashboards/parallax.json      the dashboard (docker-compose provisions it)
  k8s/base/monitoring/prometheus-rules.yaml        the rules as a Prometheus Operator PrometheusRule
  k8s/base/monitoring/grafana-dashboard.yaml       the dashboard as a ConfigMap (Grafana sidecar label)

    uv run python scripts/ops/build_monitoring.py           # write
    uv run python scripts/ops/build_monitoring.py --check   # exit 1 if a generated file is stale
"""

# PromQL queries read best on one line each.
# ruff: noqa: E501
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring/prometheus/rules/parallax.rules.yml"
DASHBOARD_JSON = ROOT / "monitoring/grafana/dashboards/parallax.json"
K8S_RULES = ROOT / "k8s/base/monitoring/prometheus-rules.yaml"
K8S_DASHBOARD = ROOT / "k8s/base/monitoring/grafana-dashboard.yaml"

DS = {"type": "prometheus", "uid": "${datasource}"}
CTX = 'context=~"$context"'
RI = "$__rate_interval"


def target(expr: str, legend: str, ref: str = "A", instant: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        t["instant"] = True
        t["range"] = False
    return t


def panel(
    title: str,
    targets: list[dict[str, Any]],
    *,
    kind: str = "timeseries",
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    description: str = "",
    thresholds: list[tuple[str, float | None]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    steps = [{"color": c, "value": v} for c, v in (thresholds or [("green", None)])]
    p: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)],
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {},
        "gridPos": {"w": w, "h": h},
    }
    if kind == "timeseries":
        p["options"] = {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]}}
    p.update(extra or {})
    return p


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


def quantiles(metric: str, by: str, selector: str) -> list[dict[str, Any]]:
    return [
        target(
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{selector}}}[{RI}])))",
            f"p{int(q * 100)} {{{{{by.split(',')[0].strip()}}}}}"
            + (" {{context}}" if "context" in by else ""),
        )
        for q in (0.5, 0.95, 0.99)
    ]


PANELS: list[dict[str, Any]] = [
    row("Rollout"),
    panel(
        "Domain percent per context",
        [target(f"max by (context) (parallax_rollout_domain_percent{{{CTX}}})", "{{context}}", instant=True)],
        kind="stat",
        unit="percent",
        w=8,
        h=5,
        description="Share of aggregates whose desired primary is domain in canary mode (rollout config).",
    ),
    panel(
        "Mode per context",
        [
            target(
                f"max by (context, mode) (parallax_rollout_mode{{{CTX}}}) == 1",
                "{{context}}: {{mode}}",
                instant=True,
            )
        ],
        kind="stat",
        w=8,
        h=5,
        description="Active mode (legacy | canary | domain); kill_switch shows as its own mode.",
        extra={"options": {"textMode": "name", "colorMode": "background"}},
    ),
    panel(
        "Config revision applied by router replicas",
        [target(f"parallax_router_config_revision{{{CTX}}}", "{{context}} {{replica}}", instant=True)],
        kind="stat",
        w=8,
        h=5,
        description="KV revision of the rollout config each router replica applies (all equal when settled).",
    ),
    panel(
        "Kill switch and shadow per context",
        [
            target(
                f"max by (context) (parallax_rollout_kill_switch{{{CTX}}})",
                "kill switch {{context}}",
                instant=True,
            ),
            target(
                f"min by (context) (parallax_rollout_shadow{{{CTX}}})", "shadow {{context}}", instant=True
            ),
        ],
        kind="stat",
        w=8,
        h=5,
        description="1 = on. The kill switch puts every aggregate legacy can serve back on legacy; shadow mirrors every command.",
    ),
    panel(
        "Domain percent over time",
        [target(f"max by (context) (parallax_rollout_domain_percent{{{CTX}}})", "{{context}}")],
        unit="percent",
        w=8,
    ),
    panel(
        "Guard trips",
        [
            target(
                f"sum by (context) (increase(parallax_guard_trips_total{{{CTX}}}[$__range]))",
                "{{context}}",
                instant=True,
            )
        ],
        kind="stat",
        w=8,
        thresholds=[("green", None), ("red", 1)],
        description="Times the comparator's guard set the kill switch in the dashboard's time range.",
    ),
    panel(
        "Pinned and not-rollbackable commands",
        [
            target(
                f"sum by (context) (rate(parallax_router_pinned_total{{{CTX}}}[{RI}]))", "pinned {{context}}"
            ),
            target(
                f"sum by (context) (rate(parallax_router_not_rollbackable_total{{{CTX}}}[{RI}]))",
                "not rollbackable {{context}}",
            ),
            target(
                f"sum by (context) (rate(parallax_router_config_refused_total{{{CTX}}}[{RI}]))",
                "refused config {{context}}",
            ),
        ],
        unit="ops",
        w=8,
    ),
    row("Routed traffic"),
    panel(
        "Routed commands by primary and shadow",
        [
            target(
                f"sum by (context, primary, shadow) (rate(parallax_router_routed_total{{{CTX}}}[{RI}]))",
                "{{context}} primary={{primary}} shadow={{shadow}}",
            )
        ],
        unit="ops",
        extra={
            "fieldConfig": {
                "defaults": {"unit": "ops", "custom": {"stacking": {"mode": "normal"}}},
                "overrides": [],
            }
        },
    ),
    panel(
        "Routing decisions by rule",
        [
            target(
                f"sum by (context, rule) (rate(parallax_router_routed_total{{{CTX}}}[{RI}]))",
                "{{context}} {{rule}}",
            )
        ],
        unit="ops",
    ),
    panel(
        "Share of traffic with domain as primary",
        [
            target(
                f'sum by (context) (rate(parallax_router_routed_total{{{CTX}, primary="domain"}}[{RI}]))'
                f" / sum by (context) (rate(parallax_router_routed_total{{{CTX}}}[{RI}]))",
                "{{context}}",
            )
        ],
        unit="percentunit",
    ),
    panel(
        "Routing time p50 / p95 / p99",
        quantiles("parallax_router_routing_seconds", "context", CTX),
        unit="s",
    ),
    row("Comparison"),
    panel(
        "Match rate",
        [
            target(
                f'sum by (context) (rate(parallax_comparisons_total{{{CTX}, result="match"}}[{RI}]))'
                f" / sum by (context) (rate(parallax_comparisons_total{{{CTX}}}[{RI}]))",
                "{{context}}",
            )
        ],
        unit="percentunit",
        thresholds=[("red", None), ("green", 0.99)],
        description="The guard trips when the mismatch rate passes 1 % (match rate under 99 %) over >= 200 comparisons.",
    ),
    panel(
        "Mismatches by class",
        [
            target(
                f'sum by (context, result) (rate(parallax_comparisons_total{{{CTX}, result!="match"}}[{RI}]))',
                "{{context}} {{result}}",
            )
        ],
        unit="ops",
    ),
    panel(
        "Top mismatching command types",
        [
            target(
                f'topk(10, sum by (context, command_type, result) (increase(parallax_comparisons_total{{{CTX}, result!="match"}}[$__range])))',
                "{{context}} {{command_type}} {{result}}",
                instant=True,
            )
        ],
        kind="bargauge",
        description="`parallax report` shows the diffs.",
    ),
    panel(
        "Pending pairs and unshadowed commands",
        [
            target("sum(parallax_comparator_pending_pairs)", "pending pairs"),
            target(f"sum(rate(parallax_comparator_unshadowed_total[{RI}]))", "unshadowed / s"),
        ],
    ),
    panel(
        "Pairing time p50 / p95 / p99",
        [
            target(
                f"histogram_quantile({q}, sum by (le) (rate(parallax_comparator_pairing_seconds_bucket[{RI}])))",
                f"p{int(q * 100)}",
            )
            for q in (0.5, 0.95, 0.99)
        ],
        unit="s",
    ),
    panel(
        "JetStream consumer backlog",
        [
            target(
                "max by (stream_name, consumer_name) (jetstream_consumer_num_pending)",
                "pending {{stream_name}}/{{consumer_name}}",
            ),
            target(
                "max by (stream_name, consumer_name) (jetstream_consumer_num_redelivered)",
                "redelivered {{stream_name}}/{{consumer_name}}",
            ),
        ],
        description="From prometheus-nats-exporter (-jsz=all).",
    ),
    row("Handlers"),
    panel(
        "Handler latency p50 / p95 / p99 by implementation",
        quantiles("parallax_handler_seconds", "impl", CTX),
        unit="s",
        thresholds=[("green", None), ("red", 0.2)],
    ),
    panel(
        "Commands handled by implementation and role",
        [
            target(
                f"sum by (impl, role, outcome) (rate(parallax_handler_commands_total{{{CTX}}}[{RI}]))",
                "{{impl}} {{role}} {{outcome}}",
            )
        ],
        unit="ops",
    ),
    panel(
        "Errors",
        [
            target(
                f'sum by (context) (rate(parallax_handler_failures_total{{{CTX}, impl="domain"}}[{RI}]))'
                f' / (sum by (context) (rate(parallax_handler_commands_total{{{CTX}, impl="domain"}}[{RI}]))'
                f' + sum by (context) (rate(parallax_handler_failures_total{{{CTX}, impl="domain"}}[{RI}])))',
                "domain error rate {{context}}",
            ),
            target(
                f'sum by (context) (rate(parallax_handler_failures_total{{{CTX}, impl="legacy"}}[{RI}]))'
                f' / (sum by (context) (rate(parallax_handler_commands_total{{{CTX}, impl="legacy"}}[{RI}]))'
                f' + sum by (context) (rate(parallax_handler_failures_total{{{CTX}, impl="legacy"}}[{RI}])))',
                "legacy error rate {{context}}",
            ),
        ],
        unit="percentunit",
        thresholds=[("green", None), ("red", 0.01)],
    ),
    panel(
        "Failures, unreadable messages, nacks",
        [
            target(
                f"sum by (impl, context) (rate(parallax_handler_failures_total{{{CTX}}}[{RI}]))",
                "failures {{impl}} {{context}}",
            ),
            target(
                f"sum by (service) (rate(parallax_unreadable_messages_total[{RI}]))", "unreadable {{service}}"
            ),
            target(
                f'sum by (app_name) (rate(faststream_received_processed_messages_total{{status=~"nacked|error"}}[{RI}]))',
                "nacked/error {{app_name}}",
            ),
        ],
        unit="ops",
    ),
    panel(
        "Rejections by implementation and code",
        [
            target(
                f"sum by (impl, code) (rate(parallax_handler_rejections_total{{{CTX}}}[{RI}]))",
                "{{impl}} {{code}}",
            )
        ],
        unit="ops",
    ),
    row("Gateway and services"),
    panel(
        "Open sockets",
        [target("sum(parallax_gateway_sockets)", "sockets")],
        w=8,
    ),
    panel(
        "Frames by outcome",
        [target(f"sum by (outcome) (rate(parallax_gateway_frames_total[{RI}]))", "{{outcome}}")],
        unit="ops",
        w=8,
    ),
    panel(
        "Targets up",
        [
            target(
                'sum by (service) (up{service=~"gateway|router|legacy|domain|comparator"})',
                "{{service}}",
                instant=True,
            )
        ],
        kind="stat",
        w=8,
        thresholds=[("red", None), ("green", 1)],
    ),
]


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    x = y = row_h = 0
    out = []
    for pid, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p = {"id": pid, **p, "gridPos": {"x": x, "y": y, "w": w, "h": h}}
        out.append(p)
        x += w
        row_h = max(row_h, h)
        if p["type"] == "row":
            x, y, row_h = 0, y + h, 0
    return out


def dashboard() -> dict[str, Any]:
    return {
        "uid": "parallax-rollout",
        "title": "Parallax — rollout, comparison, handlers",
        "description": "Generated by scripts/ops/build_monitoring.py; edit that file, not this one.",
        "tags": ["parallax"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "parallax-prometheus"},
                },
                {
                    "name": "context",
                    "label": "Context",
                    "type": "query",
                    "datasource": DS,
                    "query": {
                        "query": "label_values(parallax_router_routed_total, context)",
                        "refId": "context",
                    },
                    "definition": "label_values(parallax_router_routed_total, context)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                },
            ]
        },
        "annotations": {
            "list": [
                {
                    "name": "Guard trips",
                    "datasource": DS,
                    "enable": True,
                    "iconColor": "red",
                    "expr": "changes(parallax_guard_trips_total[2m]) > 0",
                    "titleFormat": "guard tripped: {{context}}",
                }
            ]
        },
        "panels": layout([dict(p) for p in PANELS]),
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


HEADER = "# Generated by scripts/ops/build_monitoring.py from {source}; do not edit.\n"


def rendered() -> dict[Path, str]:
    rules = yaml.safe_load(RULES.read_text())
    board = json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"
    prometheus_rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "parallax",
            "labels": {"app.kubernetes.io/part-of": "parallax", "role": "alert-rules"},
        },
        "spec": rules,
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "parallax-grafana-dashboard",
            "labels": {"app.kubernetes.io/part-of": "parallax", "grafana_dashboard": "1"},
        },
        "data": {"parallax.json": board},
    }
    return {
        DASHBOARD_JSON: board,
        K8S_RULES: HEADER.format(source="monitoring/prometheus/rules/parallax.rules.yml")
        + dump_yaml(prometheus_rule),
        K8S_DASHBOARD: HEADER.format(source="its DASHBOARD panels") + dump_yaml(config_map),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail if a generated file differs")
    args = parser.parse_args()
    stale = []
    for path, text in rendered().items():
        rel = path.relative_to(ROOT)
        current = path.read_text() if path.exists() else None
        if args.check:
            if current != text:
                stale.append(str(rel))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if current != text:
            path.write_text(text)
            print(f"wrote {rel}")
        else:
            print(f"unchanged {rel}")
    if stale:
        print(
            "stale (run `uv run python scripts/ops/build_monitoring.py`): " + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    if args.check:
        print("generated monitoring files are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
