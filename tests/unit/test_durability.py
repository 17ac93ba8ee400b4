"""--ack-after: the command that ends a write pipeline, and how its replies are judged."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from parking_hub.config import AckAfter
from parking_hub.store.durability import WAIT_TIMEOUT_MS, NotDurable, check, wait_command


def test_each_setting_ends_a_write_pipeline_with_its_command() -> None:
    assert wait_command(AckAfter.WRITE) == ()
    assert wait_command(AckAfter.REPLICA) == ("WAIT", 1, WAIT_TIMEOUT_MS)
    assert wait_command(AckAfter.FSYNC) == ("WAITAOF", 1, 0, WAIT_TIMEOUT_MS)


def test_replica_needs_every_node_to_have_a_replica_confirm() -> None:
    check(AckAfter.REPLICA, {"a:1": 1, "b:2": 2})
    with pytest.raises(NotDurable, match=r"^b:2: no replica acknowledged the writes within 1000 ms$"):
        check(AckAfter.REPLICA, {"a:1": 1, "b:2": 0})


def test_fsync_needs_the_local_fsync_on_every_node() -> None:
    check(AckAfter.FSYNC, {"a:1": [1, 0]})
    with pytest.raises(NotDurable, match="the AOF was not fsynced"):
        check(AckAfter.FSYNC, {"a:1": [1, 0], "b:2": [0, 1]})


def test_a_node_that_failed_its_wait_raises_its_error() -> None:
    with pytest.raises(RedisConnectionError):
        check(AckAfter.REPLICA, {"a:1": RedisConnectionError("gone")})
