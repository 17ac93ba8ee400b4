"""Resync requests (contract 7.4): the hub asks a gateway to send every berth's state again.

The hub publishes `{prefix}/v1/lots/{lot}/resync` with `{"gateway", "reason", "missing_from", "ts"}`
when a gateway's `seq` skips numbers. `ResyncRequests` listens for them and keeps the lots whose
gateway this process plays until the publishing loop asks for its answers: they go out between
the traffic's own frames, so each gateway's `seq` stays in order on the wire.
"""

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiomqtt
import orjson

from sensors_sim.gateways import Gateways, ResyncFrame
from sensors_sim.publish import CONNECT_TIMEOUT_S, MqttUrl, client_id

# What a request holds, and the type of each field (contract 7.4).
FIELDS: dict[str, type] = {"gateway": str, "reason": str, "missing_from": int, "ts": int}


class RequestError(ValueError):
    """A message on a resync topic that is not a request of the contract's form."""


@dataclass(frozen=True, slots=True)
class Request:
    lot_id: str
    gateway: str
    reason: str
    missing_from: int
    ts: int


def topic_filter(prefix: str) -> str:
    return f"{prefix}/v1/lots/+/resync"


def parse(prefix: str, topic: str, payload: bytes) -> Request:
    """One request, or RequestError saying what is wrong with it."""
    head, tail = f"{prefix}/v1/lots/", "/resync"
    lot_id = topic[len(head) : -len(tail)]
    if not topic.startswith(head) or not topic.endswith(tail) or not lot_id or "/" in lot_id:
        raise RequestError(f"not a resync topic: {topic}")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise RequestError("the payload is not JSON") from None
    if not isinstance(body, dict):
        raise RequestError("the payload is not a JSON object")
    for name, kind in FIELDS.items():
        value = body.get(name)
        # JSON true/false are Python bools, which are ints too.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise RequestError(f"{name} is missing or not a {kind.__name__}")
    return Request(lot_id, body["gateway"], body["reason"], body["missing_from"], body["ts"])


@dataclass(slots=True)
class ResyncCounts:
    answered: int = 0  # requests answered; several for one lot before an answer get one
    frames: int = 0
    events: int = 0
    others: int = 0  # for gateways this process does not play
    unreadable: int = 0

    def line(self) -> str:
        return (
            f"resync: answered {self.answered:,} requests with {self.frames:,} frames "
            f"({self.events:,} events); {self.others:,} for other gateways, {self.unreadable:,} unreadable"
        )


class ResyncRequests:
    """Listens on `{prefix}/v1/lots/+/resync` for requests naming one of `gateways`."""

    def __init__(self, url: MqttUrl, prefix: str, gateways: Gateways) -> None:
        self._url = url
        self._prefix = prefix
        self._gateways = gateways
        self._due: dict[int, None] = {}  # lots asked, in the order asked
        self._client: aiomqtt.Client | None = None
        self._listener: asyncio.Task[None] | None = None
        self.counts = ResyncCounts()

    async def __aenter__(self) -> Self:
        client = aiomqtt.Client(
            self._url.host,
            self._url.port,
            username=self._url.username,
            password=self._url.password,
            identifier=client_id("resync"),
            tls_context=self._url.tls_context(),
            timeout=CONNECT_TIMEOUT_S,
        )
        await client.__aenter__()
        self._client = client
        await client.subscribe(topic_filter(self._prefix), qos=1)
        self._listener = asyncio.create_task(self._listen(client), name="sensors-sim.resync")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._client is not None:
            await self._client.__aexit__(exc_type, exc, tb)

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            self.received(message.topic.value, payload)

    def received(self, topic: str, payload: bytes) -> None:
        try:
            request = parse(self._prefix, topic, payload)
        except RequestError as exc:
            if not self.counts.unreadable:
                print(f"sensors-sim: ignored a resync request: {exc}", file=sys.stderr, flush=True)
            self.counts.unreadable += 1
            return
        lot = self._gateways.lot_of(request.lot_id, request.gateway)
        if lot is None:
            self.counts.others += 1
        else:
            self._due[lot] = None

    def answers(self) -> list[tuple[int, ResyncFrame]]:
        """The frames that answer what was asked since last time: each lot asked, once, as a whole."""
        if self._listener is not None and self._listener.done():
            self._listener.result()  # the connection failed: say why
        lots, self._due = list(self._due), {}
        out = [(lot, frame) for lot in lots for frame in self._gateways.resync(lot)]
        self.counts.answered += len(lots)
        self.counts.frames += len(out)
        self.counts.events += sum(len(frame.berth) for _, frame in out)
        return out
