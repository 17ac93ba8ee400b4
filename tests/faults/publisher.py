"""QoS 1 out, with a ledger: every message gets a sequence number, and the ledger keeps what the
broker acknowledged. A message still unacknowledged when the connection drops (a broker restart)
is published again once connected, as a client with a persistent session would: the broker may
have taken it before it went down, so the hub may see it twice, which the order rule makes harmless.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import math
from collections.abc import Callable
from types import TracebackType
from typing import Self

import aiomqtt

from parking_hub.backoff import Backoff
from sensors_sim.encoders import Message
from sensors_sim.publish import MqttUrl, client_id

log = logging.getLogger(__name__)

WINDOW = 1_000  # messages handed over and not yet acknowledged, at most


class TrackedPublisher:
    """`send` hands a message over (waiting while WINDOW are unacknowledged); `on_ack` runs once per
    sequence number the broker acknowledges. Leaving the context waits for every acknowledgement."""

    def __init__(self, url: MqttUrl, on_ack: Callable[[Message], None]) -> None:
        self.url = url
        self.on_ack = on_ack
        self.sent = 0  # sequence numbers handed out
        self.published = 0  # PUBLISH packets, republished ones included
        self.republished = 0
        self.acked = 0
        self.reconnects = 0
        self._seq = itertools.count()
        self._outbox: collections.deque[tuple[int, Message]] = collections.deque()
        self._unacked: dict[int, Message] = {}  # published on the current connection, not yet acknowledged
        self._ready = asyncio.Event()  # the outbox has something
        self._slots = asyncio.Semaphore(WINDOW)
        self._idle = asyncio.Event()
        self._idle.set()
        self._runner: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._runner = asyncio.create_task(self._run(), name="faults.publisher")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await self.drain()
        finally:
            if self._runner is not None:
                self._runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._runner

    async def send(self, message: Message) -> None:
        await self._slots.acquire()
        self._idle.clear()
        self._outbox.append((next(self._seq), message))
        self.sent += 1
        self._ready.set()

    async def drain(self) -> None:
        """Until every message handed over so far is acknowledged."""
        await self._idle.wait()

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                async with self._client() as client:
                    backoff.reset()
                    # What was in flight when the last connection dropped goes first, in order.
                    self._outbox.extendleft(sorted(self._unacked.items(), reverse=True))
                    self.republished += len(self._unacked)
                    self._unacked.clear()
                    if self._outbox:
                        self._ready.set()  # senders may all be waiting for a slot these hold
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._watch(client))
                        while True:
                            await self._ready.wait()
                            while self._outbox:
                                seq, message = self._outbox.popleft()
                                self._unacked[seq] = message
                                self.published += 1
                                tg.create_task(self._publish(client, seq, message))
                            self._ready.clear()
            except* aiomqtt.MqttError as failed:
                self.reconnects += 1
                delay = backoff.next_delay()
                log.info("publisher: %s; reconnecting in %.1f s", failed.exceptions[0], delay)
                await asyncio.sleep(delay)

    def _client(self) -> aiomqtt.Client:
        client = aiomqtt.Client(
            self.url.host,
            self.url.port,
            username=self.url.username,
            password=self.url.password,
            identifier=client_id("faults"),
            max_inflight_messages=WINDOW,
            timeout=10,
        )
        client.pending_calls_threshold = WINDOW + 1
        return client

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        """Raises MqttError when the connection drops: publishes waiting for their ack never would."""
        async for _ in client.messages:
            pass

    async def _publish(self, client: aiomqtt.Client, seq: int, message: Message) -> None:
        await client.publish(message.topic, message.payload, qos=1, timeout=math.inf)
        if self._unacked.pop(seq, None) is None:
            return
        self.acked += 1
        self.on_ack(message)
        self._slots.release()
        if not self._unacked and not self._outbox:
            self._idle.set()
