"""`parallax rollout`: show, change, kill and explain the live rollout config (rollout.md).

The config lives in the KV bucket `parallax_rollout` (key = context). Every change made here is
validated before it is written (an invalid value is refused and nothing is written), written
with optimistic concurrency on the KV revision, and appended to the AUDIT stream
(`parallax.audit.rollout.<ctx>`) with who, when, why and the diff. `--wait` returns once every
live router replica (heartbeats in KV `parallax_routers`) applies the new revision.

The async functions below do the work and are what the tests call; the typer commands only
parse options, run them and print.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from parallax_contracts import subjects
from parallax_contracts.ids import CONTEXTS, is_aggregate_id
from parallax_rollout import (
    LIST_FIELDS,
    MODES,
    Action,
    AggregateRecord,
    InvalidAggregateRecord,
    InvalidConfig,
    RolloutConfig,
    aggregate_key,
    audit_entry,
    audit_msg_id,
    config_diff,
    config_to_json,
    dump_config,
    explain,
    parse_aggregate_record,
    validate_config,
)
from parallax_runtime.connection import kv_keys
from parallax_runtime.rollout_store import StoredRollout as Stored
from parallax_runtime.rollout_store import env_defaults, read_rollout
from parallax_runtime.topology import AGGREGATES_BUCKET, ROLLOUT_BUCKET, ROUTERS_BUCKET
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from parallax_cli.nats_client import NatsUnreachable, connect

app = typer.Typer(help="Show, change, kill and explain the live rollout config.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

AUDIT_STREAM = "AUDIT"
METADATA_FIELDS = ("updated_at", "updated_by", "reason")


# --------------------------------------------------------------------------- the work


class RolloutError(Exception):
    """A refusal or failure with a message for the user (the CLI exits non-zero)."""


class Refused(RolloutError):
    def __init__(self, context: str, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"refused: the {context} rollout config would be invalid, nothing was written:\n  "
            + "\n  ".join(self.problems)
        )


class WaitTimeout(RolloutError):
    def __init__(self, context: str, revision: int, lagging: dict[str, int | None], timeout: float) -> None:
        self.lagging = lagging
        who = ", ".join(
            f"{r} (at {rev if rev is not None else 'nothing'})" for r, rev in sorted(lagging.items())
        )
        super().__init__(
            f"timed out after {timeout:g}s: revision {revision} of the {context} config is written, "
            f"but these router replicas do not report it yet: {who}"
        )


@dataclass(frozen=True)
class Change:
    context: str
    action: Action
    revision: int
    old: RolloutConfig
    new: RolloutConfig
    diff: dict[str, Any]
    audit: dict[str, Any] = field(default_factory=dict)


def check_context(context: str) -> str:
    if context not in CONTEXTS:
        raise RolloutError(f"unknown context {context!r}; one of {', '.join(CONTEXTS)}")
    return context


async def read_stored(js: JetStreamContext, context: str, defaults: RolloutConfig | None = None) -> Stored:
    """What the routers apply for ``context``: the newest valid entry of the key, else the
    environment defaults (``parallax_runtime.rollout_store.read_rollout``, which the routers
    and the guard use too)."""
    return await read_rollout(js, context, defaults or env_defaults())


def parse_percent(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise RolloutError(f"refused: --percent {text!r} is not a number") from None
    if not value.is_finite():
        raise RolloutError(f"refused: --percent {text!r} is not a finite number")
    return value


def build_update(
    *,
    mode: str | None = None,
    percent: str | None = None,
    shadow: bool | None = None,
    kill_switch: bool | None = None,
    add: dict[str, list[str]] | None = None,
    remove: dict[str, list[str]] | None = None,
    clear: Iterable[str] = (),
    document: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The change as a description (applied to the current config by `apply_update`)."""
    for name in [*(add or {}), *(remove or {}), *clear]:
        if name not in LIST_FIELDS:
            raise RolloutError(f"refused: {name!r} is not a list field; one of {', '.join(LIST_FIELDS)}")
    update: dict[str, Any] = {}
    if document is not None:
        update["document"] = document
    if mode is not None:
        update["mode"] = mode
    if percent is not None:
        update["domain_percent"] = parse_percent(percent)
    if shadow is not None:
        update["shadow"] = shadow
    if kill_switch is not None:
        update["kill_switch"] = kill_switch
    update["add"] = {k: list(v) for k, v in (add or {}).items() if v}
    update["remove"] = {k: list(v) for k, v in (remove or {}).items() if v}
    update["clear"] = list(clear)
    return update


