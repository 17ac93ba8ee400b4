"""A simple real-time traffic feed: a startup resync, then random arrivals and departures with heartbeats.

The stream of changes depends only on the registry, `--seed` and `--rate` (ticks are counted, not
timed); only the `ts` values and which heartbeats fall due follow the wall clock. Every report of a
berth carries a later `ts` than its previous one, so the hub's order rule keeps the latest state.
"""

import asyncio
import math
import os
import re
import ssl
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self
from urllib.parse import unquote, urlsplit

import aiomqtt
import numpy as np
import numpy.typing as npt
import orjson

from sensors_sim.city import DEFAULT_SEED, MAX_CAPACITY

MAX_FRAME_EVENTS = 10_000
DEFAULT_HEARTBEAT_S = 3_600
LOT_ID = re.compile(r"[a-z0-9_-]{1,64}")
TICK_S = 0.1
PROGRESS_EVERY_S = 5.0
PUBLISH_WINDOW = 1_000  # QoS 1 messages in flight at once
# Occupancy drifts around 70% (62-78% over half an hour); arrivals and departures pull it back.
TARGET_MEAN, TARGET_SWING, TARGET_PERIOD_S, PULL = 0.70, 0.08, 1_800.0, 5.0

Format = Literal["native", "per-berth"]
IntArray = npt.NDArray[np.int64]
Message = tuple[str, bytes]


class RegistryError(ValueError):
    """The registry file cannot be used; the message names the feature and field."""


@dataclass(frozen=True, slots=True)
class Registry:
    """What the feed needs of a lot registry: ids, capacities and heartbeat periods, per lot."""

    lot_ids: list[str]
    capacity: IntArray
    heartbeat_s: IntArray

    @property
    def offsets(self) -> IntArray:
        """Index of each lot's berth 0 in the city-wide berth arrays."""
        return np.cumsum(self.capacity) - self.capacity


