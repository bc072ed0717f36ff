"""deploy/nats/parallax-auth.conf on a real nats-server (JetStream, file store): each service's
user can do what architecture.md gives it, and nothing outside its subjects: a core publish there
is refused (a permissions violation reaches the client's error callback, the message is dropped),
a JetStream publish gets no PubAck, a subscription outside its subjects is refused. The read-only
`reader` (dashboards, bots) receives the comparisons and alerts, reads COMPARISONS and AUDIT
through consumers of its own, and may publish nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from parallax_cli.commands.rollout import read_history
from parallax_runtime.connection import inbox_prefix, kv_keys
from parallax_runtime.topology import BUCKETS

from .auth_server import (
    READER,
    SERVICE_USERS,
    USERS,
    Server,
    Session,
    auth_server,
    connect,
    provision_as_admin,
)

pytestmark = pytest.mark.integration

ROOM = "3FA9C1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with auth_server(tmp_path_factory.mktemp("nats-auth")) as running:
        yield running


@pytest.fixture(scope="module")
async def provisioned(server: Server) -> AsyncIterator[Server]:
    await provision_as_admin(server)
    yield server


async def js_publish_ok(session: Session, subject: str) -> bool:
    try:
        await session.nc.jetstream(timeout=0.5).publish(
            subject, b"{}", timeout=0.5, headers={"Nats-Msg-Id": str(uuid.uuid4())}
        )
    except Exception:
        return False
    return True


async def core_publish_ok(session: Session, subject: str) -> bool:
    before = len(session.violations())
    await session.nc.publish(subject, b"{}")
    await session.nc.flush()
    await asyncio.sleep(0.1)  # the server's -ERR arrives after the PONG at worst
    return len(session.violations()) == before


async def subscribe_ok(session: Session, subject: str) -> bool:
    before = len(session.violations())
    sub = await session.nc.subscribe(subject)
    await session.nc.flush()
    await asyncio.sleep(0.1)
    ok = len(session.violations()) == before
    await sub.unsubscribe()
    return ok


async def kv_put_ok(session: Session, bucket: str) -> bool:
    try:
        kv = await session.nc.jetstream(timeout=0.5).key_value(bucket)
        await kv.put("security.check", b"{}")
    except Exception:
        return False
    return True


async def kv_get_ok(session: Session, bucket: str, key: str) -> bool:
    try:
        kv = await session.nc.jetstream(timeout=0.5).key_value(bucket)
        await kv.get(key)
    except Exception as exc:
        return type(exc).__name__ == "KeyNotFoundError"
    return True


async def kv_leader_read_ok(session: Session, bucket: str) -> bool:
    """What the gateway's presence reads (parallax_gateway.presence): a filtered listing of keys
    (a stream info) and a get answered by the stream's leader (not a direct get)."""
    try:
        js = session.nc.jetstream(timeout=0.5)
        await kv_keys(js, bucket, "security.*")
        await js.get_msg(f"KV_{bucket}", subject=f"$KV.{bucket}.security.check")
    except Exception as exc:
        return type(exc).__name__ == "NotFoundError"
    return True


async def consume_ok(session: Session, stream: str, subject: str) -> bool:
    try:
        sub = await session.nc.jetstream(timeout=0.5).pull_subscribe(
            subject, durable=f"sec-{uuid.uuid4().hex[:8]}", stream=stream
        )
        await sub.unsubscribe()
    except Exception:
        return False
    return True