def apply_update(
    base: RolloutConfig, update: dict[str, Any], *, by: str, reason: str, at: datetime
) -> RolloutConfig:
    """Validate ``base`` + ``update`` as a whole new config; raises ``InvalidConfig``."""
    data: dict[str, Any] = config_to_json(base)
    data["domain_percent"] = base.domain_percent
    if "document" in update:
        document = update["document"]
        if not isinstance(document, dict):
            raise InvalidConfig([f"config: must be a JSON object, not {type(document).__name__}"])
        data = {k: v for k, v in document.items() if k not in METADATA_FIELDS}
    for name in ("mode", "domain_percent", "shadow", "kill_switch"):
        if name in update:
            data[name] = update[name]
    for name in update.get("clear", []):
        data[name] = []
    for name, values in update.get("add", {}).items():
        current = list(data.get(name, []))
        data[name] = current + [v for v in values if v not in current]
    for name, values in update.get("remove", {}).items():
        data[name] = [v for v in data.get(name, []) if v not in set(values)]
    data["updated_at"] = at.isoformat()
    data["updated_by"] = by
    data["reason"] = reason
    return validate_config(data)


def substantive(diff: dict[str, Any]) -> bool:
    return any(name not in METADATA_FIELDS for name in diff)


async def change_config(
    nc: Client,
    context: str,
    update: dict[str, Any],
    *,
    by: str,
    reason: str,
    action: Action = "set",
    defaults: RolloutConfig | None = None,
    attempts: int = 5,
) -> Change | None:
    """Validate and write a change, then append it to the audit stream.

    Returns None when the change would change nothing (nothing written, nothing audited).
    Raises ``Refused`` (invalid: nothing written) or ``RolloutError``.
    """
    check_context(context)
    if not reason.strip():
        raise RolloutError("refused: --reason must say why (it goes to the audit stream)")
    if not by.strip():
        raise RolloutError("refused: --by must name who makes the change")
    js = nc.jetstream()
    kv = await js.key_value(ROLLOUT_BUCKET)
    defaults = defaults or env_defaults()
    for _ in range(attempts):
        stored = await read_stored(js, context, defaults)
        base = stored.config
        at = datetime.now(UTC)
        try:
            new = apply_update(base, update, by=by, reason=reason, at=at)
        except InvalidConfig as exc:
            raise Refused(context, exc.problems) from None
        diff = config_diff(base, new)
        if not substantive(diff):
            return None
        try:
            if stored.latest_revision == 0:
                revision = await kv.create(context, dump_config(new))
            else:
                revision = await kv.update(context, dump_config(new), last=stored.latest_revision)
        except KeyWrongLastSequenceError:
            continue  # someone wrote meanwhile: apply the change to what they wrote
        except Exception as exc:
            if "wrong last sequence" in str(exc).lower() or "key exists" in str(exc).lower():
                continue
            raise
        entry = audit_entry(
            context=context, action=action, revision=revision, old=base, new=new, by=by, reason=reason, at=at
        )
        await js.publish(
            subjects.audit(context),
            json.dumps(entry).encode(),
            stream=AUDIT_STREAM,
            headers={subjects.MSG_ID: audit_msg_id(context, revision)},
        )
        return Change(context, action, revision, base, new, diff, entry)
    raise RolloutError(f"the {context} config kept changing under us ({attempts} attempts); try again")