def load_registry(path: Path) -> Registry:
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise RegistryError(f"{path} is not JSON: {exc}") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or not features:
        raise RegistryError(f"{path} is not a GeoJSON FeatureCollection with features")
    ids: list[str] = []
    capacity: list[int] = []
    heartbeat: list[int] = []
    for index, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            raise RegistryError(f"{path}: feature {index}: properties must be an object")
        lot, cap, beat = props.get("id"), props.get("capacity"), props.get("heartbeat_s", DEFAULT_HEARTBEAT_S)
        if not isinstance(lot, str) or not LOT_ID.fullmatch(lot):
            raise RegistryError(f"{path}: feature {index}: id must match [a-z0-9_-]{{1,64}}")
        if type(cap) is not int or not 1 <= cap <= MAX_CAPACITY:
            raise RegistryError(f"{path}: feature {index}: capacity must be an integer 1..{MAX_CAPACITY}")
        if type(beat) is not int or beat < 1:
            raise RegistryError(f"{path}: feature {index}: heartbeat_s must be a positive integer")
        ids.append(lot)
        capacity.append(cap)
        heartbeat.append(beat)
    if len(set(ids)) != len(ids):
        raise RegistryError(f"{path}: lot ids are not unique")
    return Registry(ids, np.array(capacity, dtype=np.int64), np.array(heartbeat, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class Batch:
    """Berth reports: lot index (into the registry), berth number, 0/1 state, ts in ms."""

    lot: IntArray
    berth: IntArray
    occupied: npt.NDArray[np.uint8]
    ts: IntArray

    def __len__(self) -> int:
        return len(self.lot)


def native_frames(prefix: str, registry: Registry, batch: Batch, seq: IntArray) -> list[Message]:
    """Batch frames per lot, at most `MAX_FRAME_EVENTS` each; `seq` (per lot) counts frames sent."""
    order = np.argsort(batch.lot, kind="stable")
    lots = batch.lot[order]
    bounds = np.flatnonzero(np.diff(lots)) + 1
    frames: list[Message] = []
    for start, stop in zip(
        np.concatenate(([0], bounds)).tolist(), np.concatenate((bounds, [len(lots)])).tolist(), strict=True
    ):
        lot = int(lots[start])
        lot_id = registry.lot_ids[lot]
        for first in range(start, stop, MAX_FRAME_EVENTS):
            pick = order[first : min(stop, first + MAX_FRAME_EVENTS)]
            seq[lot] += 1
            frame = {
                "gateway": f"gw-{lot_id}",
                "seq": int(seq[lot]),
                "berth": batch.berth[pick],
                "occupied": batch.occupied[pick],
                "ts": batch.ts[pick],
            }
            frames.append(
                (f"{prefix}/v1/lots/{lot_id}/events", orjson.dumps(frame, option=orjson.OPT_SERIALIZE_NUMPY))
            )
    return frames


def berth_messages(prefix: str, registry: Registry, batch: Batch) -> Iterator[Message]:
    """One single-sensor message per report."""
    for lot, berth, occupied, ts in zip(
        batch.lot.tolist(), batch.berth.tolist(), batch.occupied.tolist(), batch.ts.tolist(), strict=True
    ):
        topic = f"{prefix}/v1/lots/{registry.lot_ids[lot]}/berths/{berth}"
        yield topic, orjson.dumps({"occupied": occupied, "ts": ts})


def status_messages(prefix: str, registry: Registry, now_ms: int) -> list[Message]:
    payload = orjson.dumps({"online": True, "ts": now_ms})
    return [(f"{prefix}/v1/lots/{lot}/status", payload) for lot in registry.lot_ids]


class Traffic:
    """City-wide berth state and the random process that changes it."""

    def __init__(self, registry: Registry, seed: int) -> None:
        changes, beats = np.random.SeedSequence(seed).spawn(2)
        self._rng = np.random.default_rng(changes)
        self._beat_rng = np.random.default_rng(beats)  # drawn in wall-clock order; kept apart
        self._offsets = registry.offsets
        self._lot_of = np.repeat(np.arange(len(registry.lot_ids), dtype=np.int64), registry.capacity)
        self._beat_ms = registry.heartbeat_s[self._lot_of] * 1000
        n = len(self._lot_of)
        self._occupied = np.zeros(n, dtype=np.uint8)
        self._next_beat_ms = np.zeros(n, dtype=np.int64)
        self._occupied_count = 0

    @property
    def occupancy(self) -> float:
        return self._occupied_count / len(self._occupied)

    def startup(self, now_ms: int) -> Batch:
        """Every berth reports once; each lot starts near its own level around the city's."""
        lot_level = np.clip(self._rng.normal(TARGET_MEAN, 0.12, len(self._offsets)), 0.05, 0.98)
        self._occupied[:] = self._rng.random(len(self._occupied)) < lot_level[self._lot_of]
        self._occupied_count = int(self._occupied.sum())
        every = np.arange(len(self._occupied), dtype=np.int64)
        # Spread the first heartbeats over a whole period, so they do not all fall due together.
        phase = self._beat_rng.uniform(0.05, 1.0, len(every))
        self._next_beat_ms[:] = now_ms + (self._beat_ms * phase).astype(np.int64)
        return self._batch(every, np.full(len(every), now_ms, dtype=np.int64))

    def step(self, tick: int, changes: int, prev_ms: int, now_ms: int) -> Batch:
        """`changes` arrivals or departures observed in (prev_ms, now_ms], plus heartbeats due."""
        target = TARGET_MEAN + TARGET_SWING * math.sin(2 * math.pi * tick * TICK_S / TARGET_PERIOD_S)
        p_arrive = min(0.95, max(0.05, 0.5 + PULL * (target - self.occupancy)))
        arrivals = self._pick(0, int(self._rng.binomial(changes, p_arrive)))
        departures = self._pick(1, changes - len(arrivals))
        self._occupied[arrivals] = 1
        self._occupied[departures] = 0
        self._occupied_count += len(arrivals) - len(departures)
        changed = np.concatenate((arrivals, departures))
        # A fixed number of draws per change, whatever the clock says, keeps the stream seed-bound.
        change_ts = prev_ms + 1 + (self._rng.random(len(changed)) * (now_ms - prev_ms)).astype(np.int64)

        due = self._next_beat_ms <= now_ms
        due[changed] = False  # at most one report per berth per step: no two share a ts
        beats = np.flatnonzero(due)
        reported = np.concatenate((changed, beats))
        ts = np.concatenate((change_ts, np.full(len(beats), now_ms, dtype=np.int64)))
        jitter = self._beat_rng.uniform(0.9, 1.0, len(reported))
        self._next_beat_ms[reported] = ts + (self._beat_ms[reported] * jitter).astype(np.int64)
        return self._batch(reported, ts)

    def _pick(self, state: int, count: int) -> IntArray:
        candidates = np.flatnonzero(self._occupied == state)
        return self._rng.choice(candidates, min(count, len(candidates)), replace=False)

    def _batch(self, berths: IntArray, ts: IntArray) -> Batch:
        lot = self._lot_of[berths]
        return Batch(lot, berths - self._offsets[lot], self._occupied[berths], ts)


def changes_in_tick(rate: float, tick: int) -> int:
    """Changes in tick `tick` at `rate` per second; whole numbers that add up to the rate exactly."""
    return math.floor((tick + 1) * rate * TICK_S) - math.floor(tick * rate * TICK_S)


@dataclass(frozen=True, slots=True)
class MqttUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> Self:
        """`mqtt://[user:password@]host[:port]`, or `mqtts://` for TLS."""
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts"}:
            raise ValueError("must start with mqtt:// or mqtts://")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if not parts.hostname or parts.path not in {"", "/"} or parts.query:
            raise ValueError("must look like mqtt://[user:password@]host[:port]")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=tls,
        )


class Publisher:
    """An MQTT connection that publishes at QoS 1 with many messages in flight."""

    def __init__(self, url: MqttUrl) -> None:
        self._url = url
        self._client: aiomqtt.Client | None = None

    async def __aenter__(self) -> Self:
        # MQTT 3.1.1 works with every broker the project uses, the embedded one included.
        client = aiomqtt.Client(
            self._url.host,
            self._url.port,
            username=self._url.username,
            password=self._url.password,
            identifier=f"sensors-sim-{os.getpid()}",
            tls_context=ssl.create_default_context() if self._url.tls else None,
            max_inflight_messages=PUBLISH_WINDOW,
        )
        client.pending_calls_threshold = PUBLISH_WINDOW + 1
        await client.__aenter__()
        self._client = client
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(exc_type, exc, tb)

    async def publish(self, messages: Iterable[Message], *, retain: bool = False) -> int:
        """Publish in order and wait for every acknowledgement; returns the number sent."""
        sent = 0
        window: list[Message] = []
        for message in messages:
            window.append(message)
            if len(window) == PUBLISH_WINDOW:
                sent += await self._publish_window(window, retain)
                window = []
        return sent + await self._publish_window(window, retain)

    async def _publish_window(self, window: list[Message], retain: bool) -> int:
        if self._client is None:
            raise RuntimeError("Publisher is not connected; use it as an async context manager")
        try:
            async with asyncio.TaskGroup() as group:
                for topic, payload in window:
                    group.create_task(self._client.publish(topic, payload, qos=1, retain=retain))
        except* aiomqtt.MqttError as failed:
            raise failed.exceptions[0] from None
        return len(window)


@dataclass(slots=True)
class Progress:
    events: int = 0
    messages: int = 0


@dataclass(frozen=True, slots=True)
class FeedOptions:
    topic_prefix: str = "parking"
    seed: int = DEFAULT_SEED
    rate: float = 50.0
    duration: float | None = None
    format: Format = "native"


async def run_feed(registry: Registry, url: MqttUrl, options: FeedOptions) -> Progress:
    """Publish until `options.duration` elapses (or forever); returns what was sent."""
    progress = Progress()
    traffic = Traffic(registry, options.seed)
    limit = asyncio.timeout(options.duration)
    try:
        async with limit, Publisher(url) as publisher:
            await _publish_with_progress(publisher, registry, traffic, options, progress)
    except TimeoutError:
        if not limit.expired():
            raise
    return progress


async def _publish_with_progress(
    publisher: Publisher, registry: Registry, traffic: Traffic, options: FeedOptions, progress: Progress
) -> None:
    try:
        async with asyncio.TaskGroup() as group:
            reporter = group.create_task(_report(progress, traffic))
            await _stream(publisher, registry, traffic, options, progress)
            reporter.cancel()
    except* aiomqtt.MqttError as failed:
        raise failed.exceptions[0] from None


async def _stream(
    publisher: Publisher, registry: Registry, traffic: Traffic, options: FeedOptions, progress: Progress
) -> None:
    seq = np.zeros(len(registry.lot_ids), dtype=np.int64)
    prefix = options.topic_prefix

    async def send(batch: Batch) -> None:
        if options.format == "native":
            messages: Iterable[Message] = native_frames(prefix, registry, batch, seq)
        else:
            messages = berth_messages(prefix, registry, batch)
        progress.messages += await publisher.publish(messages)
        progress.events += len(batch)

    loop = asyncio.get_running_loop()
    now_ms = time.time_ns() // 1_000_000
    progress.messages += await publisher.publish(status_messages(prefix, registry, now_ms), retain=True)
    await send(traffic.startup(now_ms))
    started = loop.time()
    tick = 0
    while True:
        prev_ms, now_ms = now_ms, max(now_ms + 1, time.time_ns() // 1_000_000)
        await send(traffic.step(tick, changes_in_tick(options.rate, tick), prev_ms, now_ms))
        tick += 1
        await asyncio.sleep(max(0.0, started + tick * TICK_S - loop.time()))


async def _report(progress: Progress, traffic: Traffic) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        print(
            f"sensors-sim: {time.monotonic() - started:.0f}s  events {progress.events:,}  "
            f"messages {progress.messages:,}  occupancy {traffic.occupancy:.1%}",
            file=sys.stderr,
            flush=True,
        )
