"""Names, kinds and params (campaign-rules.md "Commands", "Params", exact behaviour 5, 6, 8)."""

from __future__ import annotations

from typing import Any

import pytest

from ._support import (
    ADMIN_PERMS,
    ALICE,
    ALPHABET,
    BOB,
    DG_PARAMS,
    DG_PARAMS_FULL,
    Client,
    new_id,
    rejected,
)

DNS_DEFAULTS = {"batch_size": 50, "retry_attempts": 1, "rotation_interval_seconds": 0}
HTTP_DEFAULTS = {"target_ports": [80, 443], "batch_size": 50, "retry_attempts": 1}


async def _create(
    client: Client, kind: str, params: Any, name: Any = "Campaign", actor: str = ALICE
) -> tuple[str, list[Any]]:
    cid = new_id()
    drafts = await client.send(
        "create_campaign", cid, {"name": name, "kind": kind, "params": params}, actor=actor
    )
    return cid, drafts


async def _assert_refused(client: Client, kind: str, params: Any, name: Any = "Campaign") -> None:
    cid, drafts = await _create(client, kind, params, name)
    assert drafts == rejected("invalid_input", "create_campaign")
    # Nothing was stored.
    assert await client.send("get_campaign", cid) == rejected("not_found", "get_campaign")


async def _assert_created(
    client: Client,
    kind: str,
    params: Any,
    stored: dict[str, Any],
    name: Any = "Campaign",
    stored_name: str = "Campaign",
) -> str:
    cid, drafts = await _create(client, kind, params, name)
    expected = {
        "campaign_id": cid,
        "owner": ALICE,
        "name": stored_name,
        "kind": kind,
        "params": stored,
        "status": "draft",
    }
    assert drafts == [("campaign_created", expected, [ALICE])]
    st = await client.state(cid)
    assert st["params"] == stored and st["name"] == stored_name and st["status"] == "draft"
    return cid


# --------------------------------------------------------------------------- names and kinds


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("x", "x"),
        ("n" * 100, "n" * 100),
        ("  " + "n" * 100 + "\t\n", "n" * 100),
        ("\u00a0 Q4 leads \u2003\u3000", "Q4 leads"),
        ("a  b", "a  b"),
        ("é" * 100, "é" * 100),
        # every Unicode White_Space character is trimmed ...
        ("\x0b\x0c\x85\u1680\u2028\u2029\u202f\u205f ok \u2000\u200a\r", "ok"),
        # ... and characters that are not White_Space are kept (zero-width space, U+001C)
        ("\u200b", "\u200b"),
        ("\x1cab", "\x1cab"),
    ],
    ids=[
        "one",
        "100",
        "100-after-trim",
        "unicode-ws-trim",
        "inner-spaces-kept",
        "100-non-ascii",
        "all-white-space-trimmed",
        "zero-width-space-kept",
        "x1c-kept",
    ],
)
async def test_valid_names_are_stored_trimmed(client: Client, name: str, stored: str) -> None:
    await _assert_created(
        client, "domain_generation", DG_PARAMS, DG_PARAMS_FULL, name=name, stored_name=stored
    )


@pytest.mark.parametrize(
    "name",
    ["n" * 101, "  " + "n" * 101 + "  ", "", "   ", "\t\n\u00a0\u3000\u2003"],
    ids=["101", "101-after-trim", "empty", "spaces", "unicode-whitespace-only"],
)
async def test_invalid_names(client: Client, name: str) -> None:
    await _assert_refused(client, "domain_generation", DG_PARAMS, name=name)


@pytest.mark.parametrize("kind", ["email", "", "DNS_VALIDATION", "domain-generation", " dns_validation"])
async def test_unknown_kind(client: Client, kind: str) -> None:
    await _assert_refused(client, kind, DG_PARAMS)


async def test_params_of_another_kind_are_refused(client: Client) -> None:
    src = await client.dg()
    await _assert_refused(client, "dns_validation", DG_PARAMS)
    await _assert_refused(client, "domain_generation", {"source_campaign_id": src, "resolvers": ["1.1.1.1"]})


# --------------------------------------------------------------------------- domain_generation


def _dg(**changes: Any) -> dict[str, Any]:
    params = dict(DG_PARAMS)
    for key, value in changes.items():
        if value is _DROP:
            params.pop(key)
        else:
            params[key] = value
    return params


_DROP = object()

