"""The ingest loop: take what was received, decode it as one batch, write it, acknowledge after the write."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiomqtt

from parking_hub.backoff import Backoff, retry
from parking_hub.config import Settings
from parking_hub.ingest import lorawan, mqtt
from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.broker_drops import BrokerDrops
from parking_hub.ingest.error_reports import ErrorReports
from parking_hub.ingest.formats import Counter, decode
from parking_hub.ingest.gaps import CounterGaps
from parking_hub.ingest.inbox import CatchUp, Inbox, Received
from parking_hub.ingest.lorawan import DeviceIndex
from parking_hub.ingest.topics import BROKER_DROPPED, Topics
from parking_hub.observe import Health, Metrics
from parking_hub.registry import Lot
from parking_hub.registry_view import RegistryView
from parking_hub.store.apply import Batch, StateWriter
from parking_hub.store.connection import REDIS_ERRORS
from parking_hub.store.layout import Layout
from parking_hub.tasks import raise_if_cancelling, until_first_error

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestDeps:
    settings: Settings
    writer: StateWriter
    registry: RegistryView  # ingest reads nothing before it is loaded: every lot would be unknown
    health: Health
    metrics: Metrics


@dataclass(slots=True)
class _Gaps:
    """What one process has seen of its senders' counters."""

    seq: CounterGaps = field(default_factory=lambda: CounterGaps(restarts=(0, 1)))
    f_cnt: CounterGaps = field(default_factory=lambda: CounterGaps(restarts=(0,)))

    def see(self, lot: str, counter: Counter, frame: bool) -> int | None:
        """The first number missing before this message, if its sender's counter skipped some."""
        return (self.seq if frame else self.f_cnt).see(lot, counter.sender, counter.number, counter.newest_ts)


@dataclass(slots=True)
class _Carried:
    """What one process keeps across its MQTT connections."""

    gaps: _Gaps | None  # None under a share group: each process sees a part of each sender
    broker_drops: BrokerDrops
    catch_up: CatchUp = field(default_factory=CatchUp)
    devices: DeviceIndex = field(default_factory=lambda: DeviceIndex(()))  # the registry's LoRaWAN devices


class IngestService:
    """Reads the lot topics and applies them to Redis; acknowledges each message after its write.
    A follower of the registry view (registry_view.Follower): it indexes the devices of each read."""

    def __init__(self, deps: IngestDeps) -> None:
        self._deps = deps
        self._memo = mqtt.ProtocolMemo(deps.settings.mqtt)
        self._carried = _Carried(None if deps.settings.share_group else _Gaps(), BrokerDrops(deps.metrics))
        if deps.settings.share_group:
            log.info(
                "seq and f_cnt gaps are not tracked: in a share group each process sees a part of each sender"
            )
        self._connection: _Connection | None = None
        deps.health.ingest_oldest_offered = self._oldest_offered

    def _oldest_offered(self) -> float | None:
        if self._connection is None:  # the broker may be queueing for the session meanwhile
            return self._carried.catch_up.unread_since
        return self._connection.inbox.oldest_offered

    async def registry_read(self, lots: Sequence[Lot], layout: Layout) -> None:
        self._carried.devices = DeviceIndex(lots)

    async def run(self) -> None:
        """Consume until cancelled, reconnecting with backoff."""
        settings = self._deps.settings
        topics = Topics(settings.topic_prefix)
        await self._deps.registry.loaded.wait()
        backoff = Backoff()

        async def connected() -> None:
            try:
                async with mqtt.session(settings.mqtt, settings.client_id, self._memo) as session:
                    backoff.reset()
                    self._connection = _Connection(self._deps, topics, session, self._carried)
                    await self._connection.run()
            finally:
                self._connection = None
                self._deps.health.mqtt_connected = False

        def lost(exc: Exception, delay: float) -> None:
            log.warning("mqtt connection lost (%s); reconnecting in %.1f s", exc, delay)

        await retry(connected, (aiomqtt.MqttError,), lost, backoff)


