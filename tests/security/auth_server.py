"""A real nats-server (JetStream, file store) with deploy/nats/parallax-auth.conf, and clients of
its users: the server of test_nats_permissions.py and test_services_under_auth.py."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.aio.client import DEFAULT_INBOX_PREFIX, Client
from parallax_runtime.connection import inbox_prefix
from parallax_runtime.embedded_nats import free_port, nats_server_binary
from parallax_runtime.topology import ensure_topology

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "parallax-auth.conf"
SERVICE_USERS = ("gateway", "router", "legacy", "domain", "comparator")
# The read-only user of dashboards and bots: comparisons, alerts, the COMPARISONS and AUDIT streams.
READER = "reader"
USERS = (*SERVICE_USERS, READER, "admin")


@dataclass
class Server:
    host_port: str
    passwords: dict[str, str]

    @property
    def url(self) -> str:
        return f"nats://{self.host_port}"

    def url_of(self, user: str) -> str:
        """A NATS URL with `user`'s credentials, as a service's NATS_URL would be."""
        return f"nats://{user}:{self.passwords[user]}@{self.host_port}"


@contextmanager
def auth_server(
    directory: Path, conf: Path = CONF, *, port: int | None = None, passwords: dict[str, str] | None = None
) -> Iterator[Server]:
    """nats-server with `conf` included, every user's password from the server's environment.
    `port` and `passwords` to start it again where an earlier one ran (its clients reconnect)."""
    shutil.copy(conf, directory / "parallax-auth.conf")
    port, monitor = port or free_port(), free_port()
    (directory / "server.conf").write_text(
        f"listen: 127.0.0.1:{port}\n"
        f"http: 127.0.0.1:{monitor}\n"
        "max_payload: 1048576\n"
        f'jetstream {{ store_dir: "{directory / "js"}" }}\n'
        "include ./parallax-auth.conf\n"
    )
    # The server parses an environment value as a config value: one that starts with a letter
    # and has only letters and digits stays a plain string.
    passwords = passwords or {user: "p" + secrets.token_hex(16) for user in USERS}
    env = {**os.environ, **{f"PARALLAX_NATS_{u.upper()}_PASSWORD": p for u, p in passwords.items()}}
    log_path = directory / "nats.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [nats_server_binary(), "-c", str(directory / "server.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        wait_healthy(process, monitor, log_path)
        yield Server(f"127.0.0.1:{port}", passwords)
    finally:
        process.terminate()
        process.wait(10)


def wait_healthy(
    process: subprocess.Popen[bytes], monitor: int, log_path: Path, within: float = 15.0
) -> None:
    deadline = time.monotonic() + within
    while True:
        assert process.poll() is None, log_path.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "nats-server did not start"
        time.sleep(0.05)


@dataclass
class Session:
    nc: Client
    errors: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        return [e for e in self.errors if "permissions violation" in e.lower()]


async def connect(server: Server, user: str) -> Session:
    """A client of `user`, with its inbox prefix (`connection.inbox_prefix`: `_INBOX_<user>`,
    the reader's `_INBOX_reader` too), the one the auth file lets it read (nats-py's default for
    the admin); errors are kept."""
    session_errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        session_errors.append(str(exc))

    nc = await nats.connect(
        server.url,
        user=user,
        password=server.passwords[user],
        inbox_prefix=DEFAULT_INBOX_PREFIX if user == "admin" else inbox_prefix(user),
        error_cb=on_error,
        allow_reconnect=False,
        connect_timeout=5,
    )
    return Session(nc, session_errors)


async def provision_as_admin(server: Server) -> None:
    """The topology, as `parallax init` creates it in production (services may not)."""
    admin = await connect(server, "admin")
    try:
        await ensure_topology(admin.nc.jetstream())
    finally:
        await admin.nc.close()