VALID_DG = [
    ({}, {}),
    ({"pattern_type": "suffix"}, {}),
    ({"pattern_type": "both"}, {}),
    ({"variable_length": 1}, {}),
    ({"variable_length": 12}, {}),
    ({"character_set": "a"}, {}),
    ({"character_set": "-"}, {}),
    ({"character_set": ALPHABET}, {}),  # all 37 distinct characters
    ({"character_set": "z9-"}, {}),
    ({"constant_string": "a"}, {}),
    ({"constant_string": "0"}, {}),
    ({"constant_string": "a" * 63}, {}),
    ({"constant_string": "a-b"}, {}),
    ({"constant_string": "a--9"}, {}),
    ({"tld": ".io"}, {}),
    ({"tld": "." + "x" * 24}, {}),
    ({"num_domains": 0}, {}),
    ({"num_domains": 5}, {}),
    ({"num_domains": 10**15}, {}),  # kept as sent, above the 8 combinations
]


@pytest.mark.parametrize(("changes", "_unused"), VALID_DG, ids=[repr(c) for c, _ in VALID_DG])
async def test_valid_domain_generation_params(
    client: Client, changes: dict[str, Any], _unused: object
) -> None:
    params = _dg(**changes)
    await _assert_created(client, "domain_generation", params, {"num_domains": 0, **params})


INVALID_DG: list[tuple[str, dict[str, Any]]] = [
    ("unknown-field", {"foo": 1}),
    ("num-domain-typo", {"num_domain": 5}),
    ("missing-pattern_type", {"pattern_type": _DROP}),
    ("missing-variable_length", {"variable_length": _DROP}),
    ("missing-character_set", {"character_set": _DROP}),
    ("missing-constant_string", {"constant_string": _DROP}),
    ("missing-tld", {"tld": _DROP}),
    ("pattern-infix", {"pattern_type": "infix"}),
    ("pattern-upper", {"pattern_type": "PREFIX"}),
    ("pattern-null", {"pattern_type": None}),
    ("pattern-int", {"pattern_type": 1}),
    ("length-0", {"variable_length": 0}),
    ("length-13", {"variable_length": 13}),
    ("length-neg", {"variable_length": -1}),
    ("length-bool", {"variable_length": True}),
    ("length-float", {"variable_length": 3.0}),
    ("length-str", {"variable_length": "3"}),
    ("length-null", {"variable_length": None}),
    ("length-huge", {"variable_length": 10**20}),
    ("charset-empty", {"character_set": ""}),
    ("charset-dup", {"character_set": "aa"}),
    ("charset-dup-later", {"character_set": "abca"}),
    ("charset-38-dup", {"character_set": ALPHABET + "a"}),
    ("charset-64", {"character_set": (ALPHABET * 2)[:64]}),
    ("charset-65", {"character_set": (ALPHABET * 2)[:65]}),
    ("charset-upper", {"character_set": "aB"}),
    ("charset-underscore", {"character_set": "a_"}),
    ("charset-space", {"character_set": "a b"}),
    ("charset-dot", {"character_set": "a."}),
    ("charset-non-ascii", {"character_set": "aé"}),
    ("charset-arabic-digit", {"character_set": "a\u0661"}),
    ("charset-list", {"character_set": ["a", "b"]}),
    ("charset-null", {"character_set": None}),
    ("const-empty", {"constant_string": ""}),
    ("const-64", {"constant_string": "a" * 64}),
    ("const-leading-dash", {"constant_string": "-ab"}),
    ("const-trailing-dash", {"constant_string": "ab-"}),
    ("const-dash", {"constant_string": "-"}),
    ("const-upper", {"constant_string": "Shop"}),
    ("const-space", {"constant_string": "sh op"}),
    ("const-underscore", {"constant_string": "sh_op"}),
    ("const-dot", {"constant_string": "sh.op"}),
    ("const-int", {"constant_string": 5}),
    ("const-null", {"constant_string": None}),
    ("const-fullwidth", {"constant_string": "\uff41"}),
    ("const-dotless-i", {"constant_string": "\u0131"}),
    ("tld-no-dot", {"tld": "com"}),
    ("tld-1-letter", {"tld": ".c"}),
    ("tld-25-letters", {"tld": "." + "x" * 25}),
    ("tld-upper", {"tld": ".COM"}),
    ("tld-digit", {"tld": ".co1"}),
    ("tld-dash", {"tld": ".co-m"}),
    ("tld-two-labels", {"tld": ".co.uk"}),
    ("tld-trailing-newline", {"tld": ".com\n"}),
    ("tld-dot-only", {"tld": "."}),
    ("tld-empty", {"tld": ""}),
    ("tld-null", {"tld": None}),
    ("tld-cyrillic", {"tld": ".\u043a\u043e\u043c"}),
    ("num-neg", {"num_domains": -1}),
    ("num-bool", {"num_domains": True}),
    ("num-float", {"num_domains": 5.0}),
    ("num-str", {"num_domains": "5"}),
    ("num-null", {"num_domains": None}),
]


