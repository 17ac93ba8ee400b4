"""Upstream loss, found: frame counters that skip numbers (contract 7.4).

A gateway numbers its batch frames with `seq`, a LoRaWAN device its uplinks with `f_cnt`. Per
sender, the hub keeps the last number it saw; a number past the next one means messages were lost
on the way (a gateway's own outage, a broker that dropped them). A restarted gateway starts again
at 0 or 1, and a rejoined device at 0, without a gap; a restart carries newer reports than any the
sender sent before, which tells it from a duplicate of an old first message. Any other number not
above the last is a duplicate or a late arrival: it changes nothing here, as the order rule makes
it harmless.

Each process tracks what it reads, so with a shared subscription that deals a sender's messages to
several processes round robin, every process would see gaps that are not there: the service turns
tracking off under `--share-group`.
"""

from __future__ import annotations

# Senders remembered (about 370 bytes each); past this the first remembered is forgotten, and its
# next number is taken as its first: no false gap.
MAX_SENDERS = 100_000


class CounterGaps:
    """The last counter per sender; `see` says where a gap begins."""

    def __init__(self, restarts: tuple[int, ...], max_senders: int = MAX_SENDERS) -> None:
        self._restarts = restarts
        self._max = max_senders
        self._last: dict[tuple[str, str], tuple[int, int]] = {}  # (lot, sender) -> (counter, newest ts)

    def see(self, lot: str, sender: str, counter: int, newest_ts: int) -> int | None:
        """The first missing number when `counter` skips some, else None. `newest_ts` is the newest
        report time the message carries (0 when none)."""
        key = (lot, sender)
        last = self._last.get(key)
        if last is None:
            if len(self._last) >= self._max:
                del self._last[next(iter(self._last))]
            self._last[key] = (counter, newest_ts)
            return None
        last_counter, last_ts = last
        if counter in self._restarts and newest_ts > last_ts:
            self._last[key] = (counter, newest_ts)
            return None
        if counter <= last_counter:
            return None
        self._last[key] = (counter, max(newest_ts, last_ts))
        return None if counter == last_counter + 1 else last_counter + 1
