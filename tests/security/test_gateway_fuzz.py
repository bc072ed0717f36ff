"""Fuzzing the gateway over real sockets (hypothesis), and its frame and transport size limits.

Every frame gets exactly one answer, `accepted` or an `error` with the code protocol.md's
order gives; the socket stays open; INGRESS grows by exactly the accepted frames (a refused
frame publishes nothing); the gateway stays ready. The flood thresholds of this module's stack
are raised so that the fuzzer is not rate limited (test_floods.py covers the limits).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parallax_cli.stack import Stack, running_stack
from parallax_contracts.catalog import ALL_COMMANDS, CLIENT_COMMANDS, CREATING_COMMANDS
from parallax_contracts.ids import is_aggregate_id
from parallax_runtime.settings import GatewaySettings

from .helpers import (
    STACK_ENV,
    assert_all_ready,
    http_status,
    next_answer,
    stream_messages,
    ws_url,
)

pytestmark = pytest.mark.e2e

MAX_FRAME = GatewaySettings().max_frame_bytes
TRANSPORT_MAX = GatewaySettings().transport_max_bytes
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        **STACK_ENV,
        "PARALLAX_REFUSALS_BEFORE_RATE_LIMIT": "1000000",
        "PARALLAX_REFUSALS_BEFORE_CLOSE": "2000000",
    }
    with running_stack(tmp_path_factory.mktemp("fuzz-gw"), free_ports=True, extra_env=env) as running:
        yield running


# -- the oracle: protocol.md, "Exact gateway behaviour" 1 ---------------------------------------
def expected_outcome(raw: str | bytes) -> str:
    """`accepted` or the error code the gateway must answer `raw` with."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_FRAME:
        return "too_large"
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "bad_json"
    if not isinstance(data, dict):
        return "invalid_input"
    context, command_type = data.get("context"), data.get("type")
    if (
        not isinstance(command_type, str)
        or not isinstance(context, str)
        or context not in ("game", "campaign")
        or not isinstance(data.get("payload"), dict)
        or (data.get("ref") is not None and not isinstance(data.get("ref"), str))
    ):
        return "invalid_input"
    if command_type not in CLIENT_COMMANDS[context]:  # type: ignore[index]
        return "unknown_command"
    if command_type == CREATING_COMMANDS[context]:  # type: ignore[index]
        return "invalid_input" if "aggregate_id" in data else "accepted"
    return "accepted" if is_aggregate_id(context, data.get("aggregate_id")) else "invalid_input"


# -- strategies ----------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
# Ids that must never become subject tokens, and some that look almost right.
HOSTILE_IDS = [
    "a.b", "*", ">", "3FA9C1.>", "parallax.>", "A B", " 3FA9C1", "3FA9C1 ", "3fa9c1", "3FA9C",
    "3FA9C1\n", "\uff21\uff22\uff23\uff24\uff25\uff26", "١٢٣٤٥٦", "3FA9C\u0301", "", "..",
    "$JS.API.>", "_INBOX.x",
    "00000000-0000-0000-0000-00000000000G", "0AF4C2D1-7B6E-4C84-9B55-1C2B3D4E5F60",
]  # fmt: skip
hostile_ids = st.sampled_from(HOSTILE_IDS)
ids = st.one_of(hostile_ids, st.text(max_size=40), json_values, st.just("3FA9C1"),
                st.just("0af4c2d1-7b6e-4c84-9b55-1c2b3d4e5f60"))  # fmt: skip
known_types = sorted(set().union(*ALL_COMMANDS.values()) | {"fly", "DISCONNECT", "create_room "})
types = st.one_of(st.sampled_from(known_types), st.text(max_size=20), json_values)
contexts = st.one_of(
    st.sampled_from(["game", "campaign"]),
    st.sampled_from(["Game", "rollout", "game.>", "*", ""]),
    json_values,
)
payloads = st.one_of(st.dictionaries(st.text(max_size=8), json_values, max_size=3), json_values)
MISSING = object()


@st.composite
def command_frames(draw: st.DrawFn) -> str:
    frame: dict[str, Any] = {}
    for key, strategy in (
        ("type", types),
        ("context", contexts),
        ("aggregate_id", ids),
        ("payload", payloads),
        ("ref", st.one_of(st.text(max_size=16), json_values)),
        ("actor", st.sampled_from(["someone-else", "admin"])),
    ):
        value = draw(st.one_of(st.just(MISSING), strategy))
        if value is not MISSING:
            frame[key] = value
    return json.dumps(frame, ensure_ascii=draw(st.booleans()))


