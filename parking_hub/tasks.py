"""Background loops: run together until one of them loses its connection, and stopped when asked."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any


async def until_first_error(
    loops: Mapping[str, Coroutine[Any, Any, None]], errors: tuple[type[Exception], ...]
) -> None:
    """Run `loops` in a TaskGroup until one raises one of `errors`; stop the rest, raise that one.

    A guard hands a loop's error to the group's body rather than failing the group, which on Python
    3.11 can leave a cancel on the parent (docs/reliability.md, "Cancellations the libraries lose").
    """
    lost: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def guard(loop: Coroutine[Any, Any, None]) -> None:
        try:
            await loop
        except errors as exc:
            if not lost.done():
                lost.set_result(exc)

    try:
        async with asyncio.TaskGroup() as tg:
            for name, loop in loops.items():
                tg.create_task(guard(loop), name=name)
            raise await lost
    except* errors as group:
        raise group.exceptions[0] from None


def raise_if_cancelling(cause: BaseException | None = None) -> None:
    """Raise CancelledError when this task was asked to stop but a library ate the request. Every
    loop that talks to Redis calls it at the top of each turn and in its error handler, so that Ctrl+C
    and SIGTERM always stop the process (docs/reliability.md, "Cancellations the libraries lose")."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from cause