@pytest.mark.parametrize(("_id", "changes"), INVALID_DG, ids=[i for i, _ in INVALID_DG])
async def test_invalid_domain_generation_params(client: Client, _id: str, changes: dict[str, Any]) -> None:
    await _assert_refused(client, "domain_generation", _dg(**changes))


@pytest.mark.parametrize("params", [[], "x", 5], ids=["list", "str", "int"])
async def test_params_not_an_object(client: Client, params: Any) -> None:
    await _assert_refused(client, "domain_generation", params)


# --------------------------------------------------------------------------- dns_validation


def _dns(src: str, **changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"source_campaign_id": src, "resolvers": ["1.1.1.1"]}
    for key, value in changes.items():
        if value is _DROP:
            params.pop(key)
        else:
            params[key] = value
    return params


SIXTEEN_V4 = [f"10.0.0.{i}" for i in range(16)]

VALID_DNS: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("16-resolvers", {"resolvers": SIXTEEN_V4}),
    ("duplicates", {"resolvers": ["8.8.8.8", "8.8.8.8"]}),
    ("zeros", {"resolvers": ["0.0.0.0", "10.0.0.1", "255.255.255.255"]}),
    ("ipv6", {"resolvers": ["2001:4860:4860::8888", "::1"]}),
    ("ipv4-mapped-ipv6", {"resolvers": ["::ffff:1.2.3.4"]}),
    ("ipv6-as-sent", {"resolvers": ["2001:DB8::1", "2001:0db8:0000::0001"]}),
    ("mixed", {"resolvers": ["1.1.1.1", "2606:4700:4700::1111"]}),
    ("batch-1", {"batch_size": 1}),
    ("batch-10000", {"batch_size": 10000}),
    ("retry-0", {"retry_attempts": 0}),
    ("retry-10", {"retry_attempts": 10}),
    ("rotation-0", {"rotation_interval_seconds": 0}),
    ("rotation-3600", {"rotation_interval_seconds": 3600}),
    ("all-given", {"batch_size": 7, "retry_attempts": 3, "rotation_interval_seconds": 9}),
]


@pytest.mark.parametrize(("_id", "changes"), VALID_DNS, ids=[i for i, _ in VALID_DNS])
async def test_valid_dns_params(client: Client, _id: str, changes: dict[str, Any]) -> None:
    src = await client.dg()
    params = _dns(src, **changes)
    await _assert_created(client, "dns_validation", params, {**DNS_DEFAULTS, **params})


INVALID_DNS: list[tuple[str, dict[str, Any]]] = [
    ("unknown-field", {"timeout": 5}),
    ("http-field", {"keywords": ["a"]}),
    ("missing-source", {"source_campaign_id": _DROP}),
    ("missing-resolvers", {"resolvers": _DROP}),
    ("resolvers-empty", {"resolvers": []}),
    ("resolvers-17", {"resolvers": [*SIXTEEN_V4, "10.0.1.1"]}),
    ("resolvers-str", {"resolvers": "1.1.1.1"}),
    ("resolvers-null", {"resolvers": None}),
    ("resolver-null", {"resolvers": [None]}),
    ("resolver-int", {"resolvers": [16843009]}),
    ("v4-leading-zero-first", {"resolvers": ["01.1.1.1"]}),
    ("v4-leading-zero-last", {"resolvers": ["1.1.1.01"]}),
    ("v4-leading-zero-00", {"resolvers": ["10.00.0.1"]}),
    ("v4-256", {"resolvers": ["256.0.0.1"]}),
    ("v4-three-parts", {"resolvers": ["1.1.1"]}),
    ("v4-space", {"resolvers": [" 1.1.1.1"]}),
    ("v6-zone-id", {"resolvers": ["fe80::1%eth0"]}),
    ("v6-zone-id-numeric", {"resolvers": ["fe80::1%1"]}),
    ("v6-bad", {"resolvers": ["2001:db8::1::2"]}),
    ("hostname", {"resolvers": ["dns.google"]}),
    ("v4-arabic-digit", {"resolvers": ["\u0661.1.1.1"]}),
    ("v6-brackets", {"resolvers": ["[::1]"]}),
    ("v4-with-port", {"resolvers": ["1.1.1.1:53"]}),
    ("one-bad-of-two", {"resolvers": ["1.1.1.1", "1.1.1.256"]}),
    ("batch-0", {"batch_size": 0}),
    ("batch-10001", {"batch_size": 10001}),
    ("batch-bool", {"batch_size": True}),
    ("batch-float", {"batch_size": 50.0}),
    ("batch-null", {"batch_size": None}),
    ("batch-str", {"batch_size": "50"}),
    ("retry-neg", {"retry_attempts": -1}),
    ("retry-11", {"retry_attempts": 11}),
    ("retry-bool", {"retry_attempts": False}),
    ("retry-null", {"retry_attempts": None}),
    ("rotation-neg", {"rotation_interval_seconds": -1}),
    ("rotation-bool", {"rotation_interval_seconds": True}),
    ("rotation-str", {"rotation_interval_seconds": "0"}),
    ("rotation-null", {"rotation_interval_seconds": None}),
]


