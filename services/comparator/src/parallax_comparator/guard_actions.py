"""What a guard trip does: kill switch on (with the reason) in KV `parallax_rollout`, an audit
entry, an alert on `parallax.alerts.<ctx>`, `parallax_guard_trips_total{context}` + 1.

It never turns the kill switch off. A context whose kill switch is already on is left alone
(no write, no alert, not counted): the guard has nothing left to do there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.aio.client import Client
from parallax_contracts import subjects
from parallax_contracts.alerts import GuardAlert
from parallax_rollout import RolloutConfig
from prometheus_client import Counter

from parallax_comparator.guard import Trip
from parallax_comparator.rollout_io import now_utc, update_config

log = logging.getLogger("parallax.comparator.guard")

GUARD_TRIPS = Counter(
    "parallax_guard_trips_total",
    "Times the guard set a context's kill switch.",
    ["context"],
)


@dataclass(frozen=True)
class TripOutcome:
    trip: Trip
    acted: bool  # the kill switch was set by this trip
    revision: int | None


async def act_on_trip(nc: Client, trip: Trip) -> TripOutcome:
    js = nc.jetstream()

    def kill(current: RolloutConfig) -> RolloutConfig | None:
        if current.kill_switch:
            return None
        return current.model_copy(update={"kill_switch": True})

    written = await update_config(
        js,
        trip.context,
        kill,
        action="guard",
        by="guard",
        reason=trip.reason,
        extra_audit={"guard": trip.stats.to_dict()},
    )
    if written is None:
        log.info("guard: %s crossed a threshold but its kill switch is already on", trip.context)
        return TripOutcome(trip, False, None)
    _, _, revision = written
    GUARD_TRIPS.labels(trip.context).inc()
    alert = GuardAlert(
        context=trip.context,
        reason=trip.reason,
        reasons=list(trip.reasons),
        window=trip.stats.to_dict(),
        kill_switch=True,
        config_revision=revision,
        at=now_utc(),
    )
    await nc.publish(subjects.alerts(trip.context), alert.model_dump_json().encode())
    log.warning("guard tripped for %s: %s (kill switch on, revision %d)", trip.context, trip.reason, revision)
    return TripOutcome(trip, True, revision)
