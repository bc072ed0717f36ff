"""The gateway's pure parts: frame checks in protocol order, tokens, the refusal window."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from parallax_contracts.frames import ClientCommand
from parallax_gateway.auth import TokenRefused, mint_token, verify_token
from parallax_gateway.frame_check import Refusal, check_frame
from parallax_gateway.membership import RoomMembership
from parallax_gateway.refusals import RefusalWindow, Verdict

SECRET = "a-test-secret-long-enough-for-hs256-and-hs512-keys-0123456789abcdef"
LIMIT = 64 * 1024


def refused(raw: str | bytes) -> Refusal:
    result = check_frame(raw, LIMIT)
    assert isinstance(result, Refusal), result
    return result


def test_valid_frames_become_commands() -> None:
    created = check_frame(
        json.dumps({"type": "create_room", "context": "game", "payload": {"name": "A"}}), LIMIT
    )
    assert isinstance(created, ClientCommand) and created.aggregate_id is None
    played = check_frame(
        json.dumps({"type": "play", "context": "game", "aggregate_id": "3FA9C1", "payload": {}, "ref": "r1"}),
        LIMIT,
    )
    assert isinstance(played, ClientCommand) and played.ref == "r1"


@pytest.mark.parametrize(
    ("frame", "code", "ref"),
    [
        ("{not json", "bad_json", None),
        (b"\xff\xfe", "bad_json", None),
        ("[1, 2]", "invalid_input", None),
        ('{"type": 5, "context": "game", "payload": {}, "ref": "x"}', "invalid_input", "x"),
        ('{"type": "play", "context": "chess", "payload": {}}', "invalid_input", None),
        ('{"type": "play", "context": "game", "payload": [], "ref": "x"}', "invalid_input", "x"),
        ('{"type": "play", "context": "game", "payload": {}, "ref": 7}', "invalid_input", None),
        ('{"type": "fly", "context": "game", "payload": {}, "ref": "x"}', "unknown_command", "x"),
        (
            '{"type": "disconnect", "context": "game", "aggregate_id": "3FA9C1", "payload": {}}',
            "unknown_command",
            None,
        ),
        ('{"type": "play", "context": "campaign", "payload": {}}', "unknown_command", None),
        (
            '{"type": "play", "context": "game", "aggregate_id": "3fa9c1", "payload": {}}',
            "invalid_input",
            None,
        ),
        (
            '{"type": "play", "context": "game", "aggregate_id": "3FA.>1", "payload": {}}',
            "invalid_input",
            None,
        ),
        ('{"type": "play", "context": "game", "payload": {}}', "invalid_input", None),
        (
            '{"type": "create_room", "context": "game", "aggregate_id": "3FA9C1", "payload": {}}',
            "invalid_input",
            None,
        ),
        (
            '{"type": "start", "context": "campaign", "aggregate_id": "not-a-uuid", "payload": {}}',
            "invalid_input",
            None,
        ),
    ],
)
def test_refusals_in_protocol_order(frame: str | bytes, code: str, ref: str | None) -> None:
    refusal = refused(frame)
    assert (refusal.code, refusal.ref) == (code, ref)
    assert refusal.frame().model_dump()["type"] == "error"


def test_too_large_comes_before_parsing() -> None:
    assert refused("x" * (LIMIT + 1)).code == "too_large"
    big_but_valid = json.dumps(
        {"type": "create_room", "context": "game", "payload": {"name": "a" * (LIMIT - 100)}}
    )
    assert isinstance(check_frame(big_but_valid, LIMIT), ClientCommand)


def test_campaign_commands_take_uuid_ids() -> None:
    cid = str(uuid.uuid4())
    ok = check_frame(
        json.dumps({"type": "start", "context": "campaign", "aggregate_id": cid, "payload": {}}), LIMIT
    )
    assert isinstance(ok, ClientCommand) and ok.aggregate_id == cid


def test_tokens() -> None:
    identity = verify_token(mint_token("u-17", SECRET, ["campaigns:read"]), SECRET)
    assert identity.user == "u-17" and identity.permissions == ("campaigns:read",)
    now = int(time.time())
    cases = {
        "missing": None,
        "expired": jwt.encode({"sub": "u", "exp": now - 1}, SECRET, algorithm="HS256"),
        "forged": jwt.encode(
            {"sub": "u", "exp": now + 60},
            "another-secret-of-the-same-ample-length-0123456789",
            algorithm="HS256",
        ),
        "no exp": jwt.encode({"sub": "u"}, SECRET, algorithm="HS256"),
        "bad sub": jwt.encode({"sub": "u.>", "exp": now + 60}, SECRET, algorithm="HS256"),
        "bad permissions": jwt.encode(
            {"sub": "u", "exp": now + 60, "permissions": "all"}, SECRET, algorithm="HS256"
        ),
        "alg none": jwt.encode({"sub": "u", "exp": now + 60}, None, algorithm="none"),
        "HS512": jwt.encode({"sub": "u", "exp": now + 60}, SECRET, algorithm="HS512"),
    }
    for name, token in cases.items():
        with pytest.raises(TokenRefused):
            verify_token(token, SECRET)
        assert name


def test_mint_refuses_bad_user_ids() -> None:
    with pytest.raises(ValueError):
        mint_token("u.*", SECRET, [])


def test_refusal_window_limits_then_closes() -> None:
    window = RefusalWindow(window=10.0, limit=20, close_at=40)
    verdicts = [window.refuse(100.0 + i * 0.01) for i in range(41)]
    assert verdicts[:20] == [Verdict.OK] * 20
    assert verdicts[20:40] == [Verdict.RATE_LIMITED] * 20
    assert verdicts[40] is Verdict.CLOSE
    assert window.limited(100.5)
    # Refusals older than the window no longer count.
    assert not window.limited(200.0)


def test_refusal_window_limits_only_after_more_than_the_limit() -> None:
    """protocol.md: "More than 20 refused frames in 10 s": exactly 20 leave the socket free
    (its next valid command goes through); the 21st is `rate_limited`."""
    window = RefusalWindow(window=10.0, limit=20, close_at=40)
    for i in range(20):
        assert window.refuse(100.0 + i * 0.01) is Verdict.OK
    assert not window.limited(100.5)
    assert window.refuse(100.5) is Verdict.RATE_LIMITED
    assert window.limited(100.6)
    # The 21st refusal leaves the window: down to 20 again, not limited.
    assert not window.limited(110.0)


def test_membership_follows_room_events() -> None:
    rooms = RoomMembership()
    rooms.observe("game", "room_created", "AAAAAA", {"host": "a"}, ["a"])
    rooms.observe("game", "player_joined", "AAAAAA", {"player": "b"}, ["a", "b"])
    rooms.observe("game", "room_created", "BBBBBB", {"host": "b"}, ["b"])
    assert rooms.rooms_of("b") == ["AAAAAA", "BBBBBB"]
    rooms.observe("game", "player_left", "AAAAAA", {"player": "b"}, ["a", "b"])
    assert rooms.rooms_of("b") == ["BBBBBB"]
    rooms.observe("game", "room_closed", "AAAAAA", {"reason": "host_left"}, ["a"])
    assert rooms.rooms_of("a") == []
    rooms.observe("campaign", "room_created", "CCCCCC", {"host": "a"}, ["a"])
    assert rooms.rooms_of("a") == []