EVENTS = f"parallax.events.legacy.game.{ROOM}"
# (check, target, allowed) per user. A target of a KV check is a bucket; of a consume, a stream.
EXPECTATIONS: dict[str, list[tuple[str, str, bool]]] = {
    "gateway": [
        ("js", f"parallax.ingress.game.{ROOM}", True),
        ("subscribe", "parallax.events.>", True),
        ("js", f"parallax.handle.legacy.game.{ROOM}", False),
        ("js", EVENTS, False),
        ("js", "parallax.comparisons.game.match", False),
        ("core", "parallax.alerts.game", False),
        ("subscribe", "parallax.ingress.>", False),
        ("subscribe", "parallax.handle.>", False),
        # which replicas hold a user's sockets (presence.py): its own bucket only
        ("kv_put", "parallax_presence", True),
        ("kv_get", "parallax_presence", True),
        ("kv_leader_read", "parallax_presence", True),
        ("kv_put", "parallax_rollout", False),
        ("kv_put", "parallax_routers", False),
        ("kv_put", "parallax_aggregates", False),
        ("kv_get", "parallax_legacy_game", False),
        ("consume", "INGRESS", False),
    ],
    "router": [
        ("js", f"parallax.handle.legacy.game.{ROOM}", True),
        ("js", f"parallax.handle.domain.game.{ROOM}", True),
        ("js", f"parallax.routed.game.{ROOM}", True),
        ("consume", "INGRESS", True),
        ("kv_put", "parallax_aggregates", True),
        ("kv_put", "parallax_routers", True),
        ("kv_get", "parallax_rollout", True),
        ("kv_put", "parallax_rollout", False),
        ("js", f"parallax.ingress.game.{ROOM}", False),
        ("js", EVENTS, False),
        ("consume", "EVENTS", False),
        ("subscribe", "parallax.events.>", False),
        ("kv_get", "parallax_legacy_game", False),
        ("kv_put", "parallax_presence", False),
        ("kv_leader_read", "parallax_presence", False),
    ],
    "legacy": [
        ("js", EVENTS, True),
        ("consume", "HANDLE", True),
        ("kv_put", "parallax_legacy_game", True),
        ("kv_put", "parallax_legacy_campaign", True),
        ("kv_get", "parallax_legacy_game", True),
        ("js", f"parallax.events.domain.game.{ROOM}", False),
        ("js", f"parallax.ingress.game.{ROOM}", False),
        ("js", f"parallax.handle.legacy.game.{ROOM}", False),
        ("kv_put", "parallax_rollout", False),
        ("consume", "INGRESS", False),
        ("subscribe", "parallax.>", False),
    ],
    "domain": [
        ("js", f"parallax.events.domain.game.{ROOM}", True),
        ("consume", "HANDLE", True),
        ("js", EVENTS, False),
        ("js", f"parallax.routed.game.{ROOM}", False),
        ("js", "parallax.comparisons.game.match", False),
        ("kv_put", "parallax_legacy_game", False),
        ("kv_get", "parallax_legacy_game", False),
        ("consume", "EVENTS", False),
        ("subscribe", "parallax.events.>", False),
    ],
    "comparator": [
        ("js", "parallax.comparisons.game.match", True),
        ("js", "parallax.comparisons.unknown.missing_domain", True),
        ("js", "parallax.audit.rollout.game", True),
        ("core", "parallax.alerts.game", True),
        ("consume", "EVENTS", True),
        ("consume", "ROUTED", True),
        ("kv_put", "parallax_rollout", True),
        ("js", f"parallax.ingress.game.{ROOM}", False),
        ("js", f"parallax.handle.domain.game.{ROOM}", False),
        ("js", EVENTS, False),
        ("kv_put", "parallax_aggregates", False),
        ("kv_put", "parallax_legacy_game", False),
        ("kv_put", "parallax_presence", False),
        ("consume", "HANDLE", False),
    ],
    # Read-only: what it may read is tested below (test_the_reader_...); here, that it can do
    # nothing else. Its consumers on COMPARISONS and AUDIT are its own (pull, durable).
    READER: [
        ("subscribe", "parallax.comparisons.>", True),
        ("subscribe", "parallax.comparisons.*.payload_mismatch", True),
        ("subscribe", "parallax.alerts.>", True),
        ("consume", "COMPARISONS", True),
        ("consume", "AUDIT", True),
        ("js", f"parallax.ingress.game.{ROOM}", False),
        ("core", f"parallax.ingress.game.{ROOM}", False),
        ("js", "parallax.comparisons.game.match", False),
        ("core", "parallax.comparisons.game.match", False),
        ("core", "parallax.alerts.game", False),
        ("js", "parallax.audit.rollout.game", False),
        ("js", f"parallax.handle.legacy.game.{ROOM}", False),
        ("js", EVENTS, False),
        *(("kv_put", bucket.name, False) for bucket in BUCKETS),
        ("kv_get", "parallax_rollout", False),
        ("subscribe", "parallax.events.>", False),
        ("subscribe", "parallax.handle.>", False),
        ("subscribe", "parallax.ingress.>", False),
        ("subscribe", "parallax.routed.>", False),
        ("subscribe", "parallax.>", False),
        ("consume", "EVENTS", False),
        ("consume", "HANDLE", False),
        ("consume", "INGRESS", False),
        ("consume", "ROUTED", False),
    ],
    "admin": [
        ("js", f"parallax.ingress.game.{ROOM}", True),
        ("js", f"parallax.handle.legacy.game.{ROOM}", True),
        ("subscribe", "parallax.>", True),
        ("kv_put", "parallax_rollout", True),
    ],
}
CONSUME_FILTERS = {
    "INGRESS": "parallax.ingress.>",
    "HANDLE": "parallax.handle.>",
    "EVENTS": "parallax.events.>",
    "ROUTED": "parallax.routed.>",
    "COMPARISONS": "parallax.comparisons.>",
    "AUDIT": "parallax.audit.>",
}