@pytest.mark.parametrize(("_id", "changes"), INVALID_DNS, ids=[i for i, _ in INVALID_DNS])
async def test_invalid_dns_params(client: Client, _id: str, changes: dict[str, Any]) -> None:
    src = await client.dg()
    await _assert_refused(client, "dns_validation", _dns(src, **changes))


# --------------------------------------------------------------------------- http_keyword_validation


def _http(src: str, **changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"source_campaign_id": src, "keywords": ["buy"]}
    for key, value in changes.items():
        if value is _DROP:
            params.pop(key)
        else:
            params[key] = value
    return params


VALID_HTTP: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("50-keywords", {"keywords": [f"k{i}" for i in range(50)]}),
    ("keyword-100", {"keywords": ["k" * 100]}),
    ("keyword-1", {"keywords": ["k"]}),
    ("not-trimmed", {"keywords": ["  buy now "]}),
    ("space-keyword", {"keywords": [" "]}),
    ("duplicate-keywords", {"keywords": ["b", "a", "b"]}),
    ("port-1", {"target_ports": [1]}),
    ("port-65535", {"target_ports": [65535]}),
    ("16-ports", {"target_ports": list(range(8000, 8016))}),
    ("duplicate-ports", {"target_ports": [443, 80, 443]}),
    ("batch-retry", {"batch_size": 10000, "retry_attempts": 0}),
]


@pytest.mark.parametrize(("_id", "changes"), VALID_HTTP, ids=[i for i, _ in VALID_HTTP])
async def test_valid_http_params(client: Client, _id: str, changes: dict[str, Any]) -> None:
    dns = await client.dns(await client.dg())
    params = _http(dns, **changes)
    await _assert_created(client, "http_keyword_validation", params, {**HTTP_DEFAULTS, **params})


INVALID_HTTP: list[tuple[str, dict[str, Any]]] = [
    ("unknown-field", {"method": "GET"}),
    ("rotation-is-dns-only", {"rotation_interval_seconds": 0}),
    ("missing-source", {"source_campaign_id": _DROP}),
    ("missing-keywords", {"keywords": _DROP}),
    ("keywords-empty", {"keywords": []}),
    ("keywords-51", {"keywords": [f"k{i}" for i in range(51)]}),
    ("keyword-empty", {"keywords": [""]}),
    ("keyword-101", {"keywords": ["k" * 101]}),
    ("keyword-int", {"keywords": [5]}),
    ("keyword-null", {"keywords": [None]}),
    ("keywords-str", {"keywords": "buy"}),
    ("keywords-null", {"keywords": None}),
    ("ports-empty", {"target_ports": []}),
    ("ports-17", {"target_ports": list(range(8000, 8017))}),
    ("port-0", {"target_ports": [0]}),
    ("port-65536", {"target_ports": [65536]}),
    ("port-neg", {"target_ports": [-80]}),
    ("port-bool", {"target_ports": [True]}),
    ("port-float", {"target_ports": [80.0]}),
    ("port-str", {"target_ports": ["80"]}),
    ("ports-null", {"target_ports": None}),
    ("ports-int", {"target_ports": 80}),
    ("batch-0", {"batch_size": 0}),
    ("batch-10001", {"batch_size": 10001}),
    ("retry-11", {"retry_attempts": 11}),
    ("retry-neg", {"retry_attempts": -1}),
]


