"""Progress arithmetic, target cap, automatic completion, percent, restart and update rules
(campaign-rules.md "Commands", "Params" domain_generation, exact behaviour 5, 7, 8)."""

from __future__ import annotations

from typing import Any

import pytest

from ._support import (
    ALICE,
    DG_PARAMS,
    DG_PARAMS_FULL,
    Client,
    rejected,
    status_changed,
    zero_totals,
)


def recorded(
    p: int, s: int, f: int, totals: tuple[int, int, int], percent: float | None
) -> tuple[str, dict[str, Any], list[str]]:
    return (
        "progress_recorded",
        {
            "processed": p,
            "succeeded": s,
            "failed": f,
            "totals": {"processed": totals[0], "succeeded": totals[1], "failed": totals[2]},
            "percent": percent,
        },
        [ALICE],
    )


def _is_json_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


async def _running_dg(client: Client, **changes: Any) -> str:
    cid = await client.dg({**DG_PARAMS, **changes})
    await client.ok("start", cid)
    return cid


# --------------------------------------------------------------------------- arithmetic


async def test_progress_adds_to_totals(client: Client) -> None:
    cid = await _running_dg(client, num_domains=100, character_set="abcdefghij")  # target 100
    assert await client.progress(cid, 10, 7, 2) == [recorded(10, 7, 2, (10, 7, 2), 10.0)]
    assert await client.progress(cid, 5, 0, 5) == [recorded(5, 0, 5, (15, 7, 7), 15.0)]
    assert await client.progress(cid, 0, 0, 0) == [recorded(0, 0, 0, (15, 7, 7), 15.0)]
    st = await client.state(cid)
    assert st["totals"] == {"processed": 15, "succeeded": 7, "failed": 7}
    assert st["percent"] == 15.0 and _is_json_number(st["percent"])


async def test_all_zero_record_is_accepted_before_any_progress(client: Client) -> None:
    cid = await _running_dg(client)
    drafts = await client.progress(cid, 0, 0, 0)
    assert drafts == [recorded(0, 0, 0, (0, 0, 0), 0.0)]
    assert _is_json_number(drafts[0][1]["percent"])


@pytest.mark.parametrize(
    ("p", "s", "f"),
    [(-1, 0, 0), (1, -1, 0), (1, 0, -1), (1, 1, 1), (0, 1, 0), (0, 0, 1), (3, 2, 2)],
)
async def test_invalid_progress_values(client: Client, p: int, s: int, f: int) -> None:
    cid = await _running_dg(client, character_set="abcdefghij")
    assert await client.progress(cid, p, s, f) == rejected("invalid_input", "record_progress")
    assert (await client.state(cid))["totals"] == zero_totals()


async def test_succeeded_plus_failed_may_equal_processed(client: Client) -> None:
    cid = await _running_dg(client, character_set="abcdefghij")  # target 1000
    assert await client.progress(cid, 3, 1, 2) == [recorded(3, 1, 2, (3, 1, 2), 0.3)]


@pytest.mark.parametrize("kind", ["dns_validation", "http_keyword_validation"])
async def test_other_kinds_have_no_target_and_null_percent(client: Client, kind: str) -> None:
    dg = await client.dg()
    dns = await client.dns(dg)
    cid = dns if kind == "dns_validation" else await client.http(dns)
    await client.ok("start", cid)
    assert (await client.state(cid))["percent"] is None
    big = 10**12
    assert await client.progress(cid, big, big - 1, 1) == [recorded(big, big - 1, 1, (big, big - 1, 1), None)]
    assert await client.progress(cid, 5, 5, 0) == [recorded(5, 5, 0, (big + 5, big + 4, 1), None)]
    st = await client.state(cid)
    assert st["status"] == "running" and st["percent"] is None
    assert st["totals"] == {"processed": big + 5, "succeeded": big + 4, "failed": 1}


# --------------------------------------------------------------------------- target and completion


