"""`serve --role api --workers N`: N API processes on one port, started and stopped together.

Each worker is a whole `--role api` process with its own mirror of Redis; they share nothing but
the port, bound by each with SO_REUSEPORT, on which the kernel spreads new connections. The
parent only supervises. SIGINT or SIGTERM stops every worker gracefully, a second signal ends
them at once, and a worker that exits by itself stops the others, so that whatever supervises the
parent (systemd, Kubernetes) sees the failure and restarts the whole.

The workers are forked before any of them has an event loop, a Redis connection or the compiled
search loaded. They stop when the parent closes a pipe rather than on a forwarded signal: a
terminal's Ctrl-C, or systemd stopping the unit, signals every process of the group already, and
a second signal would end a worker at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import wait
from types import FrameType

log = logging.getLogger(__name__)

EXIT_FORCED = 1

Work = Callable[[int], None]  # runs one worker until the file descriptor it is given reads EOF


def _worker(work: Work, stop_fd: int, stop_write_fd: int) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)  # the parent's handlers; the worker sets its own
    os.close(stop_write_fd)  # so that the pipe closes when the parent's end does
    work(stop_fd)


def supervise(count: int, work: Work) -> int:
    """Runs `work` in `count` processes until a signal or the first exit; returns the exit code."""
    stop_fd, stop_write_fd = os.pipe()
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_worker, args=(work, stop_fd, stop_write_fd), name=f"worker-{k}")
        for k in range(1, count + 1)
    ]
    stopping = False

    def stop(reason: str) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            log.info("stopping %d workers: %s", count, reason)
            os.close(stop_write_fd)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not stopping:
            stop(f"{signal.Signals(signum).name}; send it again to end them at once")
            return
        log.error("ending the workers without a clean shutdown: second %s", signal.Signals(signum).name)
        for worker in workers:
            if worker.is_alive():
                worker.kill()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    for worker in workers:
        worker.start()
    os.close(stop_fd)
    log.info("started %d workers: pids %s", count, ", ".join(str(w.pid) for w in workers))
    running = list(workers)
    while running:
        wait([w.sentinel for w in running])
        for worker in [w for w in running if not w.is_alive()]:
            running.remove(worker)
            stop(f"{worker.name} (pid {worker.pid}) exited with code {worker.exitcode}")
    codes = [w.exitcode or 0 for w in workers]
    failed = [code for code in codes if code != 0]
    return (failed[0] if failed[0] > 0 else EXIT_FORCED) if failed else 0
