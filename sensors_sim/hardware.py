"""Sensors and gateways: how true berth changes become uplinks (refs/sensor-formats.md 1 and 3).

- A status on every change, after the sensor's detection delay (a few seconds, constant per device).
- A heartbeat repeating the state when nothing changed for one period (the lot's `heartbeat_s`).
- A startup message, with the state and the frame counter back at 0, after each reboot or rejoin.
- Flapping: now and then a sensor reports the old state again for a few seconds, then the new one.
- Gateways (lots in the native format) batch what their sensors report and send it every 1 to 5 s;
  now and then one drops off the broker (its Last Will marks the lot offline), keeps what it
  gathers, and on reconnect sends it together with the whole lot's state.
- LoRaWAN uplinks reach the broker a fraction of a second after the network received them.
"""

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Self

import numpy as np
import numpy.typing as npt

from sensors_sim.demand import DAY_MS, Changes
from sensors_sim.rand import Stream
from sensors_sim.registry import Registry

STATUS, HEARTBEAT, STARTUP, RESYNC = 0, 1, 2, 3
NATIVE, PER_BERTH, TTS, CHIRPSTACK = 0, 1, 2, 3
NEVER = np.iinfo(np.int64).max // 2

DETECTION_MS = (2_000, 10_000)  # per device, constant
REBOOT_EVERY_MS = 30 * DAY_MS  # mean time between reboots of one sensor
STARTUP_SPREAD_MS = 60_000  # the first reports of a run come within this
FLAP_MS = (5_000, 40_000)  # how long a flap shows the wrong state
BATCH_WINDOW_MS = (1_000, 5_000)  # gateway batching window, per lot
OUTAGE_EVERY_MS = 3 * DAY_MS  # mean time between gateway outages
OUTAGE_MEDIAN_MS, OUTAGE_SIGMA = 180_000, 1.0  # log-normal outage length, clipped to 30 s .. 2 h
NETWORK_MS = (200, 1_500)  # LoRaWAN network server to broker
DIRECT_MS = (20, 300)  # single sensor to broker

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Uplinks:
    """Sensor reports: global berth, state, time (sim ms), kind, and what the encoders need."""

    berth: IntArray
    occupied: BoolArray
    ts: IntArray  # observed (gateway lots) or received by the network (LoRaWAN)
    kind: IntArray
    prev_ms: IntArray  # statuses: how long the previously reported state lasted
    seq: IntArray  # the berth's uplink number: (berth, seq) is unique
    fcnt: IntArray  # LoRaWAN frame counter, 0 after a (re)join
    deliver: IntArray  # when it reaches the broker (sim ms)

    @classmethod
    def of(
        cls, berth: IntArray, occupied: BoolArray, ts: IntArray, kind: int, prev_ms: IntArray | None = None
    ) -> Self:
        zeros = np.zeros(len(berth), dtype=np.int64)
        return cls(
            berth,
            occupied,
            ts,
            np.full(len(berth), kind),
            zeros if prev_ms is None else prev_ms,
            zeros,
            zeros,
            zeros,
        )

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        if not parts:
            return cls.of(
                np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64), STATUS
            )
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.berth)

    def take(self, index: IntArray | BoolArray) -> Self:
        return replace(self, **{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    lot: int
    at: int  # sim ms
    online: bool


Maker = Callable[[IntArray, IntArray], Uplinks]


class Hardware:
    def __init__(self, registry: Registry, lot_format: IntArray, seed: int, flap_rate: float) -> None:
        self.lot = registry.lot_of_berths()
        self._offsets = registry.offsets
        self._capacity = registry.capacity
        n = len(self.lot)
        every = np.arange(n, dtype=np.int64)
        self._period = registry.heartbeat_s[self.lot] * 1000
        self._delay = Stream(seed, "detection").between(*DETECTION_MS, every).astype(np.int64)
        self._format = lot_format
        self._sensor = lot_format[self.lot] != NATIVE
        self._flap_rate = flap_rate
        self.flaps = 0
        self._draw = {name: Stream(seed, name) for name in ("beat", "reboot", "flap", "deliver", "outage")}
        window = Stream(seed, "window").between(*BATCH_WINDOW_MS, np.arange(len(lot_format)))
        self._window = window.astype(np.int64)
        self._reported = np.zeros(n, dtype=bool)
        self._since = np.zeros(n, dtype=np.int64)
        self._next_beat = np.full(n, NEVER, dtype=np.int64)
        self._next_reboot = np.full(n, NEVER, dtype=np.int64)
        self._reboots = np.zeros(n, dtype=np.int64)
        self._uplinks = np.zeros(n, dtype=np.int64)
        self._fcnt = np.zeros(n, dtype=np.int64)
        # Per lot, the gateway's current or next outage; lots without a gateway never go down.
        self.outages = np.zeros(len(lot_format), dtype=np.int64)
        self._down = np.full(len(lot_format), NEVER, dtype=np.int64)
        self._up = np.full(len(lot_format), NEVER, dtype=np.int64)
        self._offline = np.zeros(len(lot_format), dtype=bool)
        self._ended: list[tuple[int, int, int]] = []  # outages over in this step: (lot, down, up)

    def start(self, occupied: BoolArray, at_ms: int) -> Uplinks:
        """Every berth reports once: sensors start up, gateways send their whole lot."""
        every = np.arange(len(self.lot), dtype=np.int64)
        self._reported[:] = occupied
        self._since[:] = at_ms
        ts = at_ms + (self._draw["beat"].uniform(every, -1) * STARTUP_SPREAD_MS).astype(np.int64)
        sensors, gateways = np.flatnonzero(self._sensor), np.flatnonzero(self._format == NATIVE)
        self._next_reboot[sensors] = at_ms + self._reboot_gap(sensors)
        self._down[gateways] = at_ms + self._outage_gap(gateways)
        self._up[gateways] = self._down[gateways] + self._outage_length(gateways)
        started = Uplinks.of(sensors, occupied[sensors], ts[sensors], STARTUP)
        resync = np.flatnonzero(~self._sensor)
        return self._finish(
            Uplinks.concat([started, Uplinks.of(resync, occupied[resync], ts[resync], RESYNC)])
        )

    def step(
        self, changes: Changes, next_change: IntArray, occupied: BoolArray, until_ms: int
    ) -> tuple[Uplinks, list[GatewayEvent]]:
        """The uplinks caused by `changes` and by the clock reaching `until_ms`.

        `next_change` and `occupied` are the demand's, after `changes`.
        """
        first_status = np.full(len(self.lot), NEVER, dtype=np.int64)
        np.minimum.at(first_status, changes.berth, changes.at + self._delay[changes.berth])
        # Up to a berth's first status here (its first change, once detected), the sensor may
        # restart, then send heartbeats until the first uplink that restarts the period. Each
        # report carries the state its sensor or gateway had at its time, however the simulated
        # time is cut into steps.
        quiet = np.minimum(first_status - 1, until_ms)
        self._ended = []
        started = self._due(self._next_reboot, quiet, self._reboot)
        np.minimum.at(quiet, started.berth, started.ts - 1)
        beats = self._due(self._next_beat, quiet, self._heartbeat)
        statuses = self._statuses(changes, next_change)
        gateway_events, resyncs = self._gateways(until_ms, changes, occupied)
        return self._finish(Uplinks.concat([started, beats, statuses, *resyncs])), gateway_events

    # -- the reports --------------------------------------------------------------------------

    def _statuses(self, changes: Changes, next_change: IntArray) -> Uplinks:
        order = np.lexsort((changes.at, changes.berth))
        berth, occupied, number = changes.berth[order], changes.occupied[order], changes.number[order]
        ts = changes.at[order] + self._delay[berth]
        same_as_next = np.zeros(len(berth), dtype=bool)
        same_as_next[:-1] = berth[1:] == berth[:-1]
        same_as_prev = np.roll(same_as_next, 1)
        prev = np.where(same_as_prev, np.append(0, ts[:-1]), self._since[berth])
        statuses = Uplinks.of(berth, occupied, ts, STATUS, ts - prev)
        last = ~same_as_next
        self._reported[berth[last]] = occupied[last]
        self._since[berth[last]] = ts[last]
        if not self._flap_rate or not len(berth):
            return statuses
        # A flap: right after a status, the old state for a few seconds, then the new one again;
        # only where it ends well before the berth's next real status.
        following = np.where(same_as_next, np.append(ts[1:], 0), next_change[berth] + self._delay[berth])
        flap = self._draw["flap"]
        back = ts + flap.between(*FLAP_MS, berth, number).astype(np.int64)
        again = back + flap.between(*FLAP_MS, berth, number, salt=1).astype(np.int64)
        pick = np.flatnonzero(
            (flap.uniform(berth, number, salt=2) < self._flap_rate) & (again + 1_000 < following)
        )
        self.flaps += len(pick)
        bounce = Uplinks.of(
            np.repeat(berth[pick], 2),
            np.stack((~occupied[pick], occupied[pick]), axis=1).ravel(),
            np.stack((back[pick], again[pick]), axis=1).ravel(),
            STATUS,
            np.stack((back[pick] - ts[pick], again[pick] - back[pick]), axis=1).ravel(),
        )
        return Uplinks.concat([statuses, bounce])

    @staticmethod
    def _due(schedule: IntArray, until_ms: IntArray | int, make: Maker) -> Uplinks:
        """Everything `schedule` has due by `until_ms`; `make` reports it and moves the schedule on."""
        limit = np.broadcast_to(until_ms, schedule.shape)
        parts = []
        due = np.flatnonzero(schedule <= limit)
        while len(due):
            parts.append(make(due, schedule[due].copy()))
            due = due[schedule[due] <= limit[due]]
        return Uplinks.concat(parts)

    def _heartbeat(self, berths: IntArray, at: IntArray) -> Uplinks:
        jitter = self._draw["beat"].between(0.9, 1.0, berths, at)
        self._next_beat[berths] = at + (self._period[berths] * jitter).astype(np.int64)
        return Uplinks.of(berths, self._reported[berths], at, HEARTBEAT)

    def _reboot(self, berths: IntArray, at: IntArray) -> Uplinks:
        """Startup messages: `at` is when a rebooted sensor has rejoined and sends its first uplink."""
        self._reboots[berths] += 1
        self._next_reboot[berths] = at + self._reboot_gap(berths)
        return Uplinks.of(berths, self._reported[berths], at, STARTUP)

    def _reboot_gap(self, berths: IntArray) -> IntArray:
        gap = self._draw["reboot"].exponential(berths, self._reboots[berths]) * REBOOT_EVERY_MS
        result: IntArray = gap.astype(np.int64) + 1
        return result

    # -- gateways -----------------------------------------------------------------------------

    def _gateways(
        self, until_ms: int, changes: Changes, occupied: BoolArray
    ) -> tuple[list[GatewayEvent], list[Uplinks]]:
        """Gateways dropping off and coming back; a returning gateway resends its lot's state."""
        events: list[GatewayEvent] = []
        resyncs: list[Uplinks] = []
        while True:
            down = np.flatnonzero(~self._offline & (self._down <= until_ms))
            back = np.flatnonzero(self._offline & (self._up <= until_ms))
            if not len(down) and not len(back):
                return sorted(events, key=lambda e: (e.at, e.lot)), resyncs
            events += [GatewayEvent(lot, int(self._down[lot]), online=False) for lot in down.tolist()]
            self._offline[down] = True
            for lot in back.tolist():
                at = int(self._up[lot])
                events.append(GatewayEvent(lot, at, online=True))
                berths = np.arange(self._offsets[lot], self._offsets[lot] + self._capacity[lot])
                state = _state_at(at, berths, changes, occupied)
                resyncs.append(Uplinks.of(berths, state, np.full(len(berths), at), RESYNC))
            self._offline[back] = False
            self._ended += [(lot, int(self._down[lot]), int(self._up[lot])) for lot in back.tolist()]
            self.outages[back] += 1
            self._down[back] = self._up[back] + self._outage_gap(back)
            self._up[back] = self._down[back] + self._outage_length(back)

    def _outage_gap(self, lots: IntArray) -> IntArray:
        gap = self._draw["outage"].exponential(lots, self.outages[lots]) * OUTAGE_EVERY_MS
        result: IntArray = gap.astype(np.int64) + 1
        return result

    def _outage_length(self, lots: IntArray) -> IntArray:
        z = self._draw["outage"].normal(lots, self.outages[lots], salt=1)
        length = np.clip(OUTAGE_MEDIAN_MS * np.exp(OUTAGE_SIGMA * z), 30_000, 7_200_000)
        result: IntArray = length.astype(np.int64)
        return result

    # -- numbering and delivery ---------------------------------------------------------------

    def _finish(self, uplinks: Uplinks) -> Uplinks:
        """Sort by berth and time, number the uplinks, restart the heartbeat period, schedule delivery."""
        up = uplinks.take(np.lexsort((uplinks.ts, uplinks.berth)))
        berth = up.berth
        n = len(up)
        first = np.ones(n, dtype=bool)
        first[1:] = berth[1:] != berth[:-1]
        last = np.roll(first, -1)  # the last uplink of each berth
        index = np.arange(n, dtype=np.int64)
        seq = self._uplinks[berth] + index - np.maximum.accumulate(np.where(first, index, 0))
        # The frame counter restarts at 0 with a startup message, else continues from the last one.
        restart = up.kind == STARTUP
        segment = np.maximum.accumulate(np.where(first | restart, index, 0))
        fcnt = np.where(restart[segment], 0, self._fcnt[berth]) + index - segment
        self._uplinks[berth[last]] = seq[last] + 1
        self._fcnt[berth[last]] = fcnt[last] + 1
        jitter = self._draw["beat"].between(0.9, 1.0, berth[last], seq[last], salt=1)
        self._next_beat[berth[last]] = up.ts[last] + (self._period[berth[last]] * jitter).astype(np.int64)
        return replace(up, seq=seq, fcnt=fcnt, deliver=self._deliver(up.ts, berth, seq))

    def _deliver(self, ts: IntArray, berth: IntArray, seq: IntArray) -> IntArray:
        lot = self.lot[berth]
        fmt = self._format[lot]
        window = self._window[lot]
        flush = -(-ts // window) * window  # a gateway sends at the end of each window
        spread = self._draw["deliver"].uniform(berth, seq)
        network = ts + (NETWORK_MS[0] + spread * (NETWORK_MS[1] - NETWORK_MS[0])).astype(np.int64)
        direct = ts + (DIRECT_MS[0] + spread * (DIRECT_MS[1] - DIRECT_MS[0])).astype(np.int64)
        deliver = np.select([fmt == NATIVE, fmt == PER_BERTH], [flush, direct], network)
        # A gateway that is off the broker keeps what it gathers and sends it when it is back.
        held = (deliver >= self._down[lot]) & (deliver < self._up[lot])
        result: IntArray = np.where(held, self._up[lot], deliver)
        for gateway, down, up in self._ended:
            result[(lot == gateway) & (result >= down) & (result < up)] = up
        return result


def _state_at(at_ms: int, berths: IntArray, changes: Changes, occupied: BoolArray) -> BoolArray:
    """The true state of consecutive `berths` at `at_ms`, from the state now and the changes since."""
    state = occupied[berths].copy()
    later = np.flatnonzero(
        (changes.berth >= berths[0]) & (changes.berth <= berths[-1]) & (changes.at > at_ms)
    )
    # Each berth's earliest change after `at_ms` tells what it was before: the opposite.
    order = later[np.lexsort((changes.at[later], changes.berth[later]))]
    _, first = np.unique(changes.berth[order], return_index=True)
    earliest = order[first]
    state[changes.berth[earliest] - berths[0]] = ~changes.occupied[earliest]
    return state
