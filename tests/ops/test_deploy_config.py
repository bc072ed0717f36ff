"""docker-compose.yml and the Kubernetes ConfigMap use the services' real settings and commands.

Pure file checks (no Docker, no cluster); the schema checks live in .ci/ops-checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from parallax_cli.services import SERVICES
from parallax_runtime import settings as runtime_settings
from pydantic import AliasChoices

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_CLASSES = [
    runtime_settings.GatewaySettings,
    runtime_settings.RouterSettings,
    runtime_settings.LegacySettings,
    runtime_settings.DomainSettings,
    runtime_settings.ComparatorSettings,
]


def known_variables() -> set[str]:
    names = set()
    for cls in SETTINGS_CLASSES:
        for field_name, field in cls.model_fields.items():
            names.add(f"PARALLAX_{field_name.upper()}")
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names.update(str(choice) for choice in alias.choices)
    return names


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_every_service_runs_its_own_command_with_health_checks() -> None:
    services = compose()["services"]
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["run", name]
        assert "readyz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["nats"]["condition"] == "service_healthy"
    assert services["init"]["command"] == ["init"]
    assert services["domain"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "--jetstream" in services["nats"]["command"]


def test_compose_environment_names_are_settings() -> None:
    known = known_variables()
    for name, service in compose()["services"].items():
        if name in SERVICES or name == "init":
            unknown = set(service.get("environment", {})) - known
            assert not unknown, f"{name}: {unknown}"


def test_kubernetes_config_names_are_settings() -> None:
    known = known_variables()
    docs = list(yaml.safe_load_all((ROOT / "k8s/base/config.yaml").read_text()))
    for doc in docs:
        keys = set(doc.get("data") or doc.get("stringData") or {})
        assert keys and not keys - known, f"{doc['metadata']['name']}: {keys - known}"


def test_services_leave_provisioning_to_init() -> None:
    """`init` (the Job, the compose service) provisions as admin; a service user may not
    (deploy/nats/parallax-auth.conf), so no service provisions at start anywhere."""
    services = compose()["services"]
    for name in SERVICES:
        assert services[name]["environment"]["PARALLAX_PROVISION_ON_START"] == "false", name
    config = next(yaml.safe_load_all((ROOT / "k8s/base/config.yaml").read_text()))
    assert config["data"]["PARALLAX_PROVISION_ON_START"] == "false"


def test_prometheus_scrapes_every_service_with_its_label() -> None:
    config = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.compose.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "parallax")
    labelled = {c["labels"]["service"]: c["targets"] for c in job["static_configs"]}
    assert labelled == {name: [f"{name}:8080"] for name in SERVICES}
