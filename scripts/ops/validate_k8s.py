"""Validates rendered Kubernetes manifests offline.

* Built-in kinds: against the Kubernetes OpenAPI schemas that the `kubernetes-validate` package
  ships (strict: unknown fields are errors).
* Custom resources: Argo Rollouts and Prometheus Operator kinds against the schemas shipped by the
  npm packages @kubernetes-models/argo-rollouts and @kubernetes-models/prometheus-operator (run
  by scripts/ops/validate_crds.mjs, when --node-modules is given); Flagger kinds are skipped with
  the reason printed (no registry package ships their schemas).
* PromQL embedded in AnalysisTemplates and MetricTemplates: parsed by `promtool check rules`
  (template variables substituted), when promtool is on PATH.

    python scripts/ops/validate_k8s.py rendered.yaml [...] --kubernetes-version 1.31.0 \
        [--node-modules DIR] [--require-crd-schemas]

Exit status 1 on any invalid object (or on a skipped check with --require-crd-schemas).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

# apiVersion/kind -> module of @kubernetes-models that validates it.
CRD_MODELS = {
    ("argoproj.io/v1alpha1", "Rollout"): "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): (
        "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate"
    ),
    ("monitoring.coreos.com/v1", "PodMonitor"): (
        "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor"
    ),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (
        "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor"
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): (
        "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule"
    ),
}
SKIPPED_GROUPS = {
    "flagger.app": "no PyPI/npm package ships Flagger's CRD schemas (@kubernetes-models has no flagger "
    "package); checked: apiVersion/kind/name present, PromQL parsed by promtool",
}
BUILTIN_GROUPS = {
    "v1",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
}

# Template variables of Argo Rollouts and Flagger, replaced by sample values before parsing.
TEMPLATE_VARS = [
    (re.compile(r"\{\{\s*args\.window\s*\}\}"), "5m"),
    (re.compile(r"\{\{\s*args\.[\w-]+\s*\}\}"), "sample"),
    (re.compile(r"\{\{\s*interval\s*\}\}"), "5m"),
    (re.compile(r"\{\{\s*namespace\s*\}\}"), "parallax"),
    (re.compile(r"\{\{\s*target\s*\}\}"), "parallax-domain"),
]


def substitute(query: str) -> str:
    for pattern, value in TEMPLATE_VARS:
        query = pattern.sub(value, query)
    return query


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else "v1"


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def embedded_queries(doc: dict[str, Any]) -> list[tuple[str, str]]:
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "AnalysisTemplate":
        return [
            (f"{name_of(doc)}:{m['name']}", m["provider"]["prometheus"]["query"])
            for m in spec.get("metrics", [])
            if "prometheus" in m.get("provider", {})
        ]
    if kind == "MetricTemplate" and spec.get("provider", {}).get("type") == "prometheus":
        return [(name_of(doc), spec["query"])]
    return []


def check_promql(queries: list[tuple[str, str]]) -> list[str]:
    promtool = shutil.which("promtool")
    if not queries:
        return []
    if promtool is None:
        print(f"  SKIP PromQL of {len(queries)} analysis queries: promtool not on PATH")
        return []
    rules = {
        "groups": [
            {
                "name": "embedded",
                "rules": [
                    {"record": f"parallax:embedded_{i}", "expr": substitute(q)}
                    for i, (_, q) in enumerate(queries)
                ],
            }
        ]
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(rules, handle)
    result = subprocess.run([promtool, "check", "rules", handle.name], capture_output=True, text=True)
    Path(handle.name).unlink()
    if result.returncode != 0:
        return [f"PromQL of {[n for n, _ in queries]}: {result.stdout}{result.stderr}"]
    for name, _ in queries:
        print(f"  ok   PromQL {name} (promtool)")
    return []


def validate_crds(docs: list[dict[str, Any]], node_modules: Path) -> list[str]:
    node = shutil.which("node")
    if node is None:
        return ["node is not on PATH"]
    payload = [
        {"module": CRD_MODELS[(d["apiVersion"], d["kind"])], "name": name_of(d), "object": d} for d in docs
    ]
    # ESM resolves bare specifiers from the importing file: run a copy beside node_modules.
    script = node_modules.parent / "validate_crds.mjs"
    shutil.copyfile(HERE / "validate_crds.mjs", script)
    result = subprocess.run([node, str(script)], input=json.dumps(payload), capture_output=True, text=True)
    errors = []
    for line in result.stdout.splitlines():
        print(f"  {line}")
        if line.startswith("FAIL"):
            errors.append(line)
    if result.returncode != 0 and not errors:
        errors.append(f"validate_crds.mjs exited {result.returncode}: {result.stderr[-2000:]}")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--kubernetes-version", default="1.31.0")
    parser.add_argument("--node-modules", type=Path, help="node_modules with the @kubernetes-models packages")
    parser.add_argument(
        "--require-crd-schemas", action="store_true", help="fail instead of skipping CRD checks"
    )
    args = parser.parse_args()

    import kubernetes_validate

    errors: list[str] = []
    for path in args.files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        print(f"{path}: {len(docs)} objects (Kubernetes {args.kubernetes_version})")
        crds: list[dict[str, Any]] = []
        queries: list[tuple[str, str]] = []
        for doc in docs:
            api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
            group = group_of(api_version)
            if not api_version or not kind or not doc.get("metadata", {}).get("name"):
                errors.append(f"{path}: object without apiVersion, kind or metadata.name: {doc!r:.200}")
                continue
            queries += embedded_queries(doc)
            if group in BUILTIN_GROUPS:
                try:
                    kubernetes_validate.validate(doc, args.kubernetes_version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    errors.append(f"{path}: {name_of(doc)}: {exc.message} at {'.'.join(map(str, exc.path))}")
                    print(f"  FAIL {name_of(doc)}")
                else:
                    print(f"  ok   {name_of(doc)} ({api_version})")
            elif (api_version, kind) in CRD_MODELS:
                crds.append(doc)
            elif group in SKIPPED_GROUPS:
                reason = SKIPPED_GROUPS[group]
                print(f"  SKIP {name_of(doc)} ({api_version}) schema: {reason}")
                if args.require_crd_schemas:
                    errors.append(f"{path}: {name_of(doc)}: no schema ({reason})")
            else:
                errors.append(f"{path}: {name_of(doc)}: unknown apiVersion {api_version}")
        if crds:
            if args.node_modules is None:
                for doc in crds:
                    print(f"  SKIP {name_of(doc)}: no --node-modules with @kubernetes-models packages")
                if args.require_crd_schemas:
                    errors.append(f"{path}: {len(crds)} custom resources not validated")
            else:
                errors += [f"{path}: {e}" for e in validate_crds(crds, args.node_modules)]
        errors += [f"{path}: {e}" for e in check_promql(queries)]
    if errors:
        print(f"\n{len(errors)} problem(s):", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