raw_frames = st.one_of(
    st.text(max_size=120),
    st.binary(max_size=120),
    json_values.map(json.dumps),
    # JSON broken in the middle, and JSON-ish junk.
    command_frames().map(lambda text: text[: max(1, len(text) // 2)]),
    st.sampled_from(["{", "}", "[]", "null", '"x"', '{"type": NaN}', "\x00", "{'type': 'play'}"]),
)


async def _exchange(stack: Stack, frames: list[str | bytes]) -> None:
    """Send the frames over one socket; check each answer and the INGRESS count."""
    before = await stream_messages(stack.nats_url, "INGRESS")
    accepted = 0
    async with websockets.connect(ws_url(stack, "fuzzer"), max_size=2**22) as ws:
        for raw in frames:
            outcome = expected_outcome(raw)
            await ws.send(raw)
            answer = await next_answer(ws)
            if outcome == "accepted":
                assert answer["type"] == "accepted", (raw, answer)
                accepted += 1
            else:
                assert (answer["type"], answer["code"]) == ("error", outcome), (raw, answer)
                assert isinstance(answer["message"], str) and answer["message"]
                data = _loads(raw)
                sent_ref = data.get("ref") if isinstance(data, dict) else None
                if outcome != "too_large" and isinstance(sent_ref, str):
                    assert answer["ref"] == sent_ref
        # The socket is still open and usable after everything above.
        await ws.send(json.dumps({"type": "get_room_state", "context": "game", "aggregate_id": "000000",
                                  "payload": {}, "ref": "alive"}))  # fmt: skip
        assert (await next_answer(ws))["ref"] == "alive"
        accepted += 1
    after = await stream_messages(stack.nats_url, "INGRESS")
    assert after - before == accepted, (before, after, accepted)


def _loads(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


@FUZZ
@given(frames=st.lists(command_frames(), min_size=1, max_size=8))
async def test_fuzzed_command_frames_are_answered_by_the_protocol(
    fuzz_stack: Stack, frames: list[str]
) -> None:
    await _exchange(fuzz_stack, list(frames))


@FUZZ
@given(frames=st.lists(raw_frames, min_size=1, max_size=8))
async def test_fuzzed_raw_frames_are_refused_and_publish_nothing(
    fuzz_stack: Stack, frames: list[str | bytes]
) -> None:
    await _exchange(fuzz_stack, list(frames))


async def test_hostile_ids_never_reach_nats(fuzz_stack: Stack) -> None:
    """Every hostile id, on every command that takes one, in both contexts: `invalid_input`."""
    frames: list[str | bytes] = []
    for context in ("game", "campaign"):
        for bad in HOSTILE_IDS:
            command_type = "get_room_state" if context == "game" else "get_campaign"
            frames.append(json.dumps({"type": command_type, "context": context, "aggregate_id": bad,
                                      "payload": {}, "ref": bad}))  # fmt: skip
    await _exchange(fuzz_stack, frames)


async def test_frames_the_checks_must_not_choke_on(fuzz_stack: Stack) -> None:
    """Inputs that once broke a check (an unhashable context) or that a parser further on would
    refuse (deep nesting, lone surrogates): all refused with `invalid_input`, socket kept."""
    deep: Any = {"x": 1}
    for _ in range(300):
        deep = [deep]
    frames: list[tuple[str | bytes, str]] = [
        ('{"type": "play", "context": ["game"], "payload": {}}', "invalid_input"),
        ('{"type": "play", "context": {"game": 1}, "payload": {}}', "invalid_input"),
        ('{"type": ["play"], "context": "game", "payload": {}}', "invalid_input"),
        ("[" * 5000 + "]" * 5000, "invalid_input"),
        (json.dumps({"type": "create_room", "context": "game", "payload": {"name": deep}}), "invalid_input"),
        ('{"type": "create_room", "context": "game", "payload": {"name": "\\ud800"}}', "invalid_input"),
        ('{"type": "create_room", "context": "game", "payload": {}, "ref": "\\udc00"}', "invalid_input"),
        (b"\xff\xfe{}", "bad_json"),
        ('{"type": "create_room", "context": "game", "payload": {"n": 1e999}}', None),  # inf: accepted
    ]
    before = await stream_messages(fuzz_stack.nats_url, "INGRESS")
    accepted = 0
    async with websockets.connect(ws_url(fuzz_stack, "fuzzer")) as ws:
        for raw, code in frames:
            await ws.send(raw)
            answer = await next_answer(ws)
            if code is None:
                assert answer["type"] == "accepted", (raw, answer)
                accepted += 1
            else:
                assert (answer["type"], answer.get("code")) == ("error", code), (raw[:80], answer)
    assert await stream_messages(fuzz_stack.nats_url, "INGRESS") - before == accepted
    assert http_status(f"{fuzz_stack.services['gateway'].url}/readyz") == 200


async def test_frame_size_limits(fuzz_stack: Stack) -> None:
    """Over max_frame_bytes: `too_large`, socket kept; exactly at it: checked as usual; over the
    transport limit: closed with 1009 (message too big); nothing published by either."""
    before = await stream_messages(fuzz_stack.nats_url, "INGRESS")
    async with websockets.connect(ws_url(fuzz_stack, "big-sender"), max_size=2**22) as ws:
        name = "x" * (MAX_FRAME - 100)
        frame = {"type": "create_room", "context": "game", "payload": {"name": name}, "ref": "r"}
        exactly = json.dumps(frame)
        exactly += " " * (MAX_FRAME - len(exactly))
        assert len(exactly) == MAX_FRAME
        await ws.send(exactly)
        # Within the frame limit, so the rules see it: a bad name is the handlers' to refuse.
        assert (await next_answer(ws))["type"] == "accepted"
        for oversized in (exactly + " ", b"{" * (MAX_FRAME + 1), "y" * (TRANSPORT_MAX - 1000)):
            await ws.send(oversized)
            answer = await next_answer(ws)
            assert (answer["type"], answer["code"]) == ("error", "too_large")
        # Still usable (a command that joins no room, so closing sends no `disconnect`).
        frame = {"type": "get_room_state", "context": "game", "aggregate_id": "000000", "payload": {}}
        await ws.send(json.dumps(frame))
        assert (await next_answer(ws))["type"] == "accepted"
    assert await stream_messages(fuzz_stack.nats_url, "INGRESS") - before == 2

    async with websockets.connect(ws_url(fuzz_stack, "bigger-sender"), max_size=2**22) as ws:
        await ws.send("z" * (TRANSPORT_MAX + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await next_answer(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert await stream_messages(fuzz_stack.nats_url, "INGRESS") - before == 2
    assert_all_ready(fuzz_stack)


def test_the_stack_survived_the_fuzzing(fuzz_stack: Stack) -> None:
    assert_all_ready(fuzz_stack)
    log = (fuzz_stack.data_dir / "logs" / "gateway.log").read_text(errors="replace")
    assert "checking a frame failed" not in log
    assert "publishing a command failed" not in log