def reply_expectations(user: str) -> list[tuple[str, str, bool]]:
    """Replies and deliveries (deploy/nats/parallax-auth.conf): a user reads its own inboxes
    (`_INBOX_<user>`) and its consumers' deliver subjects, nobody else's, and not nats-py's
    default `_INBOX.` shared by everyone."""
    if user == "admin":
        return [("subscribe", "_INBOX.>", True), ("subscribe", "_parallax.deliver.>", True)]
    others = [other for other in (*SERVICE_USERS, READER) if other != user]
    return [
        ("subscribe", f"_INBOX_{user}.>", True),
        # The gateway consumes no durable consumer: it has no deliver subject; nor has the
        # reader (its push consumers deliver on its inboxes).
        ("subscribe", f"_parallax.deliver.{user}.{user}-p0", user not in ("gateway", READER)),
        ("subscribe", "_INBOX.>", False),
        ("subscribe", "_parallax.deliver.>", False),
        *(("subscribe", f"_INBOX_{other}.>", False) for other in others),
        *(("subscribe", f"_parallax.deliver.{other}.>", False) for other in others),
    ]


@pytest.mark.parametrize("user", USERS)
async def test_each_service_may_act_only_on_its_subjects(provisioned: Server, user: str) -> None:
    session = await connect(provisioned, user)
    wrong: list[str] = []
    try:
        for check, target, allowed in [*EXPECTATIONS[user], *reply_expectations(user)]:
            if check == "js":
                ok = await js_publish_ok(session, target)
            elif check == "core":
                ok = await core_publish_ok(session, target)
            elif check == "subscribe":
                ok = await subscribe_ok(session, target)
            elif check == "kv_put":
                ok = await kv_put_ok(session, target)
            elif check == "kv_get":
                ok = await kv_get_ok(session, target, "game.ABCDEF")
            elif check == "kv_leader_read":
                ok = await kv_leader_read_ok(session, target)
            else:
                ok = await consume_ok(session, target, CONSUME_FILTERS[target])
            if ok != allowed:
                wrong.append(f"{check} {target}: {'allowed' if ok else 'refused'}, expected the opposite")
    finally:
        await session.nc.close()
    assert not wrong, f"{user}: {wrong}"
    if user != "admin":
        assert session.violations(), "the refusals should have been reported as permission violations"


async def test_a_refused_publish_is_dropped(provisioned: Server) -> None:
    """What a service publishes outside its subjects never reaches anyone."""
    admin = await connect(provisioned, "admin")
    gateway = await connect(provisioned, "gateway")
    try:
        received: list[bytes] = []

        async def keep(msg: nats.aio.msg.Msg) -> None:
            received.append(msg.data)

        await admin.nc.subscribe("parallax.handle.>", cb=keep)
        await admin.nc.flush()
        await gateway.nc.publish(f"parallax.handle.legacy.game.{ROOM}", b"forged")
        await gateway.nc.flush()
        await asyncio.sleep(0.3)
        assert received == []
        assert gateway.violations()
    finally:
        await gateway.nc.close()
        await admin.nc.close()


# -- the reader: what protocol.md gives "anyone" ---------------------------------------------


async def reader_session(server: Server) -> Session:
    """The reader, connected as docs/operations.md tells a dashboard to: `_INBOX_reader`."""
    session = await connect(server, READER)
    assert inbox_prefix(READER) == "_INBOX_reader"
    return session


