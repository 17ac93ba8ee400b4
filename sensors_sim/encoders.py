"""Uplinks as MQTT messages, in every format of the contract (section 3).

- native: a lot gateway's batch frames on `{prefix}/v1/lots/{lot}/events`, one per batching window;
- per-berth: one single-sensor message per report on `{prefix}/v1/lots/{lot}/berths/{berth}`;
- tts: The Things Stack v3 uplinks on `v3/{app}@{tenant}/devices/{device_id}/up`;
- chirpstack: ChirpStack v4 uplink events on `application/{app}/device/{dev_eui}/event/up`.

LoRaWAN envelopes carry each sensor's own vendor payload and omit zero-valued fields, as the
network servers do. A lot can use LoRaWAN only when each of its berths has a device (ChirpStack:
a DevEUI); other lots fall back to the gateway formats.
"""

import base64
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import orjson

from sensors_sim.city import CODECS
from sensors_sim.faults import Injector
from sensors_sim.gateways import MAX_FRAME_EVENTS, Gateways
from sensors_sim.hardware import CHIRPSTACK, NATIVE, PER_BERTH, TTS, Uplinks
from sensors_sim.payloads import Readings, encode
from sensors_sim.rand import Stream
from sensors_sim.registry import DEV_EUI, Registry

FORMATS = ("native", "per-berth", "tts", "chirpstack")  # in the order of the hardware constants
TTS_APPLICATION = "parking-sensors@city"
FAR_FUTURE_MS = 32_503_680_000_000  # the year 3000: a clock gone wrong
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# The ways a message can arrive broken, per format (see `_break`).
TRUNCATED, BAD_EVENT, BAD_ADDRESS = 0, 1, 2

IntArray = npt.NDArray[np.int64]


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    deliver: int  # when it reaches the broker (sim ms)
    berth: IntArray  # the valid reports it carries: global berths and ranks (ts * 2 + occupied)
    rank: IntArray
    rejected: int  # events in it that the hub must reject
    fmt: int


def assign_formats(registry: Registry, allowed: Sequence[str], seed: int) -> IntArray:
    """Each lot's format: a seeded choice among the allowed formats it can use; else native."""
    lot = registry.lot_of_berths()
    n = len(registry.lot_ids)
    lacking = np.bincount(lot, (registry.device < 0) | (registry.codec < 0), minlength=n) > 0
    eui = np.array([bool(DEV_EUI.fullmatch(key)) for key in registry.device_keys] + [False], dtype=bool)
    not_eui = np.bincount(lot, ~eui[registry.device], minlength=n) > 0
    can = {NATIVE: np.ones(n, dtype=bool), PER_BERTH: np.ones(n, dtype=bool), TTS: ~lacking}
    can[CHIRPSTACK] = ~lacking & ~not_eui
    wanted = [FORMATS.index(name) for name in allowed]
    options = np.stack([can[f] for f in wanted], axis=1)
    count = options.sum(axis=1)
    pick = (Stream(seed, "format").uniform(np.arange(n)) * np.maximum(count, 1)).astype(np.int64)
    # The pick-th allowed option of each lot.
    rank = np.cumsum(options, axis=1) - 1
    chosen = np.argmax(options & (rank == pick[:, None]), axis=1)
    result: IntArray = np.where(count > 0, np.array(wanted)[chosen], NATIVE)
    return result


def iso(ms: int, nanos: int = 0, utc: str = "Z") -> str:
    """RFC 3339 with nanoseconds, as the network servers write it."""
    moment = _EPOCH + dt.timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}{nanos:06d}{utc}"