@pytest.mark.parametrize(("_id", "changes"), INVALID_HTTP, ids=[i for i, _ in INVALID_HTTP])
async def test_invalid_http_params(client: Client, _id: str, changes: dict[str, Any]) -> None:
    dns = await client.dns(await client.dg())
    await _assert_refused(client, "http_keyword_validation", _http(dns, **changes))


# --------------------------------------------------------------------------- source campaigns


async def test_dns_source_checks(client: Client) -> None:
    dg = await client.dg()
    dns = await client.dns(dg)
    http = await client.http(dns)
    bobs_dg = await client.dg(actor=BOB)
    for source in [new_id(), dns, http, bobs_dg, "not-a-uuid", 5, None, [dg]]:
        await _assert_refused(client, "dns_validation", _dns(source))  # type: ignore[arg-type]


async def test_http_source_checks(client: Client) -> None:
    dg = await client.dg()
    dns = await client.dns(dg)
    http = await client.http(dns)
    bobs_dns = await client.dns(await client.dg(actor=BOB), actor=BOB)
    for source in [new_id(), dg, http, bobs_dns, "not-a-uuid", 5, None]:
        await _assert_refused(client, "http_keyword_validation", _http(source))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "status", ["draft", "running", "paused", "completed", "failed", "cancelled", "archived"]
)
async def test_source_in_any_status_is_accepted(client: Client, status: str) -> None:
    dg = await client.in_state(status)
    dns = await client.dns(dg)
    for step in {
        "draft": [],
        "running": ["start"],
        "paused": ["start", "pause"],
        "completed": ["start", "complete"],
        "failed": ["start", "fail"],
        "cancelled": ["cancel"],
        "archived": ["start", "complete", "archive"],
    }[status]:
        await client.ok(step, dns, {"reason": "r"} if step == "fail" else {})
    await client.http(dns)


async def test_admin_creating_owns_the_campaign_and_needs_own_source(client: Client) -> None:
    alices_dg = await client.dg()
    # Carol (admin) creates: she becomes the owner, so alice's campaign is a foreign source.
    cid = new_id()
    drafts = await client.send(
        "create_campaign",
        cid,
        {"name": "C", "kind": "dns_validation", "params": _dns(alices_dg)},
        actor="carol",
        permissions=ADMIN_PERMS,
    )
    assert drafts == rejected("invalid_input", "create_campaign", "carol")
    carols_dg = new_id()
    drafts = await client.send(
        "create_campaign",
        carols_dg,
        {"name": "C", "kind": "domain_generation", "params": DG_PARAMS},
        actor="carol",
        permissions=ADMIN_PERMS,
    )
    assert drafts == [
        (
            "campaign_created",
            {
                "campaign_id": carols_dg,
                "owner": "carol",
                "name": "C",
                "kind": "domain_generation",
                "params": DG_PARAMS_FULL,
                "status": "draft",
            },
            ["carol"],
        )
    ]
    drafts = await client.send(
        "create_campaign",
        cid,
        {"name": "C", "kind": "dns_validation", "params": _dns(carols_dg)},
        actor="carol",
        permissions=ADMIN_PERMS,
    )
    assert drafts[0][0] == "campaign_created" and drafts[0][1]["owner"] == "carol"


async def test_admin_update_checks_source_against_the_campaign_owner(client: Client) -> None:
    dg1 = await client.dg()
    dg2 = await client.dg()
    dns = await client.dns(dg1)
    carols_dg = new_id()
    await client.send(
        "create_campaign",
        carols_dg,
        {"name": "C", "kind": "domain_generation", "params": DG_PARAMS},
        actor="carol",
        permissions=ADMIN_PERMS,
    )
    bad = await client.send(
        "update_campaign",
        dns,
        {"params": _dns(carols_dg)},
        actor="carol",
        permissions=ADMIN_PERMS,
    )
    assert bad == rejected("invalid_input", "update_campaign", "carol")
    good = await client.send(
        "update_campaign",
        dns,
        {"params": _dns(dg2)},
        actor="carol",
        permissions=ADMIN_PERMS,
    )
    assert good == [
        (
            "campaign_updated",
            {"name": "Campaign", "params": {**DNS_DEFAULTS, **_dns(dg2)}},
            [ALICE, "carol"],
        )
    ]
