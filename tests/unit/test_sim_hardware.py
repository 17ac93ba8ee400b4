"""Sensors and gateways: statuses after a delay, heartbeats, startups, frame counters, outages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from sensors_sim.demand import DAY_MS, HOUR_MS, Changes, Demand
from sensors_sim.hardware import (
    DETECTION_MS,
    HEARTBEAT,
    NATIVE,
    RESYNC,
    STARTUP,
    STATUS,
    GatewayEvent,
    Hardware,
    Uplinks,
)
from sensors_sim.registry import Registry
from tests.unit.simcity import codec_city, generated_city

STEP_MS = 60_000


def simulate(
    registry: Registry,
    lot_format: npt.NDArray[np.int64],
    hours: float,
    flap: float = 0.0,
) -> tuple[Uplinks, list[Changes], list[GatewayEvent], Hardware]:
    start = DAY_MS
    demand = Demand(registry, 5, 0)
    demand.advance(start)
    hardware = Hardware(registry, lot_format, 5, flap)
    parts = [hardware.start(demand.occupied, start)]
    changes: list[Changes] = []
    events: list[GatewayEvent] = []
    for until in range(start + STEP_MS, start + int(hours * HOUR_MS) + 1, STEP_MS):
        changed = demand.advance(until)
        uplinks, gateway = hardware.step(changed, demand.next_change, demand.occupied, until)
        parts.append(uplinks)
        changes.append(changed)
        events += gateway
    return Uplinks.concat(parts), changes, events, hardware


@pytest.fixture(scope="module")
def sensors(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, Uplinks, list[Changes]]:
    """LoRaWAN-style sensors only (no gateways), one lot per codec, a 1 h heartbeat, 30 h."""
    _, registry = codec_city(tmp_path_factory.mktemp("hw"), capacity=20, heartbeat_s=3600)
    uplinks, changes, events, _ = simulate(registry, np.full(len(registry.lot_ids), 2), 30)
    assert not events
    return registry, uplinks, changes


def by_berth(uplinks: Uplinks) -> Uplinks:
    return uplinks.take(np.lexsort((uplinks.seq, uplinks.berth)))


def test_every_berth_starts_with_one_report(tmp_path: Path) -> None:
    _, registry = generated_city(tmp_path, lots=10, berths=500)
    fmt = np.array([NATIVE, 1] * 5)
    demand = Demand(registry, 1, 0)
    started = Hardware(registry, fmt, 1, 0.0).start(demand.occupied, DAY_MS)
    assert sorted(started.berth.tolist()) == list(range(500))
    assert np.array_equal(started.occupied, demand.occupied[started.berth])
    gateway = fmt[registry.lot_of_berths()[started.berth]] == NATIVE
    assert set(started.kind[gateway].tolist()) == {RESYNC}
    assert set(started.kind[~gateway].tolist()) == {STARTUP}
    assert set(started.seq.tolist()) == {0}
    assert set(started.fcnt.tolist()) == {0}


def test_a_status_follows_every_change_after_the_detection_delay(
    sensors: tuple[Registry, Uplinks, list[Changes]],
) -> None:
    _, uplinks, changes = sensors
    status = uplinks.take(uplinks.kind == STATUS)
    status = status.take(np.lexsort((status.ts, status.berth)))
    berth, at, occupied = (
        np.concatenate([getattr(c, f) for c in changes]) for f in ("berth", "at", "occupied")
    )
    order = np.lexsort((at, berth))
    assert np.array_equal(status.berth, berth[order])  # one status per change, no more
    assert np.array_equal(status.occupied, occupied[order])
    delay = status.ts - at[order]
    assert DETECTION_MS[0] <= delay.min()
    assert delay.max() < DETECTION_MS[1]
    per_berth = {b: d for b, d in zip(status.berth.tolist(), delay.tolist(), strict=True)}
    assert all(per_berth[b] == d for b, d in zip(status.berth.tolist(), delay.tolist(), strict=True))


def test_no_berth_is_silent_longer_than_its_heartbeat(
    sensors: tuple[Registry, Uplinks, list[Changes]],
) -> None:
    _, uplinks, _ = sensors
    up = by_berth(uplinks)
    same = up.berth[1:] == up.berth[:-1]
    gaps = (up.ts[1:] - up.ts[:-1])[same]
    assert gaps.max() <= 3_600_000
    assert (up.kind == HEARTBEAT).sum() > 0


def test_numbering_and_frame_counters(sensors: tuple[Registry, Uplinks, list[Changes]]) -> None:
    _, uplinks, _ = sensors
    up = by_berth(uplinks)
    same = up.berth[1:] == up.berth[:-1]
    assert np.all((up.seq[1:] - up.seq[:-1])[same] == 1)
    assert np.all(up.ts[1:][same] >= up.ts[:-1][same])
    restarted = up.kind[1:] == STARTUP
    assert restarted[same].any()  # reboots happen
    assert np.all(up.fcnt[1:][same & restarted] == 0)
    assert np.all((up.fcnt[1:] - up.fcnt[:-1])[same & ~restarted] == 1)
    assert np.all(up.deliver > up.ts)


def test_sensors_end_reporting_the_true_state(sensors: tuple[Registry, Uplinks, list[Changes]]) -> None:
    registry, uplinks, changes = sensors
    up = by_berth(uplinks)
    last = np.ones(len(up), dtype=bool)
    last[:-1] = up.berth[1:] != up.berth[:-1]
    final = np.zeros(registry.berths, dtype=bool)
    final[up.berth[last]] = up.occupied[last]
    truth = np.zeros(registry.berths, dtype=bool)
    start = Demand(registry, 5, 0)
    start.advance(DAY_MS)
    truth[:] = start.occupied
    for part in changes:
        order = np.argsort(part.at, kind="stable")
        truth[part.berth[order]] = part.occupied[order]
    changed_at_the_end = np.zeros(registry.berths, dtype=bool)
    changed_at_the_end[changes[-1].berth] = True  # their status may still be on its way
    assert np.array_equal(final[~changed_at_the_end], truth[~changed_at_the_end])


def test_flaps_bounce_back_to_the_new_state(tmp_path: Path) -> None:
    _, registry = codec_city(tmp_path, capacity=20)
    calm, _, _, _ = simulate(registry, np.full(len(registry.lot_ids), 2), 12)
    flappy, _, _, hardware = simulate(registry, np.full(len(registry.lot_ids), 2), 12, flap=0.2)
    assert hardware.flaps > 0
    extra = (flappy.kind == STATUS).sum() - (calm.kind == STATUS).sum()
    assert extra == 2 * hardware.flaps


def test_gateways_hold_reports_while_off_the_broker_and_resend_their_lot(tmp_path: Path) -> None:
    _, registry = generated_city(tmp_path, lots=20, berths=1_000)
    uplinks, _, events, hardware = simulate(registry, np.full(20, NATIVE), 96)
    assert hardware.outages.sum() > 0
    lot = registry.lot_of_berths()[uplinks.berth]
    checked = held = 0
    for gateway in sorted({e.lot for e in events}):
        mine = [e for e in events if e.lot == gateway]
        for down, up in zip(mine[::2], mine[1::2], strict=False):  # a last outage may still be on
            assert (down.online, up.online) == (False, True)
            assert down.at < up.at
            ours = lot == gateway
            # Nothing reaches the broker while the gateway is away; what it saw meanwhile comes after.
            assert not np.any(ours & (uplinks.deliver >= down.at) & (uplinks.deliver < up.at))
            seen = ours & (uplinks.ts >= down.at) & (uplinks.ts < up.at)
            assert np.all(uplinks.deliver[seen] >= up.at)
            held += int(seen.sum())
            resent = ours & (uplinks.kind == RESYNC) & (uplinks.ts == up.at)
            assert resent.sum() == registry.capacity[gateway]
            checked += 1
    assert checked == hardware.outages.sum()
    assert held > 0
