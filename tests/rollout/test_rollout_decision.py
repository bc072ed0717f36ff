"""The decision rules, their precedence, and the history rule (rollout.md)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from parallax_contracts.envelopes import Command
from parallax_rollout import (
    AggregateRecord,
    Decision,
    InvalidAggregateRecord,
    RolloutConfig,
    aggregate_key,
    bucket,
    decide,
    decide_command,
    dump_aggregate_record,
    parse_aggregate_record,
    routing_record,
)
from rollout_helpers import make_config

CTX = "game"
CREATE = "create_room"
PLAY = "play"

# Bucket 7514 (pinned in test_rollout_hashing): legacy below 75.15 %, domain from 75.15 %.
AGG = "3FA9C1"
assert bucket(CTX, AGG) == 7514

BOTH = AggregateRecord.of(["legacy", "domain"], "owner-1")
LEGACY_ONLY = AggregateRecord.of(["legacy"], "owner-1")
DOMAIN_ONLY = AggregateRecord.of(["domain"], "owner-1")


def d(
    config: RolloutConfig,
    record: AggregateRecord | None = BOTH,
    *,
    aggregate_id: str = AGG,
    command_type: str = PLAY,
    actor: str | None = "actor-1",
    context: str = CTX,
) -> Decision:
    return decide(
        config,
        record,
        context=context,
        aggregate_id=aggregate_id,
        command_type=command_type,
        actor=actor,
    )


class TestRules:
    def test_mode_legacy(self) -> None:
        decision = d(make_config(mode="legacy", domain_percent=100, allow_aggregates=[AGG]))
        assert (decision.primary, decision.rule) == ("legacy", "mode")

    def test_mode_domain(self) -> None:
        decision = d(make_config(mode="domain", deny_aggregates=[AGG]))
        assert (decision.primary, decision.rule) == ("domain", "mode")

    def test_percent_threshold_is_bucket_lt_percent_times_100(self) -> None:
        below = d(make_config(domain_percent=Decimal("75.14")))
        at = d(make_config(domain_percent=Decimal("75.15")))
        assert (below.primary, below.rule, below.bucket) == ("legacy", "percent", 7514)
        assert (at.primary, at.rule) == ("domain", "percent")

    def test_percent_zero_and_hundred(self) -> None:
        assert d(make_config(domain_percent=0)).primary == "legacy"
        assert d(make_config(domain_percent=100)).primary == "domain"

    @pytest.mark.parametrize(
        "lists",
        [
            {"allow_aggregates": [AGG]},
            {"allow_prefixes": ["3F"]},
            {"allow_prefixes": [AGG]},
            {"allow_users": ["owner-1"]},
        ],
    )
    def test_allow(self, lists: dict[str, list[str]]) -> None:
        decision = d(make_config(domain_percent=0, **lists))
        assert (decision.primary, decision.rule) == ("domain", "allow")

    @pytest.mark.parametrize(
        "lists",
        [
            {"deny_aggregates": [AGG]},
            {"deny_prefixes": ["3"]},
            {"deny_users": ["owner-1"]},
        ],
    )
    def test_deny(self, lists: dict[str, list[str]]) -> None:
        decision = d(make_config(domain_percent=100, **lists))
        assert (decision.primary, decision.rule) == ("legacy", "deny")

    @pytest.mark.parametrize("deny", ["deny_users", "deny_aggregates", "deny_prefixes"])
    @pytest.mark.parametrize("allow", ["allow_users", "allow_aggregates", "allow_prefixes"])
    def test_deny_beats_allow(self, deny: str, allow: str) -> None:
        value = {"users": "owner-1", "aggregates": AGG, "prefixes": "3FA"}
        config = make_config(
            domain_percent=100,
            **{deny: [value[deny.split("_")[1]]], allow: [value[allow.split("_")[1]]]},
        )
        assert (d(config).primary, d(config).rule) == ("legacy", "deny")

    def test_lists_only_in_canary(self) -> None:
        config = make_config(mode="domain", deny_users=["owner-1"])
        assert d(config).rule == "mode"

    def test_prefix_is_case_sensitive(self) -> None:
        assert d(make_config(allow_prefixes=["3fa"])).rule == "percent"

    def test_user_lists_match_the_owner_not_the_actor(self) -> None:
        config = make_config(allow_users=["actor-1"])
        assert d(config, BOTH, actor="actor-1").rule == "percent"  # owner is owner-1
        assert d(make_config(allow_users=["owner-1"]), BOTH, actor="x").rule == "allow"

    @pytest.mark.parametrize("mode", ["legacy", "domain", "canary"])
    def test_kill_switch_beats_everything(self, mode: str) -> None:
        config = make_config(
            mode=mode,
            domain_percent=100,
            kill_switch=True,
            allow_users=["owner-1"],
            allow_aggregates=[AGG],
        )
        decision = d(config)
        assert (decision.primary, decision.rule) == ("legacy", "kill_switch")

    def test_kill_switch_changes_only_the_primary(self) -> None:
        on = d(make_config(mode="domain", kill_switch=True, shadow=True))
        assert (on.primary, on.shadow) == ("legacy", "domain")
        off = d(make_config(mode="domain", kill_switch=True, shadow=False))
        assert (off.primary, off.shadow) == ("legacy", None)


class TestHistory:
    def test_creating_command_sets_sides_and_owner(self) -> None:
        config = make_config(mode="domain", shadow=True)
        decision = d(config, None, command_type=CREATE, actor="u-9")
        assert (decision.primary, decision.shadow) == ("domain", "legacy")
        assert decision.record_update == AggregateRecord.of(["domain", "legacy"], "u-9")

    def test_creating_command_without_shadow(self) -> None:
        decision = d(make_config(mode="legacy"), None, command_type=CREATE, actor="u-9")
        assert decision.shadow is None
        assert decision.record_update == AggregateRecord.of(["legacy"], "u-9")

    def test_creator_is_owner_for_user_lists(self) -> None:
        config = make_config(domain_percent=0, allow_users=["u-9"])
        decision = d(config, None, command_type=CREATE, actor="u-9")
        assert (decision.primary, decision.rule) == ("domain", "allow")
        later = d(config, decision.record_update, actor="someone-else")
        assert (later.primary, later.rule) == ("domain", "allow")

    def test_pinned_when_desired_primary_lacks_history(self) -> None:
        decision = d(make_config(mode="domain", shadow=True), LEGACY_ONLY)
        assert (decision.primary, decision.shadow, decision.rule) == ("legacy", None, "pinned")
        assert decision.desired == "domain" and decision.desired_rule == "mode"
        assert decision.pinned and not decision.not_rollbackable
        assert decision.record_update is None

    def test_kill_switch_not_rollbackable(self) -> None:
        decision = d(make_config(kill_switch=True, shadow=True), DOMAIN_ONLY)
        assert (decision.primary, decision.shadow, decision.rule) == ("domain", None, "pinned")
        assert decision.desired_rule == "kill_switch"
        assert decision.not_rollbackable

    def test_kill_switch_moves_two_sided_aggregates_at_once(self) -> None:
        decision = d(make_config(mode="domain", kill_switch=True, shadow=True), BOTH)
        assert (decision.primary, decision.shadow, decision.rule) == (
            "legacy",
            "domain",
            "kill_switch",
        )
        assert decision.record_update is None

    def test_shadow_side_that_misses_a_command_leaves_for_good(self) -> None:
        no_shadow = d(make_config(mode="domain", shadow=False), BOTH)
        assert (no_shadow.primary, no_shadow.shadow) == ("domain", None)
        assert no_shadow.record_update == AggregateRecord.of(["domain"], "owner-1")
        # Shadow back on: legacy lacks the missed command, so no copy and no way back.
        back_on = d(make_config(mode="domain", shadow=True), no_shadow.record_update)
        assert (back_on.primary, back_on.shadow) == ("domain", None)
        rollback = d(make_config(mode="legacy", shadow=True), no_shadow.record_update)
        assert (rollback.primary, rollback.rule) == ("domain", "pinned")

    def test_with_shadow_on_an_aggregate_can_move_both_ways(self) -> None:
        config_low = make_config(domain_percent=0, shadow=True)
        config_high = make_config(domain_percent=100, shadow=True)
        create = d(config_low, None, command_type=CREATE)
        record = create.record_update
        assert record is not None and record.sides == {"legacy", "domain"}
        up = d(config_high, record)
        down = d(config_low, record)
        assert (up.primary, up.shadow, up.record_update) == ("domain", "legacy", None)
        assert (down.primary, down.shadow, down.record_update) == ("legacy", "domain", None)

    def test_without_shadow_only_new_aggregates_move(self) -> None:
        create = d(make_config(domain_percent=0), None, command_type=CREATE)
        record = create.record_update
        assert record == AggregateRecord.of(["legacy"], "actor-1")
        raised = d(make_config(domain_percent=100), record)
        assert (raised.primary, raised.rule) == ("legacy", "pinned")
        new = d(make_config(domain_percent=100), None, aggregate_id="000000", command_type=CREATE)
        assert new.primary == "domain"

    def test_one_sided_aggregate_has_no_shadow(self) -> None:
        decision = d(make_config(mode="legacy", shadow=True), LEGACY_ONLY)
        assert (decision.primary, decision.shadow, decision.rule) == ("legacy", None, "mode")
        assert decision.record_update is None

    def test_copies(self) -> None:
        two = d(make_config(mode="domain", shadow=True), BOTH)
        assert two.copies == (("domain", "primary"), ("legacy", "shadow"))
        one = d(make_config(mode="domain"), DOMAIN_ONLY)
        assert one.copies == (("domain", "primary"),)


class TestRuleSix:
    def test_unseen_aggregate_non_creating_command_routed_by_rules_stores_nothing(self) -> None:
        config = make_config(mode="domain", shadow=True)
        decision = d(config, None, command_type=PLAY)
        assert (decision.primary, decision.shadow, decision.rule) == ("domain", "legacy", "mode")
        assert decision.record_update is None

    def test_unseen_aggregate_has_no_owner(self) -> None:
        config = make_config(domain_percent=0, allow_users=["actor-1"], deny_users=["actor-1"])
        decision = d(config, None, command_type=PLAY, actor="actor-1")
        assert decision.rule == "percent"

    def test_unseen_aggregate_without_shadow(self) -> None:
        decision = d(make_config(mode="domain"), None, command_type=PLAY)
        assert (decision.primary, decision.shadow) == ("domain", None)

    def test_creating_command_for_known_aggregate_is_ordinary(self) -> None:
        config = make_config(mode="domain", shadow=True, allow_users=["intruder"])
        decision = d(config, LEGACY_ONLY, command_type=CREATE, actor="intruder")
        assert (decision.primary, decision.shadow, decision.rule) == ("legacy", None, "pinned")
        assert decision.record_update is None  # sides and owner untouched

    def test_creating_command_for_known_aggregate_keeps_owner_when_sides_shrink(self) -> None:
        decision = d(make_config(mode="legacy"), BOTH, command_type=CREATE, actor="intruder")
        assert decision.record_update == AggregateRecord.of(["legacy"], "owner-1")

    def test_creating_command_is_per_context(self) -> None:
        config = make_config(mode="legacy")
        campaign = decide(
            config,
            None,
            context="campaign",
            aggregate_id="0f8fad5b-d9cb-469f-a165-70867728950e",
            command_type="create_room",
            actor="u",
        )
        assert campaign.record_update is None  # create_room does not create a campaign
        created = decide(
            config,
            None,
            context="campaign",
            aggregate_id="0f8fad5b-d9cb-469f-a165-70867728950e",
            command_type="create_campaign",
            actor="u",
        )
        assert created.record_update == AggregateRecord.of(["legacy"], "u")


class TestIdempotency:
    @pytest.mark.parametrize("shadow", [True, False])
    @pytest.mark.parametrize("mode", ["legacy", "domain", "canary"])
    @pytest.mark.parametrize("record", [None, BOTH, LEGACY_ONLY, DOMAIN_ONLY])
    @pytest.mark.parametrize("command_type", [CREATE, PLAY])
    def test_redecide_after_update_is_the_same(
        self, shadow: bool, mode: str, record: AggregateRecord | None, command_type: str
    ) -> None:
        config = make_config(mode=mode, shadow=shadow, domain_percent=50)
        first = d(config, record, command_type=command_type)
        stored = first.record_update if first.record_update is not None else record
        again = d(config, stored, command_type=command_type)
        assert (again.primary, again.shadow, again.rule) == (
            first.primary,
            first.shadow,
            first.rule,
        )
        assert again.record_update is None


class TestRecords:
    def test_key(self) -> None:
        assert aggregate_key("game", "3FA9C1") == "game.3FA9C1"

    def test_round_trip(self) -> None:
        for record in (BOTH, LEGACY_ONLY, AggregateRecord.of(["domain"], None)):
            assert parse_aggregate_record(dump_aggregate_record(record)) == record
        assert dump_aggregate_record(BOTH) == b'{"sides":["legacy","domain"],"owner":"owner-1"}'

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"[]",
            b'{"sides": []}',
            b'{"sides": ["other"]}',
            b'{"sides": "legacy"}',
            b'{"sides": ["legacy"], "owner": 3}',
            b'{"sides": ["legacy"], "extra": 1}',
        ],
    )
    def test_invalid(self, raw: bytes) -> None:
        with pytest.raises(InvalidAggregateRecord):
            parse_aggregate_record(raw)

    def test_empty_sides_refused(self) -> None:
        with pytest.raises(InvalidAggregateRecord):
            AggregateRecord(frozenset(), None)


def test_decide_command_and_routing_record() -> None:
    command = Command(
        command_id="0f8fad5b-d9cb-469f-a165-70867728950e",
        context="game",
        aggregate_id=AGG,
        type=CREATE,
        actor="u-17",
    )
    config = make_config(mode="domain", shadow=True)
    decision = decide_command(config, None, command)
    assert decision.record_update == AggregateRecord.of(["domain", "legacy"], "u-17")
    record = routing_record(command, decision, config_revision=12)
    assert (record.primary, record.shadow, record.rule, record.config_revision) == (
        "domain",
        "legacy",
        "mode",
        12,
    )
    assert record.type == CREATE and record.aggregate_id == AGG