async def test_reaching_the_target_completes_in_the_same_response(client: Client) -> None:
    cid = await _running_dg(client)  # 2^3 = 8
    assert await client.progress(cid, 5, 5, 0) == [recorded(5, 5, 0, (5, 5, 0), 62.5)]
    # Passing the target is refused and changes nothing.
    assert await client.progress(cid, 4, 4, 0) == rejected("invalid_input", "record_progress")
    assert (await client.state(cid))["totals"] == {"processed": 5, "succeeded": 5, "failed": 0}
    assert await client.progress(cid, 3, 1, 1) == [
        recorded(3, 1, 1, (8, 6, 1), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]
    st = await client.state(cid)
    assert st["status"] == "completed" and st["percent"] == 100.0
    assert st["totals"] == {"processed": 8, "succeeded": 6, "failed": 1}
    assert await client.progress(cid, 0, 0, 0) == rejected("invalid_state", "record_progress")


async def test_one_record_straight_to_the_target(client: Client) -> None:
    cid = await _running_dg(client)
    assert await client.progress(cid, 8, 0, 8) == [
        recorded(8, 0, 8, (8, 0, 8), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]


async def test_first_record_above_the_target_is_refused(client: Client) -> None:
    cid = await _running_dg(client)
    assert await client.progress(cid, 9, 0, 0) == rejected("invalid_input", "record_progress")
    assert await client.status(cid) == "running"


async def test_num_domains_below_combinations_is_the_target(client: Client) -> None:
    cid = await _running_dg(client, num_domains=5)
    assert await client.progress(cid, 6, 0, 0) == rejected("invalid_input", "record_progress")
    assert await client.progress(cid, 4, 0, 0) == [recorded(4, 0, 0, (4, 0, 0), 80.0)]
    assert await client.progress(cid, 1, 0, 0) == [
        recorded(1, 0, 0, (5, 0, 0), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]


async def test_num_domains_above_combinations_is_capped_but_kept(client: Client) -> None:
    cid = await _running_dg(client, num_domains=1000)  # 8 combinations
    assert (await client.state(cid))["params"]["num_domains"] == 1000
    assert await client.progress(cid, 9, 0, 0) == rejected("invalid_input", "record_progress")
    assert await client.progress(cid, 2, 0, 0) == [recorded(2, 0, 0, (2, 0, 0), 25.0)]
    assert await client.progress(cid, 6, 0, 0) == [
        recorded(6, 0, 0, (8, 0, 0), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]
    assert (await client.state(cid))["params"]["num_domains"] == 1000


async def test_num_domains_equal_to_combinations(client: Client) -> None:
    cid = await _running_dg(client, num_domains=8)
    assert await client.progress(cid, 8, 0, 0) == [
        recorded(8, 0, 0, (8, 0, 0), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]


@pytest.mark.parametrize("pattern", ["prefix", "suffix"])
async def test_single_sided_combinations(client: Client, pattern: str) -> None:
    # 3 characters, length 2: 9 combinations
    cid = await _running_dg(client, pattern_type=pattern, character_set="abc", variable_length=2)
    assert await client.progress(cid, 10, 0, 0) == rejected("invalid_input", "record_progress")
    assert await client.progress(cid, 9, 0, 0) == [
        recorded(9, 0, 0, (9, 0, 0), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]


async def test_both_doubles_the_exponent(client: Client) -> None:
    # |ab|^(2*2) = 16, not 2 * 2^2 = 8 and not 2^2 = 4
    cid = await _running_dg(client, pattern_type="both", variable_length=2)
    assert await client.progress(cid, 9, 0, 0) == [recorded(9, 0, 0, (9, 0, 0), 56.25)]
    assert await client.progress(cid, 8, 0, 0) == rejected("invalid_input", "record_progress")
    assert await client.progress(cid, 7, 0, 0) == [
        recorded(7, 0, 0, (16, 0, 0), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]


async def test_both_with_large_exponent(client: Client) -> None:
    # 37^24 combinations: exact integer arithmetic, percent stays 0.0
    cid = await _running_dg(
        client, pattern_type="both", variable_length=12, character_set="abcdefghijklmnopqrstuvwxyz0123456789-"
    )
    big = 10**30
    assert await client.progress(cid, big, 0, 0) == [recorded(big, 0, 0, (big, 0, 0), 0.0)]


# --------------------------------------------------------------------------- percent rounding


@pytest.mark.parametrize(
    ("changes", "steps"),
    [
        # target 32: 1/32 = 3.125 -> 3.13 (half up, not half even)
        ({"variable_length": 5}, [(1, 3.13), (4, 15.63), (2, 21.88), (1, 25.0)]),
        # target 3: thirds
        ({"variable_length": 1, "character_set": "abc"}, [(1, 33.33), (1, 66.67)]),
        # target 7 (num_domains below 8 combinations): 1/7 = 14.2857...
        ({"num_domains": 7}, [(1, 14.29), (5, 85.71)]),
        # target 64: 3/64 = 4.6875 -> 4.69
        ({"variable_length": 6}, [(3, 4.69), (1, 6.25)]),
        # target 800: 1/800 = 0.125 -> 0.13
        ({"num_domains": 800, "character_set": "abcdefghij"}, [(1, 0.13), (1, 0.25)]),
        # target 20000: 201/20000 = 1.005 exactly -> 1.01 (binary floats would give 1.0)
        ({"num_domains": 20000, "character_set": "abcdefghij", "variable_length": 5}, [(201, 1.01)]),
        # target 200000: 1/200000 = 0.0005 -> 0.0 (0.00)... and 1/2000 -> 0.05
        (
            {"num_domains": 200000, "character_set": "abcdefghij", "variable_length": 6},
            [(1, 0.0), (99, 0.05)],
        ),
        # target 2000000: 10001/2000000*100 = 0.50005 -> 0.5; 9999 more -> 1.0
        (
            {"num_domains": 2000000, "character_set": "abcdefghij", "variable_length": 7},
            [(10001, 0.5), (9999, 1.0)],
        ),
        # target 400000: 2/400000*100 = 0.0005 -> 0.0 ; 20 -> 0.005 -> 0.01
        (
            {"num_domains": 400000, "character_set": "abcdefghij", "variable_length": 6},
            [(2, 0.0), (18, 0.01)],
        ),
    ],
    ids=["32", "3", "7", "64", "800", "20000", "200000", "2000000", "400000"],
)
async def test_percent_rounds_half_up_to_two_decimals(
    client: Client, changes: dict[str, Any], steps: list[tuple[int, float]]
) -> None:
    cid = await _running_dg(client, **changes)
    total = 0
    for processed, percent in steps:
        total += processed
        drafts = await client.progress(cid, processed, 0, 0)
        assert drafts[0] == recorded(processed, 0, 0, (total, 0, 0), percent), (total, drafts)
        assert _is_json_number(drafts[0][1]["percent"])
        st = await client.state(cid)
        assert st["percent"] == percent and _is_json_number(st["percent"])


async def test_percent_is_zero_before_progress(client: Client) -> None:
    cid = await client.dg()
    st = await client.state(cid)
    assert st["percent"] == 0.0 and _is_json_number(st["percent"])
    assert st["totals"] == zero_totals()


# --------------------------------------------------------------------------- restart, resume, retry


async def test_restart_zeroes_the_totals(client: Client) -> None:
    cid = await _running_dg(client)
    await client.progress(cid, 8, 6, 2)  # completes
    assert await client.status(cid) == "completed"
    assert await client.send("restart", cid) == [status_changed("completed", "running", [ALICE])]
    st = await client.state(cid)
    assert st["status"] == "running" and st["totals"] == zero_totals() and st["percent"] == 0.0
    # The whole target is available again.
    assert await client.progress(cid, 8, 8, 0) == [
        recorded(8, 8, 0, (8, 8, 0), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]


async def test_restart_after_manual_complete_zeroes_dns_totals(client: Client) -> None:
    cid = await client.dns(await client.dg())
    await client.ok("start", cid)
    await client.progress(cid, 40, 30, 10)
    await client.ok("complete", cid)
    st = await client.state(cid)
    assert st["totals"] == {"processed": 40, "succeeded": 30, "failed": 10}
    await client.ok("restart", cid)
    st = await client.state(cid)
    assert st["totals"] == zero_totals() and st["percent"] is None


async def test_resume_and_retry_keep_the_totals(client: Client) -> None:
    cid = await _running_dg(client, character_set="abcdefghij")  # target 1000
    await client.progress(cid, 100, 90, 10)
    await client.ok("pause", cid)
    await client.ok("resume", cid)
    st = await client.state(cid)
    assert st["totals"] == {"processed": 100, "succeeded": 90, "failed": 10}
    assert st["percent"] == 10.0
    await client.ok("fail", cid, {"reason": "x"})
    await client.ok("retry", cid)
    st = await client.state(cid)
    assert st["totals"] == {"processed": 100, "succeeded": 90, "failed": 10}
    assert await client.progress(cid, 900, 0, 0) == [
        recorded(900, 0, 0, (1000, 90, 10), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]


@pytest.mark.parametrize("frm", ["running", "paused"])
async def test_complete_whatever_the_progress(client: Client, frm: str) -> None:
    cid = await _running_dg(client)
    await client.progress(cid, 3, 3, 0)
    if frm == "paused":
        await client.ok("pause", cid)
    assert await client.send("complete", cid) == [status_changed(frm, "completed", [ALICE])]
    st = await client.state(cid)
    assert st["totals"] == {"processed": 3, "succeeded": 3, "failed": 0}
    assert st["percent"] == 37.5


# --------------------------------------------------------------------------- fail reason


@pytest.mark.parametrize(
    ("reason", "stored"),
    [("x", "x"), ("  dns down \n", "dns down"), ("r" * 500, "r" * 500), (" " + "r" * 500 + " ", "r" * 500)],
    ids=["one", "trimmed", "500", "500-after-trim"],
)
async def test_fail_reason_is_trimmed(client: Client, reason: str, stored: str) -> None:
    cid = await _running_dg(client)
    assert await client.send("fail", cid, {"reason": reason}) == [
        status_changed("running", "failed", [ALICE], stored)
    ]


@pytest.mark.parametrize(
    "reason", ["", "   ", "\u00a0\t", "r" * 501], ids=["empty", "spaces", "unicode-ws", "501"]
)
async def test_invalid_fail_reason(client: Client, reason: str) -> None:
    cid = await _running_dg(client)
    assert await client.send("fail", cid, {"reason": reason}) == rejected("invalid_input", "fail")
    assert await client.status(cid) == "running"


# --------------------------------------------------------------------------- update rules


async def test_update_name_only_keeps_params(client: Client) -> None:
    cid = await client.dg({**DG_PARAMS, "num_domains": 5})
    assert await client.send("update_campaign", cid, {"name": "  New name\u3000"}) == [
        ("campaign_updated", {"name": "New name", "params": {**DG_PARAMS, "num_domains": 5}}, [ALICE])
    ]


async def test_update_params_replaces_them_entirely(client: Client) -> None:
    cid = await client.dg({**DG_PARAMS, "num_domains": 5, "tld": ".net"})
    new_params = {
        "pattern_type": "both",
        "variable_length": 1,
        "character_set": "xyz",
        "constant_string": "deal",
        "tld": ".org",
    }
    # num_domains and tld are not carried over: defaults are filled in again.
    assert await client.send("update_campaign", cid, {"params": new_params}) == [
        ("campaign_updated", {"name": "Campaign", "params": {**new_params, "num_domains": 0}}, [ALICE])
    ]
    st = await client.state(cid)
    assert st["params"] == {**new_params, "num_domains": 0}
    assert st["kind"] == "domain_generation"


async def test_update_name_and_params(client: Client) -> None:
    cid = await client.dg()
    params = {**DG_PARAMS, "num_domains": 3}
    assert await client.send("update_campaign", cid, {"name": "B", "params": params}) == [
        ("campaign_updated", {"name": "B", "params": params}, [ALICE])
    ]


async def test_update_params_must_be_complete(client: Client) -> None:
    cid = await client.dg()
    assert await client.send("update_campaign", cid, {"params": {"num_domains": 3}}) == rejected(
        "invalid_input", "update_campaign"
    )
    assert (await client.state(cid))["params"] == DG_PARAMS_FULL


@pytest.mark.parametrize(
    "payload",
    [
        {"name": ""},
        {"name": "n" * 101},
        {"name": "ok", "params": {**DG_PARAMS, "tld": "com"}},
        {"name": "  ", "params": DG_PARAMS},
        {"params": {**DG_PARAMS, "extra": 1}},
    ],
    ids=["empty-name", "long-name", "bad-params", "bad-name-good-params", "unknown-field"],
)
async def test_invalid_update_changes_nothing(client: Client, payload: dict[str, Any]) -> None:
    cid = await client.dg({**DG_PARAMS, "num_domains": 4})
    assert await client.send("update_campaign", cid, payload) == rejected("invalid_input", "update_campaign")
    st = await client.state(cid)
    assert st["name"] == "Campaign" and st["params"] == {**DG_PARAMS, "num_domains": 4}


async def test_update_kind_is_fixed(client: Client) -> None:
    dg = await client.dg()
    dns = await client.dns(dg)
    # dns params on a domain_generation campaign are unknown fields
    assert await client.send(
        "update_campaign", dg, {"params": {"source_campaign_id": dg, "resolvers": ["1.1.1.1"]}}
    ) == rejected("invalid_input", "update_campaign")
    # and domain_generation params on a dns campaign
    assert await client.send("update_campaign", dns, {"params": DG_PARAMS}) == rejected(
        "invalid_input", "update_campaign"
    )
    assert (await client.state(dns))["kind"] == "dns_validation"


async def test_update_dns_params_fills_defaults(client: Client) -> None:
    dg = await client.dg()
    dns = await client.dns(dg, batch_size=7, retry_attempts=4, rotation_interval_seconds=60)
    params = {"source_campaign_id": dg, "resolvers": ["::1", "::1"]}
    assert await client.send("update_campaign", dns, {"params": params}) == [
        (
            "campaign_updated",
            {
                "name": "Campaign",
                "params": {**params, "batch_size": 50, "retry_attempts": 1, "rotation_interval_seconds": 0},
            },
            [ALICE],
        )
    ]


async def test_update_source_checks(client: Client) -> None:
    dg = await client.dg()
    dns = await client.dns(dg)
    other_dns = await client.dns(dg)
    # A dns campaign is not a valid source for a dns campaign.
    assert await client.send(
        "update_campaign", dns, {"params": {"source_campaign_id": other_dns, "resolvers": ["1.1.1.1"]}}
    ) == rejected("invalid_input", "update_campaign")


async def test_update_target_not_below_processed(client: Client) -> None:
    cid = await _running_dg(client, character_set="abcdefghij")  # target 1000
    await client.progress(cid, 5, 5, 0)
    await client.ok("pause", cid)
    below = {**DG_PARAMS, "character_set": "abcdefghij", "num_domains": 4}
    assert await client.send("update_campaign", cid, {"params": below}) == rejected(
        "invalid_input", "update_campaign"
    )
    # fewer combinations than processed is also below
    tiny = {**DG_PARAMS, "character_set": "ab", "variable_length": 2}  # 4 combinations
    assert await client.send("update_campaign", cid, {"params": tiny}) == rejected(
        "invalid_input", "update_campaign"
    )
    assert (await client.state(cid))["params"]["character_set"] == "abcdefghij"
    # num_domains above processed: fine, and percent follows the new target.
    ten = {**DG_PARAMS, "character_set": "abcdefghij", "num_domains": 10}
    assert await client.send("update_campaign", cid, {"params": ten}) == [
        ("campaign_updated", {"name": "Campaign", "params": ten}, [ALICE])
    ]
    st = await client.state(cid)
    assert st["percent"] == 50.0 and st["totals"] == {"processed": 5, "succeeded": 5, "failed": 0}
    await client.ok("resume", cid)
    assert await client.progress(cid, 5, 0, 0) == [
        recorded(5, 0, 0, (10, 5, 0), 100.0),
        status_changed("running", "completed", [ALICE]),
    ]


async def test_update_target_equal_to_processed_is_allowed(client: Client) -> None:
    cid = await _running_dg(client, character_set="abcdefghij")
    await client.progress(cid, 5, 5, 0)
    await client.ok("pause", cid)
    five = {**DG_PARAMS, "character_set": "abcdefghij", "num_domains": 5}
    assert await client.send("update_campaign", cid, {"params": five}) == [
        ("campaign_updated", {"name": "Campaign", "params": five}, [ALICE])
    ]
    st = await client.state(cid)
    assert st["status"] == "paused" and st["percent"] == 100.0


async def test_campaign_state_of_a_dns_campaign(client: Client) -> None:
    dg = await client.dg()
    cid = await client.dns(dg, resolvers=["2001:DB8::1", "9.9.9.9"], retry_attempts=0)
    await client.ok("start", cid)
    await client.progress(cid, 7, 5, 2)
    await client.ok("pause", cid)
    drafts = await client.send("get_campaign", cid)
    assert drafts == [
        (
            "campaign_state",
            {
                "campaign_id": cid,
                "owner": ALICE,
                "name": "Campaign",
                "kind": "dns_validation",
                "params": {
                    "source_campaign_id": dg,
                    "resolvers": ["2001:DB8::1", "9.9.9.9"],
                    "batch_size": 50,
                    "retry_attempts": 0,
                    "rotation_interval_seconds": 0,
                },
                "status": "paused",
                "totals": {"processed": 7, "succeeded": 5, "failed": 2},
                "percent": None,
            },
            [ALICE],
        )
    ]
