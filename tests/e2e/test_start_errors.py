"""Start-up problems as an operator meets them: one line naming the setting or the port, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from parking_hub.embedded import free_port
from tests.integration.hub import lot_feature, write_registry

NOBODY = "redis://127.0.0.1:1/0"  # port 1: nothing listens, so a connection is refused at once


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parking_hub", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines that are not log records (those start with a date)."""
    assert "Traceback" not in result.stderr, result.stderr
    assert "ExceptionGroup" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if not line[:2].isdigit()]


def in_use(port: int) -> str:
    return (
        f"parking-hub: error: --http (PARKING_HUB_HTTP): port {port} on 127.0.0.1 is in use by "
        "another program; stop it or choose another host:port"
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        yield holder.getsockname()[1]


def test_an_http_address_that_is_no_address_exits_2_naming_the_setting() -> None:
    result = run("serve", "--http", "nonsense", "--redis-url", NOBODY)
    assert result.returncode == 2
    assert error_lines(result) == [
        (
            "parking-hub: error: --http (PARKING_HUB_HTTP): 'nonsense' is no address of this machine "
            "(Name or service not known); give host:port, like 127.0.0.1:8080"
        )
    ]


def test_a_busy_port_exits_2_naming_the_port(busy_port: int) -> None:
    result = run("serve", "--http", f"127.0.0.1:{busy_port}", "--redis-url", NOBODY)
    assert result.returncode == 2
    assert error_lines(result) == [in_use(busy_port)]


def test_the_demo_on_a_busy_port_says_so_in_one_line(busy_port: int) -> None:
    result = run("demo", "--http", f"127.0.0.1:{busy_port}", timeout=120)
    assert result.returncode == 2
    lines = [line for line in error_lines(result) if line.startswith("parking-hub")]
    assert lines == [in_use(busy_port)]


def test_loading_lots_with_redis_unreachable_names_the_url_and_what_to_do(tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "lots.json", [lot_feature("a-1", 120.0, 36.0, 2)])
    result = run("lots", "load", "--redis-url", "redis://:secret@127.0.0.1:1/0", str(registry))
    assert result.returncode == 3
    [line] = error_lines(result)
    assert line.startswith("parking-hub: cannot reach Redis at redis://:***@127.0.0.1:1/0 (")
    assert line.endswith("); start Redis or point --redis-url (PARKING_HUB_REDIS_URL) at it")
    assert "RedisTarget" not in line
    assert "secret" not in line
