"""Reports to senders, queued, bounded, and published beside the ingest loop: rejections on the
errors topics, and resync requests to gateways whose frames went missing (contract 7.4).

A report is a courtesy to the sender; the rejected events and the gaps are already counted. So a report that
cannot be queued or published is counted and dropped, and never holds up or tears down ingest: a
broker slow to acknowledge a report (aiomqtt gives up after its timeout) must not end the session
that carries the events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiomqtt
import orjson

from parking_hub.ingest.formats import Decoded
from parking_hub.ingest.topics import ParsedTopic, Topics
from parking_hub.observe import Metrics
from parking_hub.registry import LOT_ID
from parking_hub.tasks import raise_if_cancelling

log = logging.getLogger(__name__)

MAX_ERROR_BACKLOG = 10_000  # reports waiting to be published; more are counted and dropped
PUBLISHERS = 256  # reports in flight at once (the broker allows 1,000), so a flood of bad input is reported

Publish = Callable[[str, bytes], Awaitable[None]]


class ErrorReports:
    def __init__(self, topics: Topics, metrics: Metrics, backlog: int = MAX_ERROR_BACKLOG) -> None:
        self._topics = topics
        self._metrics = metrics
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(backlog)

    def report(self, parsed: ParsedTopic | None, topic: str, decoded: Decoded, now_ms: int) -> None:
        # An unknown lot can still be named when its id is well formed; otherwise the global topic.
        lot = decoded.lot or (parsed.lot if parsed and LOT_ID.match(parsed.lot) else None)
        for rejection in decoded.rejections:
            self._metrics.rejected.labels(rejection.code).inc(rejection.count)
            body = {"code": rejection.code, "message": rejection.message, "topic": topic, "ts": now_ms}
            if rejection.count > 1:
                body["count"] = rejection.count
            self._enqueue(self._topics.errors(lot), orjson.dumps(body))

    def request_resync(self, lot: str, gateway: str, missing_from: int, now_ms: int) -> None:
        body = {"gateway": gateway, "reason": "seq_gap", "missing_from": missing_from, "ts": now_ms}
        self._enqueue(self._topics.resync(lot), orjson.dumps(body))

    def _enqueue(self, topic: str, payload: bytes) -> None:
        try:
            self._queue.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self._metrics.error_reports_dropped.labels("backlog_full").inc()

    async def publish_forever(self, publish: Publish) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(PUBLISHERS):
                group.create_task(self._publisher(publish))

    async def _publisher(self, publish: Publish) -> None:
        while True:
            # aiomqtt's publish may swallow a cancel: docs/reliability.md, "Cancellations the libraries lose".
            raise_if_cancelling()
            topic, payload = await self._queue.get()
            try:
                await publish(topic, payload)
            except aiomqtt.MqttError as exc:
                raise_if_cancelling(exc)
                # A lost connection also ends the receive loop, which reconnects; here it only drops.
                self._metrics.error_reports_dropped.labels("publish_failed").inc()
                log.debug("error report to %s not published: %s", topic, exc)
