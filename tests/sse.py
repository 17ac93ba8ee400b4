"""A small Server-Sent Events reader for the tests: events as (id, name, data) from a live response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson


@dataclass(frozen=True)
class Event:
    id: str
    name: str
    data: Any


async def next_event(response: aiohttp.ClientResponse) -> Event:
    """The next event, skipping comments and the retry field."""
    fields: dict[str, str] = {}
    while True:
        line = (await response.content.readline()).decode()
        if not line:
            raise ConnectionError("the stream ended")
        line = line.rstrip("\n")
        if line == "":
            if "data" in fields:
                return Event(
                    fields.get("id", ""), fields.get("event", "message"), orjson.loads(fields["data"])
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


async def events(response: aiohttp.ClientResponse, count: int) -> list[Event]:
    return [await next_event(response) for _ in range(count)]