class _Connection:
    """One connection's consuming: the apply loop and the error publisher, in one TaskGroup."""

    def __init__(self, deps: IngestDeps, topics: Topics, session: mqtt.Session, carried: _Carried) -> None:
        self._deps = deps
        self._carried = carried
        self._topics = topics
        self._session = session
        self.inbox = Inbox(session.client, mqtt.RECEIVE_MAXIMUM, carried.catch_up)
        self._errors = ErrorReports(topics, deps.metrics)

    async def run(self) -> None:
        self.inbox.start()
        loops = {
            "ingest.subscribe": self._subscribe(),
            "ingest.apply": self._apply(),
            "ingest.errors": self._errors.publish_forever(self._publish_error),
        }
        try:
            await until_first_error(loops, (aiomqtt.MqttError,))
        finally:
            self.inbox.stop()

    async def _subscribe(self) -> None:
        """Subscribes while the apply loop already takes what the broker sends, and awaits the
        SUBACKs without a timeout: a resumed session's backlog comes ahead of them (docs/reliability.md,
        "Bugs the harness found"). A dropped connection ends the apply loop, and that ends this one."""
        settings = self._deps.settings
        for topic in (*self._topics.subscriptions(), *lorawan.SUBSCRIPTIONS):
            await self._session.client.subscribe(
                mqtt.shared(topic, settings.share_group), qos=1, timeout=math.inf
            )
        # Every process watches the broker's drops; a broker without the topic sends nothing.
        await self._session.client.subscribe(BROKER_DROPPED, qos=0, timeout=math.inf)
        self._deps.health.mqtt_connected = True
        log.info("mqtt connected to %s:%d as %r", settings.mqtt.host, settings.mqtt.port, settings.client_id)

    async def _apply(self) -> None:
        """Takes every message received so far as one batch; what arrives while a batch is written
        forms the next one, so batches grow with load and a quiet hub writes each message at once."""
        while True:
            raise_if_cancelling()
            messages = await self.inbox.take()
            batch = self._decode(messages).build(self._deps.registry.layout)
            won = await self._write_until_done(batch)
            latency = time.monotonic() - self.inbox.taken_first_at
            self._deps.metrics.record(batch, won, latency, time.time_ns() // 1_000_000)
            self.inbox.ack()

    def _decode(self, messages: list[Received]) -> BatchBuilder:
        capacity_of, devices = self._deps.registry.layout.capacity_of, self._carried.devices
        now_ms = time.time_ns() // 1_000_000
        builder = BatchBuilder()
        uplink_topics: list[str] = []
        uplink_payloads: list[bytes] = []
        for message in messages:
            topic, payload = message.topic, message.payload
            if topic == BROKER_DROPPED:
                self._carried.broker_drops.see(payload)
                continue
            parsed = self._topics.parse(topic)
            if parsed is None:  # a network server's uplink, or a topic the hub does not read: below
                uplink_topics.append(topic)
                uplink_payloads.append(payload)
                continue
            decoded = decode(parsed, payload, capacity_of, now_ms)
            if decoded.rejections:
                self._errors.report(parsed, topic, decoded, now_ms)
            gaps, lot, counter = self._carried.gaps, decoded.lot, decoded.counter
            if gaps is not None and lot is not None and counter is not None:
                missing_from = gaps.see(lot, counter, frame=True)
                if missing_from is not None:
                    builder.gap(lot)
                    self._count_gap(lot, counter.sender, missing_from, True, now_ms)
            builder.add(decoded)
        if uplink_topics:
            uplinks = lorawan.decode_uplinks(uplink_topics, uplink_payloads, devices, now_ms)
            self._add_uplinks(builder, uplinks, now_ms)
        return builder

    def _add_uplinks(self, builder: BatchBuilder, uplinks: lorawan.Uplinks, now_ms: int) -> None:
        builder.add_reports(uplinks.lots, uplinks.berths, uplinks.ranks)
        for topic, decoded in uplinks.others:
            if decoded.rejections:
                self._errors.report(None, topic, decoded, now_ms)
            builder.add(decoded)
        gaps = self._carried.gaps
        if gaps is None:
            return
        see = gaps.f_cnt.see
        for _, lot, sender, f_cnt, newest_ts in uplinks.counters:
            missing_from = see(lot, sender, f_cnt, newest_ts)
            if missing_from is not None:
                builder.gap(lot)
                self._count_gap(lot, sender, missing_from, False, now_ms)

    def _count_gap(self, lot: str, sender: str, missing_from: int, frame: bool, now_ms: int) -> None:
        """A gateway's lost frames are counted and asked for again; a device's lost uplinks, counted."""
        if frame:
            self._deps.metrics.seq_gaps.inc()
            self._errors.request_resync(lot, sender, missing_from, now_ms)
        else:
            self._deps.metrics.fcnt_gaps.inc()

    async def _write_until_done(self, batch: Batch) -> int:
        """Redis errors are retried with backoff until the batch lands; nothing is dropped."""
        won = await retry(lambda: self._deps.writer.write(batch), REDIS_ERRORS, self._write_failed)
        self._deps.health.redis_ok = True
        return won

    def _write_failed(self, exc: Exception, delay: float) -> None:
        self._deps.health.redis_ok = False
        log.warning("redis write failed (%s); retrying the batch in %.1f s", exc, delay)

    async def _publish_error(self, topic: str, payload: bytes) -> None:
        await self._session.client.publish(topic, payload, qos=1)