class Encoder:
    def __init__(
        self, registry: Registry, lot_format: IntArray, prefix: str, seed: int, injector: Injector
    ) -> None:
        self._registry = registry
        self._lot = registry.lot_of_berths()
        self._offsets = registry.offsets
        self._format = lot_format
        self._prefix = prefix
        self._injector = injector
        self._values = Stream(seed, "values")
        self.gateways = Gateways(registry, lot_format == NATIVE, prefix)
        self._chirpstack_app = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sensors-sim:{seed}"))
        self.faults: Counter[str] = Counter()  # messages lost, broken, duplicated, held back

    def messages(self, up: Uplinks, ts_wall: IntArray) -> list[Message]:
        """Messages for uplinks due at the broker, faults applied, in no particular order."""
        fmt = self._format[self._lot[up.berth]]
        native = np.flatnonzero(fmt == NATIVE)
        self.gateways.remember(up.berth[native], ts_wall[native] * 2 + up.occupied[native])
        frames = self._frame_groups(up, native)
        singles = np.flatnonzero(fmt != NATIVE)
        # Each message is known by its first uplink; faults are drawn for all of them at once.
        first = np.concatenate([[g[0] for g in frames], singles]).astype(np.int64)
        decided = self._injector.for_messages(up.berth[first], up.seq[first])
        deliver = (up.deliver[first] + decided.lag_ms).tolist()
        how = decided.malformed.tolist()
        sent = ~decided.lost
        self.faults["lost"] += int(decided.lost.sum())
        self.faults["malformed"] += int((sent & (decided.malformed >= 0)).sum())
        self.faults["duplicate"] += int((sent & (decided.duplicate_lag_ms >= 0)).sum())
        self.faults["reorder"] += int((sent & (decided.lag_ms > 0)).sum())
        vendor = self._payloads(up, np.flatnonzero(fmt >= TTS))
        nanos = (self._values.uniform(up.berth, up.seq, salt=9) * 1_000_000).astype(np.int64).tolist()
        messages: list[Message] = []
        for i, row in enumerate(first.tolist()):
            if decided.lost[i]:
                if i < len(frames):  # a gateway numbers every frame it sends, lost ones too
                    self.gateways.next_seq(int(self._lot[up.berth[row]]))
                continue
            if i < len(frames):
                message = self._frame(up, ts_wall, frames[i], deliver[i], how[i])
            elif fmt[row] == PER_BERTH:
                message = self._single(up, ts_wall, row, deliver[i], how[i])
            else:
                message = self._lorawan(
                    up, ts_wall, row, deliver[i], how=how[i], vendor=(*vendor[row], nanos[row])
                )
            if how[i] == TRUNCATED:
                message.payload = message.payload[: len(message.payload) // 2]
                message.berth = message.rank = message.berth[:0]
                message.rejected = 1
            messages.append(message)
            if decided.duplicate_lag_ms[i] >= 0:
                messages.append(replace(message, deliver=deliver[i] + int(decided.duplicate_lag_ms[i])))
        return messages

    def _payloads(self, up: Uplinks, rows: IntArray) -> dict[int, tuple[int, bytes]]:
        """Vendor port and payload of each LoRaWAN uplink, built a codec at a time."""
        vendor: dict[int, tuple[int, bytes]] = {}
        codec = self._registry.codec[up.berth[rows]]
        for code in np.unique(codec).tolist():
            picked = rows[codec == code]
            threshold = self._registry.threshold_mm[up.berth[picked]]
            ports, payloads = encode(CODECS[code], Readings.of(up.take(picked), threshold, self._values))
            vendor |= zip(picked.tolist(), zip(ports.tolist(), payloads, strict=True), strict=True)
        return vendor

    def _frame_groups(self, up: Uplinks, rows: IntArray) -> list[IntArray]:
        """One frame per lot and batching window, at most MAX_FRAME_EVENTS events each."""
        lot, deliver = self._lot[up.berth[rows]], up.deliver[rows]
        order = rows[np.lexsort((up.berth[rows], deliver, lot))]
        lot, deliver = self._lot[up.berth[order]], up.deliver[order]
        cuts = np.flatnonzero((lot[1:] != lot[:-1]) | (deliver[1:] != deliver[:-1])) + 1
        groups = []
        for chunk in np.split(order, cuts):
            groups += np.split(chunk, range(MAX_FRAME_EVENTS, len(chunk), MAX_FRAME_EVENTS))
        return [g for g in groups if len(g)]

    def _frame(self, up: Uplinks, ts_wall: IntArray, rows: IntArray, deliver: int, how: int) -> Message:
        lot = int(self._lot[up.berth[rows[0]]])
        berth = up.berth[rows] - self._offsets[lot]
        ts = ts_wall[rows].copy()
        occupied = up.occupied[rows].astype(np.uint8)
        valid = np.ones(len(rows), dtype=bool)
        if how in (BAD_EVENT, BAD_ADDRESS):  # the first event is broken; the others stay valid
            valid[0] = False
            if how == BAD_EVENT:
                ts[0] = FAR_FUTURE_MS
            else:
                berth[0] = self._registry.capacity[lot]
        return Message(
            self.gateways.topic(lot),
            self.gateways.frame(lot, berth, occupied, ts),
            deliver,
            up.berth[rows][valid],
            ts_wall[rows][valid] * 2 + occupied[valid],
            int((~valid).sum()),
            NATIVE,
        )

    def _single(self, up: Uplinks, ts_wall: IntArray, row: int, deliver: int, how: int) -> Message:
        berth = int(up.berth[row])
        lot = int(self._lot[berth])
        number = berth - int(self._offsets[lot])
        ts, occupied = int(ts_wall[row]), int(up.occupied[row])
        valid = how not in (BAD_EVENT, BAD_ADDRESS)
        if how == BAD_EVENT:
            ts = FAR_FUTURE_MS
        elif how == BAD_ADDRESS:
            number = int(self._registry.capacity[lot])
        topic = f"{self._prefix}/v1/lots/{self._registry.lot_ids[lot]}/berths/{number}"
        body = {"occupied": occupied, "ts": ts}
        return self._message(
            topic, body, deliver, berth=berth, rank=ts * 2 + occupied, valid=valid, fmt=PER_BERTH
        )

    def _lorawan(
        self,
        up: Uplinks,
        ts_wall: IntArray,
        row: int,
        deliver: int,
        *,
        how: int,
        vendor: tuple[int, bytes, int],
    ) -> Message:
        """`vendor`: the uplink's port, payload, and the sub-millisecond part of its receive time."""
        berth = int(up.berth[row])
        codec = CODECS[int(self._registry.codec[berth])]
        fmt = int(self._format[self._lot[berth]])
        port, payload, nanos = vendor
        if how == BAD_EVENT:
            payload = b""
        key = self._registry.device_keys[int(self._registry.device[berth])]
        if how == BAD_ADDRESS:
            key = "sensors-sim-unknown" if fmt == TTS else "ffffffffffffffff"
        ts = int(ts_wall[row])
        if fmt == TTS:
            topic, body = self._tts(key, port, fcnt=int(up.fcnt[row]), payload=payload, ts=ts, nanos=nanos)
        else:
            topic, body = self._chirpstack(
                key, codec, port, fcnt=int(up.fcnt[row]), payload=payload, ts=ts, nanos=nanos
            )
        valid = how not in (BAD_EVENT, BAD_ADDRESS)
        rank = ts * 2 + int(up.occupied[row])
        return self._message(topic, body, deliver, berth=berth, rank=rank, valid=valid, fmt=fmt)

    @staticmethod
    def _message(
        topic: str, body: object, deliver: int, *, berth: int, rank: int, valid: bool, fmt: int
    ) -> Message:
        reports = np.array([berth] if valid else [], dtype=np.int64)
        ranks = np.array([rank] if valid else [], dtype=np.int64)
        return Message(topic, orjson.dumps(body), deliver, reports, ranks, int(not valid), fmt)

    def _tts(
        self, key: str, port: int, *, fcnt: int, payload: bytes, ts: int, nanos: int
    ) -> tuple[str, object]:
        eui = bool(DEV_EUI.fullmatch(key))
        device_id = f"eui-{key.lower()}" if eui else key
        app, _, _ = TTS_APPLICATION.partition("@")
        ids: dict[str, object] = {"device_id": device_id, "application_ids": {"application_id": app}}
        if eui:
            ids["dev_eui"] = key.upper()
        message: dict[str, object] = {"f_port": port}
        if fcnt:  # TTS omits zero values
            message["f_cnt"] = fcnt
        if payload:
            message["frm_payload"] = _b64(payload)
        message["rx_metadata"] = [
            {"gateway_ids": {"gateway_id": "lns-gw-1"}, "rssi": -96, "snr": 6.5, "time": iso(ts)}
        ]
        message["received_at"] = iso(ts, nanos)
        body = {"end_device_ids": ids, "received_at": iso(ts, nanos), "uplink_message": message}
        return f"v3/{TTS_APPLICATION}/devices/{device_id}/up", body

    def _chirpstack(
        self, key: str, codec: str, port: int, *, fcnt: int, payload: bytes, ts: int, nanos: int
    ) -> tuple[str, object]:
        dev_eui = key.lower()
        body: dict[str, object] = {
            "deduplicationId": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{dev_eui}:{ts}:{nanos}")),
            "time": iso(ts, nanos, "+00:00"),
            "deviceInfo": {
                "tenantName": "City",
                "applicationId": self._chirpstack_app,
                "applicationName": "parking sensors",
                "deviceProfileName": codec,
                "deviceName": key,
                "devEui": dev_eui,
            },
            "fPort": port,
        }
        if fcnt:  # the Protobuf JSON mapping omits default values
            body["fCnt"] = fcnt
        if payload:
            body["data"] = _b64(payload)
        body["rxInfo"] = [{"gatewayId": "0016c001f153a14c", "rssi": -96, "snr": 6.5}]
        return f"application/{self._chirpstack_app}/device/{dev_eui}/event/up", body


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
