"""The broker's own count of messages it dropped, where it publishes one (Mosquitto's `$SYS` tree).

A broker drops QoS 1 messages for a subscriber whose queue is full (Mosquitto's
`max_queued_messages`, 1,000 by default): the hub never sees them, so only the broker can tell.
Mosquitto counts drops for all its clients together, so a rise says that something lost messages,
and the hub's `seq` gaps say which lots.
"""

from __future__ import annotations

import logging

from parking_hub.observe import Metrics

log = logging.getLogger(__name__)


class BrokerDrops:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._last: int | None = None

    def see(self, payload: bytes) -> None:
        text = payload.decode("ascii", "replace").strip()
        if not text.isdigit():
            return
        dropped = int(text)
        self._metrics.broker_dropped.set(dropped)
        if self._last is not None and dropped > self._last:
            log.warning(
                "the MQTT broker dropped %d messages in all (%d more); if they were the hub's, raise the "
                "broker's max_queued_messages (0 is no limit) and see parking_hub_ingest_seq_gaps_total",
                dropped,
                dropped - self._last,
            )
        self._last = dropped
