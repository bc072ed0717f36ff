"""Property tests (hypothesis) for the routing decision."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from parallax_contracts.envelopes import Impl
from parallax_rollout import (
    AggregateRecord,
    RolloutConfig,
    bucket,
    decide,
    in_domain_share,
    validate_config,
)

CTX = st.sampled_from(["game", "campaign"])
IDS = st.one_of(
    st.text(alphabet="0123456789ABCDEF", min_size=6, max_size=6),
    st.uuids().map(str),
    st.text(min_size=0, max_size=20),
)
USERS = st.sampled_from(["u-1", "u-2", "u-3", "u-4"])
PERCENT = st.integers(min_value=0, max_value=10_000).map(lambda cents: Decimal(cents) / 100)
COMMAND = st.sampled_from(["play", "declare", "create_room", "create_campaign", "get_room_state"])
SIDES: st.SearchStrategy[frozenset[Impl]] = st.sampled_from(
    [frozenset({"legacy"}), frozenset({"domain"}), frozenset({"legacy", "domain"})]
)
RECORDS = st.one_of(st.none(), st.builds(AggregateRecord, SIDES, st.one_of(st.none(), USERS)))


@st.composite
def configs(
    draw: st.DrawFn,
    aggregate_id: str | None = None,
    mode: str | None = None,
    kill_switch: bool | None = None,
) -> RolloutConfig:
    """Configs whose lists sometimes match the aggregate (by owner, id or prefix)."""
    aid = aggregate_id if aggregate_id is not None else draw(IDS)
    candidates = st.sampled_from([aid, aid[:2], aid[:1], "ZZZZZZ", "other"])
    lists = {}
    for name in ("allow", "deny"):
        lists[f"{name}_users"] = draw(st.lists(USERS, max_size=2))
        lists[f"{name}_aggregates"] = draw(st.lists(candidates, max_size=2))
        lists[f"{name}_prefixes"] = draw(st.lists(candidates.filter(bool), max_size=2))
    return validate_config(
        {
            "mode": mode if mode is not None else draw(st.sampled_from(["legacy", "domain", "canary"])),
            "domain_percent": draw(PERCENT),
            "shadow": draw(st.booleans()),
            "kill_switch": kill_switch if kill_switch is not None else draw(st.booleans()),
            **lists,
        }
    )


@given(context=CTX, aggregate_id=IDS, p1=PERCENT, p2=PERCENT)
def test_percent_share_is_monotonic(context: str, aggregate_id: str, p1: Decimal, p2: Decimal) -> None:
    low, high = sorted((p1, p2))
    b = bucket(context, aggregate_id)
    assert not (in_domain_share(b, low) and not in_domain_share(b, high))


@given(
    data=st.data(),
    context=CTX,
    aggregate_id=IDS,
    record=RECORDS,
    command=COMMAND,
    p1=PERCENT,
    p2=PERCENT,
    actor=USERS,
)
def test_raising_never_moves_domain_to_legacy_and_lowering_never_legacy_to_domain(
    data: st.DataObject,
    context: str,
    aggregate_id: str,
    record: AggregateRecord | None,
    command: str,
    p1: Decimal,
    p2: Decimal,
    actor: str,
) -> None:
    base = data.draw(configs(aggregate_id, mode="canary"))
    low, high = sorted((p1, p2))

    def primary(percent: Decimal) -> str:
        config = base.model_copy(update={"domain_percent": percent})
        return decide(
            config,
            record,
            context=context,
            aggregate_id=aggregate_id,
            command_type=command,
            actor=actor,
        ).primary

    at_low, at_high = primary(low), primary(high)
    # raising low -> high: never domain -> legacy; lowering high -> low: never legacy -> domain
    assert not (at_low == "domain" and at_high == "legacy")


@given(
    data=st.data(),
    context=CTX,
    aggregate_id=IDS,
    command=COMMAND,
    owner=USERS,
    deny_by=st.sampled_from(["users", "aggregates", "prefixes"]),
    allow_by=st.sampled_from(["users", "aggregates", "prefixes"]),
    sides=st.sampled_from([None, frozenset({"legacy"}), frozenset({"legacy", "domain"})]),
)
def test_deny_beats_allow(
    data: st.DataObject,
    context: str,
    aggregate_id: str,
    command: str,
    owner: str,
    deny_by: str,
    allow_by: str,
    sides: frozenset[Impl] | None,
) -> None:
    base = data.draw(configs(aggregate_id, mode="canary", kill_switch=False))
    value = {"users": owner, "aggregates": aggregate_id, "prefixes": aggregate_id[:3]}
    update: dict[str, list[str]] = {
        f"allow_{allow_by}": [value[allow_by]],
        f"deny_{deny_by}": [value[deny_by]],
    }
    config = base.model_copy(update=update)
    # A record with a known owner, or a creating command whose actor becomes the owner.
    record = None if sides is None else AggregateRecord(sides, owner)
    command_type = "create_room" if context == "game" else "create_campaign"
    decision = decide(
        config,
        record,
        context=context,
        aggregate_id=aggregate_id,
        command_type=command_type if record is None else command,
        actor=owner,
    )
    assert (decision.desired, decision.desired_rule) == ("legacy", "deny")
    assert (decision.primary, decision.rule) == ("legacy", "deny")


@given(data=st.data(), context=CTX, aggregate_id=IDS, record=RECORDS, command=COMMAND, actor=USERS)
def test_kill_switch_beats_everything(
    data: st.DataObject,
    context: str,
    aggregate_id: str,
    record: AggregateRecord | None,
    command: str,
    actor: str,
) -> None:
    config = data.draw(configs(aggregate_id, kill_switch=True))
    decision = decide(
        config,
        record,
        context=context,
        aggregate_id=aggregate_id,
        command_type=command,
        actor=actor,
    )
    assert (decision.desired, decision.desired_rule) == ("legacy", "kill_switch")
    if record is None or "legacy" in record.sides:
        assert (decision.primary, decision.rule) == ("legacy", "kill_switch")
        assert not decision.not_rollbackable
    else:
        assert (decision.primary, decision.rule) == ("domain", "pinned")
        assert decision.not_rollbackable
    # The kill switch changes only the primary: shadowing still follows `shadow`.
    if not config.shadow:
        assert decision.shadow is None


@settings(max_examples=150)
@given(
    data=st.data(),
    context=CTX,
    aggregate_id=IDS,
    actor=USERS,
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=25),
)
def test_a_primary_is_never_a_side_lacking_history(
    data: st.DataObject,
    context: str,
    aggregate_id: str,
    actor: str,
    steps: list[tuple[bool, int]],
) -> None:
    """Simulate an aggregate's life under changing configs, tracking the true history: the set
    of implementations that processed every command since the creating one."""
    creating_type = "create_room" if context == "game" else "create_campaign"
    record: AggregateRecord | None = None
    history: set[Impl] | None = None  # None: not created (as far as the router knows)
    pool = data.draw(st.lists(configs(aggregate_id), min_size=1, max_size=4))
    for creating, which in steps:
        config = pool[which % len(pool)]
        command_type = creating_type if creating else "play"
        decision = decide(
            config,
            record,
            context=context,
            aggregate_id=aggregate_id,
            command_type=command_type,
            actor=actor,
        )
        got: set[Impl] = {decision.primary} | ({decision.shadow} if decision.shadow else set())
        assert decision.shadow != decision.primary
        if decision.shadow is None:
            assert decision.record_update is None or decision.record_update.sides == {decision.primary}
        if history is None:
            # Never seen: routed by the rules; shadowed iff shadow is on.
            assert decision.primary == decision.desired
            assert (decision.shadow is not None) == config.shadow
            if creating:
                assert decision.record_update is not None
                assert decision.record_update.owner == actor
                history = got
            else:
                assert decision.record_update is None
        else:
            assert record is not None
            assert decision.primary in history  # never a side lacking history
            assert decision.shadow is None or decision.shadow in history
            if decision.desired in history:
                assert decision.primary == decision.desired and decision.rule != "pinned"
            else:
                assert decision.rule == "pinned"
            history &= got  # a side that missed this command leaves for good
            if decision.record_update is not None:
                assert decision.record_update.owner == record.owner  # creating does not reset
        if decision.record_update is not None:
            record = decision.record_update
        if history is not None:
            assert record is not None and record.sides == history


@given(data=st.data(), context=CTX, aggregate_id=IDS, record=RECORDS, command=COMMAND, actor=USERS)
def test_decision_is_idempotent(
    data: st.DataObject,
    context: str,
    aggregate_id: str,
    record: AggregateRecord | None,
    command: str,
    actor: str,
) -> None:
    config = data.draw(configs(aggregate_id))
    kwargs = {"context": context, "aggregate_id": aggregate_id, "command_type": command, "actor": actor}
    first = decide(config, record, **kwargs)
    assert decide(config, record, **kwargs) == first
    stored = first.record_update if first.record_update is not None else record
    again = decide(config, stored, **kwargs)
    assert (again.primary, again.shadow, again.rule) == (first.primary, first.shadow, first.rule)
    assert again.record_update is None
