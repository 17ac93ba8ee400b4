"""The ingest loop: receive, decode, batch while the previous batch is written, ack after the write."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiomqtt
import orjson
from redis.exceptions import RedisError

from parking_hub.backoff import full_jitter
from parking_hub.config import Settings
from parking_hub.ingest import mqtt
from parking_hub.ingest.batch import BatchBuilder
from parking_hub.ingest.formats import Decoded, Rejection, decode
from parking_hub.ingest.topics import ParsedTopic, Topics
from parking_hub.observe import Health, IngestCounters
from parking_hub.registry import LOT_ID
from parking_hub.store.apply import StateWriter
from parking_hub.store.connection import raise_if_cancelling
from parking_hub.store.layout import Layout

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 200_000
MAX_ERROR_BACKLOG = 10_000


class IngestService:
    """Reads the lot topics and applies them to Redis; acknowledges each message after its write."""

    def __init__(
        self,
        settings: Settings,
        writer: StateWriter,
        layout: Callable[[], Layout],
        health: Health,
        counters: IngestCounters,
    ) -> None:
        self._settings = settings
        self._writer = writer
        self._layout = layout
        self._health = health
        self._counters = counters
        self._topics = Topics(settings.topic_prefix)
        self._memo = mqtt.ProtocolMemo(settings.mqtt)

    async def run(self) -> None:
        """Consume until cancelled, reconnecting with jittered backoff."""
        attempt = 0
        target = self._settings.mqtt
        while True:
            try:
                async with mqtt.session(target, self._settings.client_id, self._memo) as session:
                    attempt = 0
                    for topic in self._topics.subscriptions():
                        await session.client.subscribe(topic, qos=1)
                    self._health.mqtt_connected = True
                    log.info(
                        "mqtt connected to %s:%d as %r", target.host, target.port, self._settings.client_id
                    )
                    await _Consumer(self, session).run()
            except aiomqtt.MqttError as exc:
                self._health.mqtt_connected = False
                delay = full_jitter(attempt)
                attempt += 1
                log.warning("mqtt connection lost (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
            finally:
                self._health.mqtt_connected = False


class _Consumer:
    """One connection's worth of consuming: a receiver, a writer and an error publisher."""

    def __init__(self, service: IngestService, session: mqtt.Session) -> None:
        self._s = service
        self._session = session
        self._builder = BatchBuilder()
        self._mids: list[int] = []
        self._pending = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._errors: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(MAX_ERROR_BACKLOG)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._receive(), name="ingest.receive")
            tg.create_task(self._write(), name="ingest.write")
            tg.create_task(self._publish_errors(), name="ingest.errors")

    async def _receive(self) -> None:
        topics = self._s._topics
        async for message in self._session.client.messages:
            await self._room.wait()
            now_ms = time.time_ns() // 1_000_000
            topic = str(message.topic)
            parsed = topics.parse(topic)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if parsed is None:
                decoded = Decoded(
                    None, rejections=[Rejection("unknown_topic", "the hub does not read this topic")]
                )
            else:
                decoded = decode(parsed, payload, self._s._layout().capacity_of, now_ms)
            if decoded.rejections:
                self._report(parsed, topic, decoded, now_ms)
            self._builder.add(decoded)
            if message.qos > 0:
                self._mids.append(message.mid)
            self._pending.set()
            if self._builder.events >= MAX_BATCH_EVENTS:
                self._room.clear()

    async def _write(self) -> None:
        """Self-clocking batches: whatever arrived while the previous write was in flight goes next."""
        while True:
            raise_if_cancelling()
            await self._pending.wait()
            self._pending.clear()
            builder, mids = self._builder, self._mids
            self._builder, self._mids = BatchBuilder(), []
            self._room.set()
            batch = builder.build(self._s._layout())
            attempt = 0
            won = 0
            while True:
                try:
                    won = await self._s._writer.write(batch)
                    break
                except RedisError as exc:
                    raise_if_cancelling(exc)
                    self._s._health.redis_ok = False
                    delay = full_jitter(attempt)
                    attempt += 1
                    log.warning("redis write failed (%s); retrying the batch in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
            self._s._health.redis_ok = True
            self._s._counters.record(batch, won)
            for mid in mids:
                self._session.ack(mid)

    def _report(self, parsed: ParsedTopic | None, topic: str, decoded: Decoded, now_ms: int) -> None:
        # An unknown lot can still be named when its id is well formed; otherwise the global topic.
        lot = decoded.lot or (parsed.lot if parsed and LOT_ID.match(parsed.lot) else None)
        for rejection in decoded.rejections:
            self._s._counters.rejected(rejection.code, rejection.count)
            body = {"code": rejection.code, "message": rejection.message, "topic": topic, "ts": now_ms}
            if rejection.count > 1:
                body["count"] = rejection.count
            try:
                self._errors.put_nowait((self._s._topics.errors(lot), orjson.dumps(body)))
            except asyncio.QueueFull:
                self._s._counters.error_reports_dropped += 1

    async def _publish_errors(self) -> None:
        while True:
            topic, payload = await self._errors.get()
            await self._session.client.publish(topic, payload, qos=1)