async def publish_as_comparator(comparator: Session, subject: str, body: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    await comparator.nc.jetstream(timeout=2).publish(
        subject, data, timeout=2, headers={"Nats-Msg-Id": str(uuid.uuid4())}
    )
    return data


async def test_the_reader_receives_comparisons_and_alerts_as_published(provisioned: Server) -> None:
    reader = await reader_session(provisioned)
    comparator = await connect(provisioned, "comparator")
    try:
        comparisons = await reader.nc.subscribe("parallax.comparisons.>")
        alerts = await reader.nc.subscribe("parallax.alerts.>")
        await reader.nc.flush()
        published = await publish_as_comparator(
            comparator, "parallax.comparisons.game.match", {"command_id": str(uuid.uuid4())}
        )
        alert = json.dumps({"context": "game", "id": str(uuid.uuid4())}).encode()
        await comparator.nc.publish("parallax.alerts.game", alert)
        await comparator.nc.flush()
        received = await comparisons.next_msg(timeout=2)
        assert (received.subject, received.data) == ("parallax.comparisons.game.match", published)
        received = await alerts.next_msg(timeout=2)
        assert (received.subject, received.data) == ("parallax.alerts.game", alert)
        assert reader.violations() == []
    finally:
        await comparator.nc.close()
        await reader.nc.close()


async def test_the_reader_reads_comparisons_through_consumers_of_its_own(provisioned: Server) -> None:
    """An ordered push consumer (found by subject: no stream named), a filtered pull consumer,
    a durable push consumer it acknowledges, then deletes: every delivery and reply on
    `_INBOX_reader.`."""
    reader = await reader_session(provisioned)
    comparator = await connect(provisioned, "comparator")
    try:
        js = reader.nc.jetstream(timeout=2)
        await js.account_info()
        ordered = await js.subscribe(
            "parallax.comparisons.game.match", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        mismatches = await js.pull_subscribe(
            "parallax.comparisons.*.payload_mismatch",
            stream="COMPARISONS",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        )
        durable = f"dashboard-{uuid.uuid4().hex[:8]}"
        dashboard = await js.subscribe(
            "parallax.comparisons.game.>",
            durable=durable,
            stream="COMPARISONS",
            manual_ack=True,
            deliver_policy=DeliverPolicy.NEW,
        )
        match = await publish_as_comparator(
            comparator, "parallax.comparisons.game.match", {"command_id": str(uuid.uuid4())}
        )
        mismatch = await publish_as_comparator(
            comparator, "parallax.comparisons.game.payload_mismatch", {"command_id": str(uuid.uuid4())}
        )

        received = await ordered.next_msg(timeout=2)
        assert (received.subject, received.data) == ("parallax.comparisons.game.match", match)
        assert ordered._sub._subject.startswith("_INBOX_reader.")

        (received,) = await mismatches.fetch(1, timeout=2)
        assert (received.subject, received.data) == ("parallax.comparisons.game.payload_mismatch", mismatch)
        await received.ack_sync()

        assert dashboard._sub._subject.startswith("_INBOX_reader.")
        for expected in (match, mismatch):
            received = await dashboard.next_msg(timeout=2)
            assert received.data == expected
            await received.ack_sync()
        info = await js.consumer_info("COMPARISONS", durable)
        assert (info.num_ack_pending, info.config.ack_policy) == (0, AckPolicy.EXPLICIT)
        await dashboard.unsubscribe()
        assert await js.delete_consumer("COMPARISONS", durable)

        last = await js.get_last_msg("COMPARISONS", "parallax.comparisons.game.payload_mismatch")
        assert last.data == mismatch
        assert reader.violations() == []
    finally:
        await comparator.nc.close()
        await reader.nc.close()


async def test_the_reader_reads_the_rollout_audit_trail(provisioned: Server) -> None:
    """`parallax rollout history`'s reading (an ordered consumer on AUDIT) works as the reader."""
    reader = await reader_session(provisioned)
    comparator = await connect(provisioned, "comparator")
    try:
        entry = {"context": "game", "action": "set", "by": "guard", "marker": str(uuid.uuid4())}
        published = await publish_as_comparator(comparator, "parallax.audit.rollout.game", entry)
        assert entry in await read_history(reader.nc, "game")
        js = reader.nc.jetstream(timeout=2)
        last = await js.get_last_msg("AUDIT", "parallax.audit.rollout.game")
        assert last.data == published
        assert reader.violations() == []
    finally:
        await comparator.nc.close()
        await reader.nc.close()


@pytest.mark.parametrize("credentials", [("gateway", "wrong-password"), ("nobody", "x"), None])
async def test_unknown_users_and_wrong_passwords_are_refused(
    provisioned: Server, credentials: tuple[str, str] | None
) -> None:
    kwargs = {} if credentials is None else {"user": credentials[0], "password": credentials[1]}
    with pytest.raises(Exception):  # noqa: B017 - nats-py raises its own error types for auth
        nc = await nats.connect(provisioned.url, allow_reconnect=False, connect_timeout=3, **kwargs)  # type: ignore[arg-type]
        await nc.close()
