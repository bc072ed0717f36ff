"""Every process that may write the rollout config reads the same rollout defaults.

While a context has no stored config, each writer builds its change on the environment defaults
(`parallax_runtime.rollout_store.env_defaults`): the routers apply them, the guard (comparator)
sets the kill switch on them, `parallax rollout`/`parallax plan` (compose's `init`, the
Kubernetes Job and plan CronJob) change them. A writer without the routers' values would write
its own, e.g. `shadow: false`, which drops domain from every aggregate's `sides` for good
(rollout.md: the kill switch changes only the primary). So in docker-compose.yml the router, the
comparator and `init` get identical values, and in Kubernetes they come from one ConfigMap,
overridden nowhere.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import yaml
from parallax_rollout import default_config
from parallax_runtime.settings import RouterSettings
from pydantic import AliasChoices
from test_nats_credentials import OVERLAYS, ROOT, Doc, load_yaml_files, pod_specs, render

# The names rollout.md gives them; RouterSettings also accepts the PARALLAX_ spelling.
SPEC_NAMES = ("DOMAIN_ROLLOUT_PERCENTAGE", "DOMAIN_ADAPTERS_ENABLED", "SHADOW_ENABLED")
FIELDS = ("domain_rollout_percentage", "domain_adapters_enabled", "shadow_enabled")
COMPOSE_WRITERS = ("router", "comparator", "init")
K8S_WRITERS = {"router", "comparator", "init", "rollout-plan"}
CONFIG_MAP = "parallax-config"


def rollout_variables() -> set[str]:
    names = set()
    for name in FIELDS:
        names.add(f"PARALLAX_{name.upper()}")
        alias = RouterSettings.model_fields[name].validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
    return names


def test_the_variables_are_the_ones_the_defaults_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from parallax_runtime.rollout_store import env_defaults

    assert set(SPEC_NAMES) <= rollout_variables()
    monkeypatch.setenv("DOMAIN_ROLLOUT_PERCENTAGE", "12.5")
    monkeypatch.setenv("DOMAIN_ADAPTERS_ENABLED", "false")
    monkeypatch.setenv("SHADOW_ENABLED", "true")
    assert env_defaults() == default_config(Decimal("12.5"), False, True)


# --------------------------------------------------------------------------- docker-compose.yml


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["NAME=value", ...]
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_writers_get_identical_rollout_defaults() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    names = rollout_variables()
    seen = {
        name: {k: v for k, v in compose_environment(services[name]).items() if k in names}
        for name in COMPOSE_WRITERS
    }
    router = seen["router"]
    assert set(SPEC_NAMES) <= set(router), f"router: {router}"
    for name, values in seen.items():
        assert values == router, f"{name} gets {values}, the router {router}"
    # Any other service that sets them (the shared environment) sets the same.
    for name, service in services.items():
        values = {k: v for k, v in compose_environment(service).items() if k in names}
        assert not values or values == router, f"{name} gets {values}, the router {router}"


# --------------------------------------------------------------------------- Kubernetes


def check_writers_share_one_config_map(docs: list[Doc]) -> set[str]:
    """Each writer container reads the variables from envFrom the same ConfigMap, which has
    them all, and overrides none of them (in `env`, or from another source). Returns the writer
    components seen."""
    names = rollout_variables()
    by_kind_name = {(d.get("kind"), d.get("metadata", {}).get("name")): d for d in docs}
    maps: set[str] = set()
    components: set[str] = set()
    for doc, template in pod_specs(docs):
        labels = template.get("metadata", {}).get("labels", {})
        component = labels.get("app.kubernetes.io/component")
        if labels.get("app.kubernetes.io/name") != "parallax" or component not in K8S_WRITERS:
            continue
        components.add(component)
        for container in template["spec"]["containers"]:
            where = f"{doc['kind']}/{doc['metadata']['name']} {container['name']}"
            overridden = {e["name"] for e in container.get("env") or []} & names
            assert not overridden, f"{where} sets {overridden} itself"
            sources = container.get("envFrom") or []
            config_maps = [s["configMapRef"]["name"] for s in sources if "configMapRef" in s]
            assert len(config_maps) == 1, f"{where}: envFrom {sources}"
            maps.update(config_maps)
            for source in sources:
                if "secretRef" in source:
                    secret = by_kind_name.get(("Secret", source["secretRef"]["name"])) or {}
                    values = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
                    assert not set(values) & names, f"{where}: {source} sets rollout defaults"
    assert len(maps) == 1, f"the writers read different ConfigMaps: {maps}"
    config_map = by_kind_name[("ConfigMap", maps.pop())]
    assert set(SPEC_NAMES) <= set(config_map["data"]), config_map["metadata"]["name"]
    return components


def test_kubernetes_writers_read_the_rollout_defaults_from_one_config_map() -> None:
    components = check_writers_share_one_config_map(load_yaml_files("k8s/base", "k8s/components"))
    assert components == K8S_WRITERS
    base = next(yaml.safe_load_all((ROOT / "k8s/base/config.yaml").read_text()))
    assert base["metadata"]["name"] == CONFIG_MAP


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_writers_read_the_rollout_defaults_from_one_config_map(overlay: str) -> None:
    components = check_writers_share_one_config_map(render(overlay))
    plan = {"rollout-plan"} if overlay.startswith("canary") else set()
    assert components == {"router", "comparator", "init"} | plan
