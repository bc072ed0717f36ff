"""Starts the whole stack: NATS (embedded unless NATS_URL is set), the topology, five services.

Each service runs in its own process (`parallax run <service>`), as it would in production,
so a service can be killed and restarted on its own. Stopping the stack terminates every
child (SIGTERM, then SIGKILL after a grace period) and the embedded server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nats
from parallax_runtime.embedded_nats import EmbeddedNats, NatsServerError, free_port, start_nats
from parallax_runtime.topology import ensure_topology

from parallax_cli.services import DEFAULT_PORTS, SERVICES, ServiceName


class StackError(RuntimeError):
    pass


@dataclass
class ServiceProcess:
    name: ServiceName
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    nats_url: str
    data_dir: Path
    env: dict[str, str]
    services: dict[ServiceName, ServiceProcess] = field(default_factory=dict)
    embedded: EmbeddedNats | None = None
    # Per service, over `env`: e.g. each service's own NATS user (tests/security).
    service_env: Mapping[ServiceName, Mapping[str, str]] = field(default_factory=dict)

    @property
    def gateway_ws(self) -> str:
        return f"ws://127.0.0.1:{self.services['gateway'].port}/ws"

    def start_service(self, name: ServiceName, port: int) -> ServiceProcess:
        log_path = self.data_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**self.env, **self.service_env.get(name, {}), "PARALLAX_HTTP_PORT": str(port)}
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "parallax_cli.main", "run", name],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = ServiceProcess(name, port, process, log_path)
        self.services[name] = service
        return service

    def restart_service(self, name: ServiceName, *, kill: bool = True, timeout: float = 30.0) -> None:
        old = self.services[name]
        stop_process(old.process, hard=kill)
        self.start_service(name, old.port)
        wait_ready([self.services[name]], timeout)

    def restart_nats(self, *, kill: bool = True, down_seconds: float = 0.0, timeout: float = 15.0) -> None:
        """Stop the embedded nats-server (SIGKILL when `kill`), wait `down_seconds`, start it
        again on the same port and store dir. JetStream's file store brings back the streams,
        consumers and buckets; the services reconnect on their own (make_broker)."""
        old = self.embedded
        if old is None:
            raise StackError("restart_nats needs the embedded server (no NATS_URL)")
        stop_process(old.process, hard=kill)
        if down_seconds > 0:
            time.sleep(down_seconds)
        log_file = self.data_dir / "logs" / "nats.log"
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.embedded = start_nats(
                    old.store_dir, port=old.port, log_file=log_file, ready_timeout=timeout
                )
                return
            except NatsServerError:
                # The port can take a moment to be free again after a kill.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in self.services.values():
            stop_process(service.process, hard=False)
        if self.embedded is not None:
            self.embedded.stop()


def stop_process(process: subprocess.Popen[bytes], *, hard: bool, grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    if hard:
        process.kill()
    else:
        process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


def wait_ready(services: list[ServiceProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending and time.monotonic() < deadline:
        for service in list(pending):
            if service.process.poll() is not None:
                tail = service.log_path.read_text(errors="replace")[-3000:]
                raise StackError(f"{service.name} exited ({service.process.returncode}):\n{tail}")
            try:
                with urllib.request.urlopen(f"{service.url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        pending.remove(service)
            except OSError:
                pass
        time.sleep(0.1)
    if pending:
        names = ", ".join(s.name for s in pending)
        raise StackError(f"not ready after {timeout:.0f}s: {names} (logs in the data dir)")


async def provision(nats_url: str, replicas: int = 1) -> list[str]:
    client = await nats.connect(nats_url)
    try:
        return await ensure_topology(client.jetstream(), replicas=replicas)
    finally:
        await client.close()


@contextmanager
def running_stack(
    data_dir: Path,
    *,
    nats_url: str | None = None,
    gateway_port: int | None = None,
    free_ports: bool = False,
    extra_env: dict[str, str] | None = None,
    service_env: Mapping[ServiceName, Mapping[str, str]] | None = None,
    ready_timeout: float = 60.0,
) -> Iterator[Stack]:
    """NATS (embedded unless `nats_url`), topology, then all five services, ready.

    The topology is provisioned through `nats_url`; `service_env` adds to one service's
    environment (its own NATS URL, say)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded = None
    if nats_url is None:
        embedded = start_nats(data_dir / "nats", log_file=data_dir / "logs" / "nats.log")
        nats_url = embedded.url
    env = {
        **os.environ,
        "PARALLAX_NATS_URL": nats_url,
        "NATS_URL": nats_url,
        "PARALLAX_DATA_DIR": str(data_dir),
        **(extra_env or {}),
    }
    stack = Stack(
        nats_url=nats_url, data_dir=data_dir, env=env, embedded=embedded, service_env=service_env or {}
    )
    try:
        asyncio.run(provision(nats_url))
        for name in SERVICES:
            if name == "gateway" and gateway_port is not None:
                port = gateway_port
            else:
                port = free_port() if free_ports else DEFAULT_PORTS[name]
            stack.start_service(name, port)
        wait_ready(list(stack.services.values()), ready_timeout)
        yield stack
    finally:
        stack.stop()
