"""NATS subject builders. Every token that came from outside is checked before it is used."""

from __future__ import annotations

from typing import get_args

from parallax_contracts.comparisons import ComparisonResult
from parallax_contracts.envelopes import IMPLS, Impl
from parallax_contracts.ids import is_aggregate_id, is_context

PREFIX = "parallax"
INGRESS_ALL = f"{PREFIX}.ingress.>"
HANDLE_ALL = f"{PREFIX}.handle.>"
ROUTED_ALL = f"{PREFIX}.routed.>"
EVENTS_ALL = f"{PREFIX}.events.>"
COMPARISONS_ALL = f"{PREFIX}.comparisons.>"
AUDIT_ALL = f"{PREFIX}.audit.>"

COMPARISON_RESULTS: frozenset[str] = frozenset(get_args(ComparisonResult))
# The token of a comparison's context or result that cannot be a subject token.
UNKNOWN = "unknown"


class UnsafeSubjectToken(ValueError):
    """A value that must not become part of a subject (wrong id format, wildcard, dot...)."""


def _checked(context: str, aggregate_id: str) -> tuple[str, str]:
    if not is_context(context):
        raise UnsafeSubjectToken(f"unknown context {context!r}")
    if not is_aggregate_id(context, aggregate_id):
        raise UnsafeSubjectToken(f"{aggregate_id!r} is not a {context} aggregate id")
    return context, aggregate_id


def ingress(context: str, aggregate_id: str) -> str:
    ctx, agg = _checked(context, aggregate_id)
    return f"{PREFIX}.ingress.{ctx}.{agg}"


def handle(impl: Impl, context: str, aggregate_id: str) -> str:
    ctx, agg = _checked(context, aggregate_id)
    return f"{PREFIX}.handle.{impl}.{ctx}.{agg}"


def handle_all(impl: Impl) -> str:
    return f"{PREFIX}.handle.{impl}.>"


def routed(context: str, aggregate_id: str) -> str:
    ctx, agg = _checked(context, aggregate_id)
    return f"{PREFIX}.routed.{ctx}.{agg}"


def events(impl: Impl, context: str, aggregate_id: str) -> str:
    ctx, agg = _checked(context, aggregate_id)
    return f"{PREFIX}.events.{impl}.{ctx}.{agg}"


def comparisons(context: str, result: str) -> str:
    """Where the comparator publishes a comparison. Never raises: a context (or result) that
    cannot be a subject token, such as a record's `unknown` context, is written `unknown`, so
    every stored comparison has a subject and none has a bad one."""
    ctx = context if is_context(context) else UNKNOWN
    res = result if result in COMPARISON_RESULTS else UNKNOWN
    return f"{PREFIX}.comparisons.{ctx}.{res}"


def alerts(context: str) -> str:
    if not is_context(context):
        raise UnsafeSubjectToken(f"unknown context {context!r}")
    return f"{PREFIX}.alerts.{context}"


def audit(context: str) -> str:
    if not is_context(context):
        raise UnsafeSubjectToken(f"unknown context {context!r}")
    return f"{PREFIX}.audit.rollout.{context}"


def events_unroutable(impl: Impl) -> str:
    """Where a handler answers a command whose context or aggregate id is no subject token."""
    return f"{PREFIX}.events.{_impl(impl)}.unroutable"


# The subjects above as address templates, one `{name}` per variable token: the channels of the
# publishers each service declares in its AsyncAPI document (docs/asyncapi/). Never published to.
INGRESS_TEMPLATE = f"{PREFIX}.ingress.{{context}}.{{aggregate_id}}"
ROUTED_TEMPLATE = f"{PREFIX}.routed.{{context}}.{{aggregate_id}}"
ALERTS_TEMPLATE = f"{PREFIX}.alerts.{{context}}"
AUDIT_TEMPLATE = f"{PREFIX}.audit.rollout.{{context}}"
COMPARISONS_TEMPLATE = f"{PREFIX}.comparisons.{{context}}.{{result}}"


def handle_template(impl: Impl) -> str:
    return f"{PREFIX}.handle.{impl}.{{context}}.{{aggregate_id}}"


def events_template(impl: Impl) -> str:
    return f"{PREFIX}.events.{impl}.{{context}}.{{aggregate_id}}"


# Partitions (docs/scaling.md). The INGRESS and HANDLE streams store every message under the
# subject it was published to plus one trailing token, its partition: the server computes it with
# the subject transform `partition(PARTITIONS, <ctx>, <agg>)` (topology.py), so the commands of
# one aggregate always land in one partition. Publishers keep using the subjects above; consumers
# filter one partition each (one durable consumer per partition, one message in flight). The
# number is part of the stored subjects: change it only on drained streams.
# 32, not more: nats-server rewrites a file consumer's state file up to ten times a second while it
# is busy, so the server's cost grows with the number of active consumers (three per partition),
# and 128 partitions spent most of the server's CPU there under load (docs/performance.md).
# 32 still lets a service run up to 32 replicas, and no single replica ran faster with more.
PARTITIONS = 32


def ingress_partition(partition: int) -> str:
    """The filter of one INGRESS partition: `parallax.ingress.*.*.<p>`."""
    return f"{PREFIX}.ingress.*.*.{_partition(partition)}"


def handle_partition(impl: Impl, partition: int) -> str:
    """The filter of one HANDLE partition of an implementation: `parallax.handle.<impl>.*.*.<p>`."""
    return f"{PREFIX}.handle.{_impl(impl)}.*.*.{_partition(partition)}"


def _impl(impl: str) -> str:
    if impl not in IMPLS:
        raise UnsafeSubjectToken(f"unknown implementation {impl!r}")
    return impl


def _partition(partition: int) -> int:
    if not isinstance(partition, int) or isinstance(partition, bool) or not 0 <= partition < PARTITIONS:
        raise UnsafeSubjectToken(f"partition must be in 0..{PARTITIONS - 1}, got {partition!r}")
    return partition


# Headers
MSG_ID = "Nats-Msg-Id"
ROLE = "Parallax-Role"
