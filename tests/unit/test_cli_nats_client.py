"""The CLI's NATS connections fail fast, in one line, without printing a password."""

from __future__ import annotations

import socket
import time

import pytest
from parallax_cli.main import app
from parallax_cli.nats_client import GIVE_UP_SECONDS, redacted
from typer.testing import CliRunner


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://admin:s3cret@nats:4222", "nats://admin:***@nats:4222"),
        ("nats://router:p%40ss@10.0.0.1", "nats://router:***@10.0.0.1"),
        ("nats://nats:4222", "nats://nats:4222"),
        ("nats://token@nats:4222", "nats://token@nats:4222"),
        ("nats://a:x@n1:4222, nats://a:y@n2:4222", "nats://a:***@n1:4222,nats://a:***@n2:4222"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


@pytest.mark.parametrize(
    "args",
    [
        ["rollout", "show"],
        ["rollout", "kill", "game", "--reason", "an incident"],
        ["replay"],
        ["plan", "status", "game"],
    ],
)
def test_an_unreachable_nats_is_one_line_within_seconds(args: list[str]) -> None:
    url = f"nats://admin:s3cret@127.0.0.1:{closed_port()}"
    env = {"NATS_URL": url, "PARALLAX_NATS_URL": url, "USER": "tester", "COLUMNS": "200"}
    began = time.monotonic()
    result = CliRunner().invoke(app, args, env=env)
    took = time.monotonic() - began
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 1, output
    assert "cannot reach NATS at nats://admin:***@127.0.0.1" in output
    assert "s3cret" not in output
    assert "Traceback" not in output
    # Not a benchmark: nats-py's own defaults retry for a minute, or for ever.
    assert took < GIVE_UP_SECONDS + 5, took