async def router_beats(nc: Client) -> dict[str, dict[str, Any]]:
    """The live router replicas' last heartbeats: replica -> {"revisions": {...}, "at": ...}."""
    js = nc.jetstream()
    kv = await js.key_value(ROUTERS_BUCKET)
    keys = await kv_keys(js, ROUTERS_BUCKET)
    beats: dict[str, dict[str, Any]] = {}
    for key in keys:
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            continue
        with contextlib.suppress(ValueError, TypeError):
            beat = json.loads(entry.value or b"")
            if isinstance(beat, dict):
                beats[key] = beat
    return beats


async def wait_applied(
    nc: Client,
    context: str,
    revision: int,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 (the CLI's --timeout, reported in the error)
    poll: float = 0.05,
) -> dict[str, int]:
    """Until every live router replica reports ``revision`` (or later) for ``context``.

    Returns replica -> applied revision ({} when no replica is alive). Raises ``WaitTimeout``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        beats = await router_beats(nc)
        applied: dict[str, int | None] = {}
        for replica, beat in beats.items():
            rev = (beat.get("revisions") or {}).get(context)
            applied[replica] = rev if isinstance(rev, int) else None
        lagging = {r: rev for r, rev in applied.items() if rev is None or rev < revision}
        if not lagging:
            return {r: rev for r, rev in applied.items() if rev is not None}
        if loop.time() >= deadline:
            raise WaitTimeout(context, revision, lagging, timeout)
        await asyncio.sleep(poll)


async def read_history(
    nc: Client, context: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Audit entries of rollout changes, oldest first (the last ``limit`` of them)."""
    subject = subjects.audit(check_context(context)) if context else f"{subjects.PREFIX}.audit.rollout.*"
    js = nc.jetstream()
    try:
        info = await js.stream_info(AUDIT_STREAM, subjects_filter=subject)
    except NotFoundError:
        return []
    total = sum((info.state.subjects or {}).values())
    if total == 0:
        return []
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    entries: list[dict[str, Any]] = []
    try:
        while len(entries) < total:
            try:
                msg = await sub.next_msg(timeout=5.0)
            except TimeoutError:
                break
            with contextlib.suppress(ValueError):
                entries.append(json.loads(msg.data))
            if msg.metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return entries[-limit:] if limit else entries


async def explain_aggregate(
    nc: Client,
    context: str,
    aggregate_id: str,
    *,
    command_type: str | None = None,
    actor: str | None = None,
    defaults: RolloutConfig | None = None,
) -> Any:
    check_context(context)
    if not is_aggregate_id(context, aggregate_id):
        raise RolloutError(f"{aggregate_id!r} is not a {context} aggregate id")
    js = nc.jetstream()
    stored = await read_stored(js, context, defaults)
    config = stored.config
    aggregates = await js.key_value(AGGREGATES_BUCKET)
    record: AggregateRecord | None
    try:
        entry = await aggregates.get(aggregate_key(context, aggregate_id))
        record = parse_aggregate_record(entry.value) if entry.value else None
    except (KeyNotFoundError, NotFoundError):
        record = None
    except InvalidAggregateRecord as exc:
        raise RolloutError(f"the stored record of {context}/{aggregate_id} is invalid: {exc}") from None
    return explain(
        config,
        record,
        context=context,
        aggregate_id=aggregate_id,
        command_type=command_type,
        actor=actor,
        config_revision=stored.revision,
    )


# --------------------------------------------------------------------------- the commands


def _nats_url(ctx: typer.Context) -> str:
    return str((ctx.obj or {}).get("nats_url"))


async def _connect(url: str) -> Client:
    try:
        return await connect(url)
    except NatsUnreachable as exc:
        raise RolloutError(str(exc)) from None


def _run(url: str, work: Any) -> Any:
    async def go() -> Any:
        nc = await _connect(url)
        try:
            return await work(nc)
        finally:
            await nc.close()

    try:
        return asyncio.run(go())
    except RolloutError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(2 if isinstance(exc, Refused) else 1) from None


@app.callback()
def main(
    ctx: typer.Context,
    nats_url: Annotated[
        str | None,
        typer.Option(
            envvar=["PARALLAX_NATS_URL", "NATS_URL"], help="NATS server (default nats://127.0.0.1:4222)"
        ),
    ] = None,
) -> None:
    """Rollout config of each context, live in KV `parallax_rollout`."""
    from parallax_runtime.settings import DEFAULT_NATS_URL

    ctx.obj = {"nats_url": nats_url or DEFAULT_NATS_URL}


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:
        return "unknown"


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        if not value:
            return "[]"
        shown = ", ".join(map(str, value[:5]))
        return f"{len(value)}: {shown}" + (", ..." if len(value) > 5 else "")
    return "—" if value is None else str(value)


def _diff_text(diff: dict[str, Any]) -> str:
    parts = []
    for name, change in diff.items():
        if name in METADATA_FIELDS:
            continue
        if "added" in change:
            bits = [f"+{v}" for v in change["added"][:5]] + [f"-{v}" for v in change["removed"][:5]]
            more = len(change["added"]) + len(change["removed"]) - len(bits)
            parts.append(f"{name}: {' '.join(bits)}" + (f" (+{more} more)" if more > 0 else ""))
        else:
            parts.append(f"{name}: {_fmt(change['old'])} → {_fmt(change['new'])}")
    return "; ".join(parts) or "(no change)"


def _print_change(change: Change) -> None:
    table = Table(title=f"{change.context}: {change.action} written at revision {change.revision}")
    table.add_column("field")
    table.add_column("before")
    table.add_column("after")
    for name, diff in change.diff.items():
        if name in METADATA_FIELDS:
            continue
        if "added" in diff:
            table.add_row(name, f"removed {_fmt(diff['removed'])}", f"added {_fmt(diff['added'])}")
        else:
            table.add_row(name, _fmt(diff["old"]), _fmt(diff["new"]))
    console.print(table)
    console.print(f"by {change.new.updated_by}: {change.new.reason}  (appended to the audit stream)")


def _print_wait(applied: dict[str, int], revision: int) -> None:
    if not applied:
        err_console.print(
            "[yellow]no live router replica (no heartbeat in KV parallax_routers): "
            "routers apply it when they start[/]"
        )
        return
    console.print(f"applied by every live router replica ({len(applied)}): " + ", ".join(sorted(applied)))


def _write(
    ctx: typer.Context,
    context: str,
    update: dict[str, Any],
    *,
    by: str | None,
    reason: str,
    action: Action,
    wait: bool,
    timeout: float,
) -> None:
    async def work(nc: Client) -> tuple[Change | None, dict[str, int] | None]:
        change = await change_config(nc, context, update, by=_who(by), reason=reason, action=action)
        if change is None:
            return None, None
        _print_change(change)
        applied = await wait_applied(nc, context, change.revision, timeout=timeout) if wait else None
        return change, applied

    change, applied = _run(_nats_url(ctx), work)
    if change is None:
        console.print(f"{context}: nothing to change (the config already says that); nothing written")
        return
    if applied is not None:
        _print_wait(applied, change.revision)


Context = Annotated[str, typer.Argument(help="game | campaign")]
Reason = Annotated[str, typer.Option("--reason", help="why (required; goes to the audit stream)")]
By = Annotated[str | None, typer.Option("--by", help="who (default: $USER)")]
Wait = Annotated[bool, typer.Option("--wait", help="return once every live router replica applies it")]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds --wait waits")]


def _pairs(values: list[str] | None, option: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{option} takes FIELD=VALUE, got {item!r}")
        out.setdefault(name.strip(), []).append(value)
    return out


@app.command("set")
def set_(
    ctx: typer.Context,
    context: Context,
    reason: Reason,
    mode: Annotated[str | None, typer.Option(help=f"one of {', '.join(MODES)}")] = None,
    percent: Annotated[str | None, typer.Option(help="domain_percent, 0-100, at most two decimals")] = None,
    shadow: Annotated[
        bool | None, typer.Option("--shadow/--no-shadow", help="mirror to the other side")
    ] = None,
    allow_user: Annotated[list[str] | None, typer.Option(help="add to allow_users (repeat)")] = None,
    allow_aggregate: Annotated[list[str] | None, typer.Option(help="add to allow_aggregates")] = None,
    allow_prefix: Annotated[list[str] | None, typer.Option(help="add to allow_prefixes")] = None,
    deny_user: Annotated[list[str] | None, typer.Option(help="add to deny_users")] = None,
    deny_aggregate: Annotated[list[str] | None, typer.Option(help="add to deny_aggregates")] = None,
    deny_prefix: Annotated[list[str] | None, typer.Option(help="add to deny_prefixes")] = None,
    remove: Annotated[
        list[str] | None, typer.Option(help="LIST=VALUE to remove, e.g. allow_users=u-1")
    ] = None,
    clear: Annotated[list[str] | None, typer.Option(help="empty a list, e.g. deny_prefixes")] = None,
    file: Annotated[
        Path | None, typer.Option(help="a whole config as JSON (the metadata fields are set here)")
    ] = None,
    by: By = None,
    wait: Wait = False,
    timeout: Timeout = 10.0,
) -> None:
    """Change the config of a context; refused (nothing written) if the result is invalid."""
    document = None
    if file is not None:
        try:
            document = json.loads(file.read_text(), parse_float=Decimal)
        except (OSError, ValueError) as exc:
            err_console.print(f"[red]refused: cannot read {file} as JSON: {exc}[/]")
            raise typer.Exit(2) from None
    add = {
        "allow_users": allow_user or [],
        "allow_aggregates": allow_aggregate or [],
        "allow_prefixes": allow_prefix or [],
        "deny_users": deny_user or [],
        "deny_aggregates": deny_aggregate or [],
        "deny_prefixes": deny_prefix or [],
    }
    if "" in add["allow_prefixes"] or "" in add["deny_prefixes"]:
        err_console.print("[yellow]warning: an empty prefix matches every aggregate[/]")
    try:
        update = build_update(
            mode=mode,
            percent=percent,
            shadow=shadow,
            add=add,
            remove=_pairs(remove, "--remove"),
            clear=clear or [],
            document=document,
        )
    except RolloutError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    _write(ctx, context, update, by=by, reason=reason, action="set", wait=wait, timeout=timeout)


@app.command()
def kill(ctx: typer.Context, context: Context, reason: Reason, by: By = None, wait: Wait = False,
         timeout: Timeout = 10.0) -> None:  # fmt: skip
    """Emergency: primary legacy for every aggregate legacy can serve, at once."""
    _write(
        ctx, context, {"kill_switch": True}, by=by, reason=reason, action="kill", wait=wait, timeout=timeout
    )


@app.command()
def unkill(ctx: typer.Context, context: Context, reason: Reason, by: By = None, wait: Wait = False,
           timeout: Timeout = 10.0) -> None:  # fmt: skip
    """Turn the kill switch off again (the guard never does this by itself)."""
    _write(
        ctx,
        context,
        {"kill_switch": False},
        by=by,
        reason=reason,
        action="unkill",
        wait=wait,
        timeout=timeout,
    )


@app.command()
def show(
    ctx: typer.Context,
    context: Annotated[str | None, typer.Argument(help="game | campaign (default: both)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The config each context has (and which router replicas apply which revision)."""
    contexts = [context] if context else list(CONTEXTS)

    async def work(nc: Client) -> tuple[list[Stored], dict[str, dict[str, Any]]]:
        js = nc.jetstream()
        await js.key_value(ROLLOUT_BUCKET)  # the bucket must exist (else: run `parallax init`)
        defaults = env_defaults()
        return [await read_stored(js, check_context(c), defaults) for c in contexts], await router_beats(nc)

    stored_list, beats = _run(_nats_url(ctx), work)
    if as_json:
        out = {
            s.context: {
                "revision": s.revision,
                "config": config_to_json(s.config),
                "source": "environment defaults" if s.from_defaults else "kv",
                "ignored_invalid_revision": s.invalid_revision,
            }
            for s in stored_list
        }
        typer.echo(json.dumps({"contexts": out, "routers": beats}, indent=2, default=str))
        return
    for stored in stored_list:
        config = stored.config
        source = f"revision {stored.revision}"
        if stored.from_defaults:
            source = f"environment defaults ({stored.source})"
        table = Table(title=f"{stored.context}: {source}")
        table.add_column("field")
        table.add_column("value")
        data = config_to_json(config)
        for name, value in data.items():
            style = "bold red" if name == "kill_switch" and value else None
            table.add_row(name, Text(_fmt(value), style=style or ""))
        console.print(table)
        if stored.invalid_revision is not None:
            console.print(
                f"[yellow]revision {stored.invalid_revision} is invalid and ignored by the routers: "
                + "; ".join(stored.invalid_problems)
                + "[/]"
            )
    routers = Table(title="router replicas (heartbeats)")
    routers.add_column("replica")
    for c in contexts:
        routers.add_column(f"{c} revision", justify="right")
    routers.add_column("last beat")
    for replica, beat in sorted(beats.items()):
        revs = beat.get("revisions") or {}
        routers.add_row(replica, *(str(revs.get(c, "?")) for c in contexts), str(beat.get("at", "?")))
    if not beats:
        routers.add_row("(none alive)", *("" for _ in contexts), "")
    console.print(routers)


@app.command("explain")
def explain_(
    ctx: typer.Context,
    context: Context,
    aggregate: Annotated[str, typer.Argument(help="aggregate id (room id, campaign UUID)")],
    command_type: Annotated[str | None, typer.Option("--type", help="explain this command type")] = None,
    actor: Annotated[str | None, typer.Option(help="actor of that command")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Where the next command of an aggregate goes, and why."""

    async def work(nc: Client) -> Any:
        return await explain_aggregate(nc, context, aggregate, command_type=command_type, actor=actor)

    explanation = _run(_nats_url(ctx), work)
    if as_json:
        typer.echo(json.dumps(explanation.to_json(), indent=2))
        return
    d = explanation.decision
    head = Text()
    head.append(f"{context}/{aggregate}: primary ")
    head.append(d.primary, style="bold green" if d.primary == "domain" else "bold cyan")
    head.append(f", shadow {d.shadow or 'none'}, rule ")
    head.append(d.rule, style="bold yellow" if d.pinned else "bold")
    if d.not_rollbackable:
        head.append("  NOT ROLLBACKABLE", style="bold red")
    body = Text("\n".join(explanation.lines[1:]))
    console.print(Panel(body, title=head, title_align="left"))


@app.command()
def history(
    ctx: typer.Context,
    context: Annotated[str | None, typer.Argument(help="game | campaign (default: both)")] = None,
    limit: Annotated[int, typer.Option(help="the last N changes")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The audit trail of rollout changes (who, when, why, what)."""

    async def work(nc: Client) -> list[dict[str, Any]]:
        return await read_history(nc, context, limit)

    entries = _run(_nats_url(ctx), work)
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    table = Table(title="rollout changes" + (f" of {context}" if context else ""))
    for column in ("at", "context", "rev", "action", "by", "reason", "change"):
        table.add_column(column, justify="right" if column == "rev" else "left")
    for entry in entries:
        table.add_row(
            str(entry.get("at", "")),
            str(entry.get("context", "")),
            str(entry.get("revision", "")),
            str(entry.get("action", "")),
            str(entry.get("by", "")),
            str(entry.get("reason", "")),
            _diff_text(entry.get("diff") or {}),
        )
    if not entries:
        table.add_row("(no changes recorded)", "", "", "", "", "", "")
    console.print(table)
