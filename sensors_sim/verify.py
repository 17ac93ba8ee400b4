"""`sensors-sim verify`: does the hub's state (over HTTP) match what the simulator delivered?

Expected state, per berth, from the truth file and the contract: the greatest delivered report
wins; a berth is unknown when nothing was delivered for it, when its report is older than
`3 * heartbeat_s`, or while its lot is offline. Near the staleness boundary (within `margin`)
either answer is accepted, since the hub and the simulator read their clocks at different moments.

Compared per lot: `free`, `occupied`, `unknown` and online from `GET /v1/lots/{id}`, the same
counts per feature, and the hub's first free car berths (`free_berths` of `GET /v1/nearest` at the
lot's first entrance, or its point, asking for lots open or closed, of any access) against the car
berths the truth says are free.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sensors_sim.hubapi import Hub
from sensors_sim.registry import FEATURES, Registry
from sensors_sim.truth import Truth

CONCURRENCY = 16
ALL_ACCESS = "public,customers,residents,permit"  # every lot, whoever it is for
FREE_BERTHS_SHOWN = 10  # the hub lists up to this many free berths per lot
POLL_S = 0.5
DIFF_LINES = 25

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Span:
    """A count the hub may report: anything in [low, high]."""

    low: int
    high: int

    def holds(self, value: object) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}..{self.high}"


class Expectation:
    """What the hub should answer at wall time `now_ms`, berth by berth."""

    def __init__(self, registry: Registry, truth: Truth, now_ms: int, margin_ms: int) -> None:
        lot = registry.lot_of_berths()
        offline = (truth.status > 0) & (truth.status % 2 == 0)
        stale_ms = registry.heartbeat_s[lot] * 3000
        age = now_ms - (truth.rank >> 1)
        reported = (truth.rank > 0) & ~offline[lot]
        self.sure = reported & (age < stale_ms - margin_ms)
        self.maybe = reported & ~self.sure & (age <= stale_ms + margin_ms)
        self.occupied = (truth.rank & 1) == 1
        self.online = ~offline
        self._offsets = registry.offsets
        self._capacity = registry.capacity
        self._features = registry.features
        self._car = registry.car

    def counts(self, lot: int, feature: str | None = None) -> dict[str, Span]:
        span = slice(int(self._offsets[lot]), int(self._offsets[lot] + self._capacity[lot]))
        pick = (
            np.ones(span.stop - span.start, dtype=bool) if feature is None else self._features[feature][span]
        )
        sure, maybe, occupied = self.sure[span] & pick, self.maybe[span] & pick, self.occupied[span]
        free_sure, occ_sure = int((sure & ~occupied).sum()), int((sure & occupied).sum())
        free_maybe, occ_maybe = int((maybe & ~occupied).sum()), int((maybe & occupied).sum())
        unknown_sure = int(pick.sum()) - free_sure - occ_sure - free_maybe - occ_maybe
        return {
            "free": Span(free_sure, free_sure + free_maybe),
            "occupied": Span(occ_sure, occ_sure + occ_maybe),
            "unknown": Span(unknown_sure, unknown_sure + free_maybe + occ_maybe),
        }

    def free_berths(self, lot: int) -> list[int] | None:
        """The first free car berths, when no berth of the lot is near the staleness boundary."""
        span = slice(int(self._offsets[lot]), int(self._offsets[lot] + self._capacity[lot]))
        if self.maybe[span].any():
            return None
        free = self.sure[span] & ~self.occupied[span] & self._car[span]
        result: list[int] = np.flatnonzero(free)[:FREE_BERTHS_SHOWN].tolist()
        return result


def lot_differences(
    expect: Expectation, lot: int, lot_id: str, body: dict[str, Any], nearest: Any
) -> list[str]:
    """What the hub got wrong about one lot, one line per count."""
    out = []
    for name, span in expect.counts(lot).items():
        if not span.holds(body.get(name)):
            out.append(f"{lot_id}: {name}: hub {body.get(name)}, expected {span}")
    if body.get("online") is not bool(expect.online[lot]):
        out.append(f"{lot_id}: online: hub {body.get('online')}, expected {bool(expect.online[lot])}")
    features = body.get("features") or {}
    for feature in FEATURES:
        for name, span in expect.counts(lot, feature).items():
            value = (features.get(feature) or {}).get(name)
            if not span.holds(value):
                out.append(f"{lot_id}: {feature}.{name}: hub {value}, expected {span}")
    wanted = expect.free_berths(lot)
    if wanted is not None and not out:
        hits = [r for r in (nearest or {}).get("results", []) if r.get("lot_id") == lot_id]
        listed = hits[0].get("free_berths") if hits else []
        if listed != wanted:
            out.append(f"{lot_id}: free_berths: hub {listed}, expected {wanted}")
    return out


async def _lot(hub: Hub, registry: Registry, lot: int, guard: asyncio.Semaphore) -> tuple[Any, Any]:
    lot_id = registry.lot_ids[lot]
    async with guard:
        body = await hub.get_ok(f"/v1/lots/{lot_id}")
        nearest = await hub.get_ok(
            "/v1/nearest",
            lat=float(registry.door_lat[lot]),
            lon=float(registry.door_lon[lot]),
            radius_m=1,
            limit=50,
            include_closed="true",
            access=ALL_ACCESS,
        )
    return body, nearest


async def differences(hub: Hub, registry: Registry, truth: Truth, margin_ms: int) -> list[str]:
    guard = asyncio.Semaphore(CONCURRENCY)
    now_ms = time.time_ns() // 1_000_000
    answers = await asyncio.gather(*(_lot(hub, registry, lot, guard) for lot in range(len(registry.lot_ids))))
    expect = Expectation(registry, truth, now_ms, margin_ms)
    out = []
    for lot, (body, nearest) in enumerate(answers):
        out += lot_differences(expect, lot, registry.lot_ids[lot], body, nearest)
    return out


async def verify(hub: Hub, registry: Registry, truth: Truth, wait_s: float, margin_ms: int) -> list[str]:
    """Differences, polling until there are none or `wait_s` passes (the hub may still be applying)."""
    deadline = time.monotonic() + wait_s
    while True:
        diff = await differences(hub, registry, truth, margin_ms)
        if not diff or time.monotonic() >= deadline:
            return diff
        await asyncio.sleep(POLL_S)


def summary_lines(
    diff: list[str], registry: Registry, truth: Truth, hub_summary: dict[str, Any]
) -> list[str]:
    lots = len({line.split(":", 1)[0] for line in diff})
    head = (
        f"delivered {truth.delivered:,} valid reports in {truth.messages:,} messages, "
        f"{truth.rejected:,} for the hub to reject; the hub counts {hub_summary.get('events_applied')} "
        f"applied and {hub_summary.get('events_rejected')} rejected in all"
    )
    if not diff:
        return [head, f"match: all {len(registry.lot_ids):,} lots, {registry.berths:,} berths"]
    shown = diff[:DIFF_LINES]
    more = [f"... and {len(diff) - len(shown)} more"] if len(diff) > len(shown) else []
    return [head, f"MISMATCH in {lots:,} of {len(registry.lot_ids):,} lots:", *shown, *more]
