"""Redis data nodes on loopback ports that a test can kill (SIGKILL) and start again on the same port
and data directory: the replicated setups of embedded_sentinel and embedded_cluster."""

from __future__ import annotations

import signal
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from redis import Redis
from redis.exceptions import RedisError

from parking_hub.embedded import managed_process


@dataclass(slots=True)
class DataNodes:
    binary: str
    workdir: Path
    appendonly: bool
    extra_args: list[str] = field(default_factory=list)  # the same for every node
    running: dict[int, tuple[ExitStack, Popen[bytes]]] = field(default_factory=dict)  # by port

    def start(self, port: int, *args: str) -> None:
        """A node on `port`; one started again after `kill` finds its data directory as it left it."""
        node_dir = self.workdir / f"node-{port}"
        node_dir.mkdir(parents=True, exist_ok=True)
        argv = [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir), "--save", ""]
        argv += ["--appendonly", "yes" if self.appendonly else "no", *self.extra_args, *args]
        stack = ExitStack()
        proc = stack.enter_context(managed_process(argv, port, f"redis-{port}", node_dir))
        self.running[port] = (stack, proc)

    def kill(self, port: int) -> None:
        """SIGKILL: no last write to disk, no goodbye to its replicas."""
        stack, proc = self.running.pop(port)
        proc.kill()
        proc.wait()
        stack.close()

    def pause(self, port: int, paused: bool = True) -> None:
        """SIGSTOP (or SIGCONT): a node that takes nothing in, as on a stalled host or network."""
        self.running[port][1].send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def close(self) -> None:
        for stack, _ in self.running.values():
            stack.close()
        self.running.clear()


def role(port: int) -> str | None:
    """ "master" or "slave" (ROLE's first word), or None when the node does not answer."""
    try:
        with Redis(port=port, decode_responses=True, socket_timeout=1) as node:
            return str(node.execute_command("ROLE")[0])
    except RedisError:
        return None
