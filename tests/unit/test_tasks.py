"""A cancellation that redis-py reports as a connection error still cancels."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from parking_hub.tasks import raise_if_cancelling


async def test_a_cancel_disguised_as_a_redis_error_is_raised_again() -> None:
    swallowed = asyncio.Event()

    async def retry_loop() -> None:
        while True:
            try:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    raise RedisConnectionError("Connection closed by server.") from None
            except RedisError as exc:
                swallowed.set()
                raise_if_cancelling(exc)

    task = asyncio.create_task(retry_loop())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert swallowed.is_set()


async def test_a_real_redis_error_is_left_to_the_caller() -> None:
    try:
        raise RedisConnectionError("down")
    except RedisError as exc:
        raise_if_cancelling(exc)  # not cancelling: returns, so the caller's retry goes on


async def test_a_cancel_that_was_eaten_whole_is_raised_at_the_next_checkpoint() -> None:
    """redis-py sometimes returns normally from a cancelled pipeline; the loop's checkpoint stops it."""
    turns = 0

    async def loop() -> None:
        nonlocal turns
        while True:
            raise_if_cancelling()
            turns += 1
            with contextlib.suppress(asyncio.CancelledError):  # a library eating the cancel
                await asyncio.sleep(10)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert turns == 1
