"""The Redis layout on a cluster: a lot's keys share a slot, city-wide sets and notices spread out."""

from __future__ import annotations

from typing import Any

from redis.crc import key_slot

from parking_hub.store import notices, redis_keys

SLOTS = 16384


def slot(key: str) -> int:
    return int(key_slot(key.encode()))


def test_every_key_of_a_lot_is_on_the_lot_slot() -> None:
    for lot in ("qd-0001", "a", "x_9-z"):
        lot_keys = [
            redis_keys.occupancy(lot),
            redis_keys.reports(lot),
            redis_keys.meta(lot),
            redis_keys.registry(lot),
        ]
        assert len({slot(key) for key in lot_keys}) == 1, lot


def test_the_lot_index_shards_spread_over_every_third_of_the_slots() -> None:
    shards = [slot(redis_keys.lot_index(n)) for n in range(redis_keys.SHARDS)]
    assert len(set(shards)) == redis_keys.SHARDS
    # A 3-primary cluster splits the slots in thirds: each primary holds some of the shards.
    assert {s * 3 // SLOTS for s in shards} == {0, 1, 2}


def test_lots_group_by_shard_and_every_lot_lands_in_one() -> None:
    lots = [f"lot-{i}" for i in range(200)]
    grouped = redis_keys.by_shard(lots)
    assert sorted(lot for ids in grouped.values() for lot in ids) == sorted(lots)
    assert all(redis_keys.shard_of(lot) == shard for shard, ids in grouped.items() for lot in ids)
    assert len(grouped) == redis_keys.SHARDS  # 200 ids fill all 16 shards


class RecordingPipe:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def publish(self, channel: str, message: str) -> Any:
        self.calls.append(("publish", channel, message))

    def spublish(self, channel: str, message: str) -> Any:
        self.calls.append(("spublish", channel, message))


def test_a_change_notice_is_one_publish_standalone_and_one_spublish_per_shard_on_a_cluster() -> None:
    lots = ["a", "b", "c", "d", "e"]
    standalone = RecordingPipe()
    notices.queue_changes(standalone, lots, cluster=False)
    assert standalone.calls == [("publish", redis_keys.CHANGES_CHANNEL, "a b c d e")]

    cluster = RecordingPipe()
    notices.queue_changes(cluster, lots, cluster=True)
    assert {kind for kind, _, _ in cluster.calls} == {"spublish"}
    told = {lot: channel for _, channel, message in cluster.calls for lot in message.split()}
    assert told == {lot: redis_keys.changes_shard(redis_keys.shard_of(lot)) for lot in lots}
    assert set(told.values()) <= set(notices.change_channels(cluster=True))


def test_no_notice_for_no_lots() -> None:
    pipe = RecordingPipe()
    notices.queue_changes(pipe, [], cluster=True)
    assert pipe.calls == []
