"""The one retry loop: delays that grow and stay capped, errors retried, a stop that always stops."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from parking_hub.backoff import BASE_S, CAP_S, Backoff, retry


def test_delays_double_up_to_the_cap_and_start_again_after_a_reset() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay() for _ in range(40)]
    assert all(0 <= d <= min(CAP_S, BASE_S * 2**n) for n, d in enumerate(delays))
    assert max(delays[10:]) > BASE_S * 2**4  # they grow: 30 draws up to 10 s all under 1.6 s: 0.16**30
    backoff.reset()
    assert backoff.next_delay() <= BASE_S


async def test_errors_are_retried_until_the_step_returns() -> None:
    failures: list[tuple[str, float]] = []
    attempts = 0

    async def step() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RedisConnectionError(f"down {attempts}")
        return "written"

    def failed(exc: Exception, delay: float) -> None:
        failures.append((str(exc), delay))

    assert await retry(step, (RedisError,), failed) == "written"
    assert [message for message, _ in failures] == ["down 1", "down 2"]
    assert failures[0][1] <= BASE_S
    assert failures[1][1] <= 2 * BASE_S


async def test_other_errors_are_left_to_the_caller() -> None:
    async def step() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await retry(step, (RedisError,), lambda exc, delay: pytest.fail("retried"))


async def test_a_stop_disguised_as_an_error_ends_the_loop() -> None:
    """redis-py with hiredis reports a cancelled read as a lost connection."""
    started = asyncio.Event()
    failures: list[Exception] = []

    async def step() -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RedisConnectionError("Connection closed by server.") from None

    task = asyncio.create_task(retry(step, (RedisError,), lambda exc, delay: failures.append(exc)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert failures == []
