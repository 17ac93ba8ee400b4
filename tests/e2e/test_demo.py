"""The demo as a user runs it: one process, the seed city live within 60 s, a clean Ctrl+C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from parking_hub.embedded import free_port

pytestmark = pytest.mark.integration


async def summary(session: aiohttp.ClientSession, base: str) -> dict[str, Any] | None:
    try:
        async with session.get(f"{base}/v1/summary") as resp:
            if resp.status != 200:
                return None
            body: dict[str, Any] = await resp.json()
            return body
    except aiohttp.ClientError:
        return None


async def test_demo_brings_up_the_seed_city_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "parking_hub", "demo", "--http", f"127.0.0.1:{port}", stdout=out, stderr=out
        )
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            first: dict[str, Any] | None = None
            while time.monotonic() < deadline:
                body = await summary(session, base)
                if body and body["lots"] == 706 and body["events_applied"] > 0:
                    first = body
                    break
                await asyncio.sleep(0.5)
            assert first is not None, "the demo did not serve the seed city within 60 s"
            assert first["berths"] == 188_000
            await asyncio.sleep(2)
            later = await summary(session, base)
            assert later is not None
            assert later["events_applied"] > first["events_applied"]
            assert later["free"] > 0
            assert later["free"] + later["occupied"] + later["unknown"] == 188_000
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 30)
        output = log.read_text()
        assert proc.returncode == 0, output
        assert "Press Ctrl+C to stop" in output
        assert f"dashboard   {base}/\n" in output
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
