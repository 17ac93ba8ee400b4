"""`run --report`: what the simulated city did, per berth and simulated day, and its occupancy by hour.

The figures to compare with refs/sensor-formats.md 3.1-3.2: about 1.6 h mean on-street stay with a
tail past 8 h; up to 20 sessions (40 status uplinks) per berth-day at the design point; 1 to 8
heartbeats per berth-day depending on the vendor.
"""

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sensors_sim.city import CODECS
from sensors_sim.demand import DAY_MS, HOUR_MS, Changes
from sensors_sim.hardware import HEARTBEAT, RESYNC, STARTUP, STATUS, Uplinks

KINDS = ("off-street", "on-street")
UPLINK_KINDS = {STATUS: "status", HEARTBEAT: "heartbeat", STARTUP: "startup", RESYNC: "gateway resync"}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(slots=True)
class Stats:
    berths_by_kind: IntArray
    codec: IntArray  # per berth, index into CODECS (-1: none)
    simulated_ms: int = 0
    changes: int = 0
    arrivals: IntArray = field(default_factory=lambda: np.zeros(2, dtype=np.int64))
    stay_hours: FloatArray = field(default_factory=lambda: np.zeros(2))
    stays_4h: IntArray = field(default_factory=lambda: np.zeros(2, dtype=np.int64))
    stays_8h: IntArray = field(default_factory=lambda: np.zeros(2, dtype=np.int64))
    uplinks: Counter[str] = field(default_factory=Counter)
    heartbeats_by_codec: IntArray = field(default_factory=lambda: np.zeros(len(CODECS) + 1, dtype=np.int64))
    messages: Counter[str] = field(default_factory=Counter)
    # Occupied berth-milliseconds and observed milliseconds, per kind and local hour.
    occupied_ms: FloatArray = field(default_factory=lambda: np.zeros((2, 24)))
    observed_ms: FloatArray = field(default_factory=lambda: np.zeros((2, 24)))

    def record_changes(self, changes: Changes, kind: IntArray) -> None:
        self.changes += len(changes)
        arriving = changes.occupied
        hours = changes.stay_ms[arriving] / HOUR_MS
        kinds = kind[changes.berth[arriving]]
        self.arrivals += np.bincount(kinds, minlength=2)
        self.stay_hours += np.bincount(kinds, hours, minlength=2)
        self.stays_4h += np.bincount(kinds[hours >= 4], minlength=2)
        self.stays_8h += np.bincount(kinds[hours >= 8], minlength=2)

    def record_uplinks(self, uplinks: Uplinks) -> None:
        for code, name in UPLINK_KINDS.items():
            self.uplinks[name] += int((uplinks.kind == code).sum())
        beats = self.codec[uplinks.berth[uplinks.kind == HEARTBEAT]]
        self.heartbeats_by_codec += np.bincount(beats, minlength=len(CODECS) + 1)

    def record_occupancy(self, occupied_by_kind: IntArray, from_ms: int, until_ms: int) -> None:
        """Time-weighted occupancy over (from_ms, until_ms], credited to the hour it ends in."""
        hour = (until_ms - 1) // HOUR_MS % 24
        span = until_ms - from_ms
        self.simulated_ms += span
        self.occupied_ms[:, hour] += occupied_by_kind * span
        self.observed_ms[:, hour] += self.berths_by_kind * span

    def lines(self, faults: Counter[str]) -> list[str]:
        days = self.simulated_ms / DAY_MS
        berth_days = max(float(self.berths_by_kind.sum()) * days, 1e-9)
        off, on = (int(b) for b in self.berths_by_kind)
        out = [
            f"simulated {self.simulated_ms / HOUR_MS:.1f} h of {off + on:,} berths ({on:,} on-street)",
            "per berth and simulated day:",
            f"  sessions (arrivals)            {self.arrivals.sum() / berth_days:8.2f}",
        ]
        for name in UPLINK_KINDS.values():
            out.append(f"  {name + ' uplinks':<30} {self.uplinks[name] / berth_days:8.2f}")
        out.append(f"  {'messages published':<30} {sum(self.messages.values()) / berth_days:8.2f}")
        berths = np.bincount(self.codec, minlength=len(CODECS) + 1)
        per_codec = [
            f"{name} {self.heartbeats_by_codec[i] / (berths[i] * days):.1f}"
            for i, name in enumerate(CODECS)
            if berths[i] and days
        ]
        out.append(f"heartbeats per berth-day by codec: {', '.join(per_codec) or 'none'}")
        for k in (1, 0):
            if self.arrivals[k]:
                n = int(self.arrivals[k])
                per_day = n / max(self.berths_by_kind[k] * days, 1e-9)
                out.append(
                    f"stays {KINDS[k]}: {n:,} sessions ({per_day:.2f} per berth-day), "
                    f"mean {self.stay_hours[k] / n:.2f} h, >= 4 h {self.stays_4h[k] / n:.1%}, "
                    f">= 8 h {self.stays_8h[k] / n:.1%}"
                )
        out.append("occupancy by local hour (%):")
        out.append("  hour       " + " ".join(f"{h:>3}" for h in range(24)))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(self.observed_ms > 0, 100 * self.occupied_ms / self.observed_ms, np.nan)
        for k in (1, 0):
            cells = " ".join("  -" if np.isnan(v) else f"{v:3.0f}" for v in share[k])
            out.append(f"  {KINDS[k]:<10} {cells}")
        formats = ", ".join(f"{name} {count:,}" for name, count in sorted(self.messages.items()))
        out.append(f"messages by format: {formats or 'none'}")
        injected = ", ".join(f"{name} {count:,}" for name, count in sorted(faults.items()) if count)
        out.append(f"faults and outages: {injected or 'none'}")
        return out
