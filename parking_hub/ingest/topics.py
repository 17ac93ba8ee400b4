"""The MQTT topic tree the hub reads and writes (contract section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Mosquitto's count of the messages it dropped, for all its clients (see ingest/broker_drops.py).
BROKER_DROPPED = "$SYS/broker/publish/messages/dropped"


class TopicKind(StrEnum):
    EVENTS = "events"
    BERTH = "berth"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    kind: TopicKind
    lot: str
    berth: str | None = None


class Topics:
    """Topic names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._lots = f"{prefix}/v1/lots/"

    def subscriptions(self) -> list[str]:
        return [
            f"{self._lots}+/events",
            f"{self._lots}+/berths/+",
            f"{self._lots}+/status",
        ]

    def parse(self, topic: str) -> ParsedTopic | None:
        """The kind and lot of an inbound topic, or None when it is not one the hub reads."""
        if not topic.startswith(self._lots):
            return None
        parts = topic[len(self._lots) :].split("/")
        if len(parts) == 2 and parts[1] == "events":
            return ParsedTopic(TopicKind.EVENTS, parts[0])
        if len(parts) == 2 and parts[1] == "status":
            return ParsedTopic(TopicKind.STATUS, parts[0])
        if len(parts) == 3 and parts[1] == "berths":
            return ParsedTopic(TopicKind.BERTH, parts[0], parts[2])
        return None

    def resync(self, lot: str) -> str:
        return f"{self._lots}{lot}/resync"

    def errors(self, lot: str | None) -> str:
        return f"{self._lots}{lot}/errors" if lot else f"{self.prefix}/v1/errors"
