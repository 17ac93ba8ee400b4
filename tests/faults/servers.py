"""The processes a fault harness breaks: Redis and Mosquitto started with the configs in deploy/
(AOF; persistence and authentication), each restartable on the same port and data directory, and
the hub as a process of its own, so it can be killed with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Self

from parking_hub.embedded import die_with_parent, free_port, managed_process, redis_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
HUB_USER, GATEWAY_USER, PASSWORD = "hub", "simulator", "fault-harness"  # users of deploy/mosquitto/acl


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


def missing_programs() -> list[str]:
    """The programs the harness needs that are not installed (Debian: redis-server, mosquitto)."""
    found = {
        "redis-server": shutil.which("redis-server"),
        "mosquitto": mosquitto_binary(),
        "mosquitto_passwd": shutil.which("mosquitto_passwd"),
    }
    return [name for name, path in found.items() if path is None]


class Restartable:
    """A server process that can be stopped and started again with the same arguments."""

    def __init__(self, name: str, args: list[str], port: int, workdir: Path) -> None:
        self.name = name
        self.args = args
        self.port = port
        self.workdir = workdir
        self.restarts = 0
        self._stack = contextlib.ExitStack()

    def start(self) -> None:
        self._stack.enter_context(managed_process(self.args, self.port, self.name, self.workdir))

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file, Mosquitto its persistence file."""
        self._stack.close()

    def restart(self) -> None:
        self.stop()
        self.start()
        self.restarts += 1

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def deploy_redis(workdir: Path) -> Restartable:
    """deploy/redis/redis.conf (appendonly, everysec, noeviction) on a free loopback port."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = str(DEPLOY / "redis" / "redis.conf")
    args = [redis_binary(), conf, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
    return Restartable("redis", args, port, workdir)


def deploy_mosquitto(workdir: Path) -> Restartable:
    """deploy/mosquitto/mosquitto.conf (persistence, password file) and deploy/mosquitto/acl on a
    free loopback port, with passwords for the ACL's hub and simulator users."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    conf = re.sub(r"/mosquitto/(config|data|auth)/", f"{workdir}/", conf)
    # Started as root, mosquitto would switch to its own user, which also drops die_with_parent.
    conf += f"user {getpass.getuser()}\n"
    (workdir / "mosquitto.conf").write_text(conf)
    passwd = workdir / "passwd"
    for n, user in enumerate((HUB_USER, GATEWAY_USER)):
        create = ["-c"] if n == 0 else []
        subprocess.run(["mosquitto_passwd", "-b", *create, str(passwd), user, PASSWORD], check=True)
    shutil.copyfile(DEPLOY / "mosquitto" / "acl", workdir / "acl")
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("mosquitto is not installed")
    return Restartable("mosquitto", [binary, "-c", str(workdir / "mosquitto.conf")], port, workdir)


def mqtt_url(broker: Restartable, user: str) -> str:
    return f"mqtt://{user}:{PASSWORD}@127.0.0.1:{broker.port}"


def redis_url(redis: Restartable) -> str:
    return f"redis://127.0.0.1:{redis.port}/0"


class HubProcess:
    """`python -m parking_hub serve` with a stable client id, so each start resumes one session."""

    def __init__(self, redis: str, mqtt: str, client_id: str, prefix: str, log: Path, *extra: str) -> None:
        self.log = log
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.args = [
            *("--redis-url", redis, "--mqtt-url", mqtt, "--http", f"127.0.0.1:{self.port}"),
            *("--client-id", client_id, "--topic-prefix", prefix),
            *extra,
        ]
        self.kills = 0
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "parking_hub",
                "serve",
                *self.args,
                stdout=out,
                stderr=out,
                preexec_fn=die_with_parent,
            )

    async def kill(self) -> None:
        """SIGKILL, at whatever point the hub is: batches half written, messages not acknowledged."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
            self.kills += 1

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 30)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""
