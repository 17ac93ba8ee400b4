"""`parking-hub`: serve, lots load, demo. Thin: parse, configure logging, build settings, run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from parking_hub import __version__, logs
from parking_hub.broker_acl import DEFAULT_HUB_USER, AclError
from parking_hub.broker_logins import LoginError
from parking_hub.config import (
    HTTP,
    LOG_FORMAT,
    MAP_ATTRIBUTION,
    MAP_TILES,
    REDIS_URL,
    SETTINGS,
    TOPIC_PREFIX,
    Setting,
    SettingError,
    Settings,
    build_settings,
)
from parking_hub.registry import RegistryError

log = logging.getLogger("parking_hub")

EXIT_BAD_SETTING = 2
EXIT_FORCED = 1
# A stop that takes longer ends the process at once; below Kubernetes' default 30 s grace period.
PROCESS_SHUTDOWN_TIMEOUT_S = 20.0
# What a 2-core machine carries with the hub, Redis, broker and simulator on it, with room to spare:
# see "The demo" in docs/reliability.md.
DEMO_RATE = 250.0


def _add_settings(parser: argparse.ArgumentParser, settings: Sequence[Setting[Any]]) -> None:
    for setting in settings:
        parser.add_argument(
            setting.flag,
            default=None,
            help=f"{setting.help} [${setting.env}; default {setting.shown_default}]",
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parking-hub",
        description="Real-time citywide parking availability: MQTT in, nearest free space out.",
    )
    parser.add_argument("--version", action="version", version=f"parking-hub {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    _add_settings(parser, [LOG_FORMAT])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the hub: MQTT ingest and the HTTP API")
    _add_settings(serve, [setting for setting in SETTINGS if setting is not LOG_FORMAT])

    lots = commands.add_parser("lots", help="manage the lot registry")
    lots_commands = lots.add_subparsers(dest="lots_command", required=True)
    load = lots_commands.add_parser("load", help="validate registry files and load them into Redis")
    load.add_argument("files", nargs="+", type=Path, metavar="FILE")
    load.add_argument(
        "--prune",
        action="store_true",
        help="then remove the lots of the files' operators that none of the files lists any more",
    )
    _add_settings(load, [REDIS_URL])
    remove = lots_commands.add_parser(
        "remove",
        help="remove lots from Redis: their registry entries, state and devices; running hubs drop them",
    )
    remove.add_argument("ids", nargs="+", metavar="ID")
    _add_settings(remove, [REDIS_URL])
    acl = lots_commands.add_parser(
        "acl",
        help="write Mosquitto's dynamic-security configuration from registry files and a password file: "
        "each operator publishes only to its lots, and only the hub reads them",
    )
    acl.add_argument("files", nargs="+", type=Path, metavar="FILE")
    acl.add_argument(
        "--passwd", type=Path, required=True, help="the logins, a password file written by mosquitto_passwd"
    )
    acl.add_argument("-o", "--output", type=Path, help="write the configuration here instead of stdout")
    acl.add_argument(
        "--hub-user",
        action="append",
        help=f"a login of the hub, one per ingest process (repeat it) [{DEFAULT_HUB_USER}]",
    )
    acl.add_argument(
        "--network-server", action="append", default=[], help="a LoRaWAN network server's login (repeat it)"
    )
    _add_settings(acl, [TOPIC_PREFIX])

    keys = commands.add_parser("keys", help="API keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    new_key = keys_commands.add_parser(
        "new", help="make a key: its --api-keys-file line goes to stdout, the key itself to stderr"
    )
    new_key.add_argument("key_id", metavar="KEY_ID", help="a name for the client, 1-64 of [A-Za-z0-9_.-]")

    demo = commands.add_parser("demo", help="run everything on private servers: hub, seed city, simulator")
    _add_settings(demo, [HTTP, MAP_TILES, MAP_ATTRIBUTION])
    demo.add_argument(
        "--rate",
        type=float,
        default=DEMO_RATE,
        help="the simulated city's true berth changes (arrivals and departures) per second, a day's "
        "average; the seed city sends about 2 MQTT messages and 3 events per change, as heartbeats, "
        f"start-up reports and resyncs come on top, and a native frame carries many events [{DEMO_RATE:.0f}]",
    )
    return parser


def _resolved(args: argparse.Namespace) -> dict[str, str]:
    """Each setting's text: its flag where the command has one, else its environment variable, else
    its default."""
    return {s.name: s.resolve(getattr(args, s.name.replace("-", "_"), None)) for s in SETTINGS}


def _fail(message: str) -> NoReturn:
    for line in message.splitlines():
        print(f"parking-hub: error: {line}", file=sys.stderr)
    sys.exit(EXIT_BAD_SETTING)


def run_until_signalled(main: Coroutine[Any, Any, None], stop_fd: int | None = None) -> None:
    """Run a coroutine; SIGINT or SIGTERM cancels it so every context manager closes in order.

    A second signal, or a shutdown that outlasts PROCESS_SHUTDOWN_TIMEOUT_S, ends the process at once.
    stop_fd: a pipe's reading end; its end of file (the supervising process stopping or gone)
    cancels the coroutine as a first signal would.
    """

    async def runner() -> None:
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()

        def force_exit(reason: str) -> None:
            log.error("exiting without a clean shutdown: %s", reason)
            os._exit(EXIT_FORCED)

        def shut_down(why: str) -> None:
            log.info("shutting down %s", why)
            task.cancel()
            loop.call_later(
                PROCESS_SHUTDOWN_TIMEOUT_S,
                force_exit,
                f"shutdown took over {PROCESS_SHUTDOWN_TIMEOUT_S:.0f} s",
            )

        def on_signal(sig: signal.Signals) -> None:
            if task.cancelling():
                force_exit(f"second {sig.name}")
            shut_down(f"on {sig.name}; send it again to exit at once")

        def on_supervisor_stopping(fd: int) -> None:
            loop.remove_reader(fd)
            if not task.cancelling():
                shut_down("with the workers' supervisor")

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        if stop_fd is not None:
            loop.add_reader(stop_fd, on_supervisor_stopping, stop_fd)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())


def _new_key(key_id: str) -> None:
    from parking_hub.credentials import new_key

    try:
        key, line = new_key(key_id)
    except ValueError as exc:
        _fail(str(exc))
    print(line)
    print(f"the key for {key_id} (shown once; give it to the client): {key}", file=sys.stderr)


@contextlib.contextmanager
def _errors_reported() -> Iterator[None]:
    """A setting, registry or login error ends the process with its message and EXIT_BAD_SETTING."""
    try:
        yield
    # except*: the demo starts the hub in a task group, which wraps a start-up error in a group.
    except* (SettingError, RegistryError, AclError, LoginError) as group:
        _fail(str(_first_leaf(group)))


def _serve(settings: Settings, stop_fd: int | None = None) -> None:
    from parking_hub.service import serve

    with _errors_reported():
        run_until_signalled(serve(settings), stop_fd)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    values = _resolved(args)
    with _errors_reported():
        logs.configure("DEBUG" if args.verbose else "INFO", LOG_FORMAT.read(values))
        settings = build_settings(values)
        if args.command == "serve" and settings.workers > 1:
            from parking_hub.workers import supervise

            sys.exit(supervise(settings.workers, functools.partial(_serve, settings)))
        elif args.command == "serve":
            _serve(settings)
        elif args.command == "lots" and args.lots_command == "acl":
            from parking_hub.broker_acl import write_acl

            hub_users = args.hub_user or [DEFAULT_HUB_USER]
            write_acl(
                args.files,
                args.passwd,
                prefix=settings.topic_prefix,
                hub_users=hub_users,
                network_servers=args.network_server,
                output=args.output,
            )
        elif args.command == "lots" and args.lots_command == "remove":
            from parking_hub.admin import remove

            run_until_signalled(remove(settings.redis, args.ids))
        elif args.command == "lots":
            from parking_hub.admin import load_files

            run_until_signalled(load_files(settings.redis, args.files, prune=args.prune))
        elif args.command == "keys":
            _new_key(args.key_id)
        elif args.command == "demo":
            from parking_hub.demo import run_demo

            run_until_signalled(run_demo(settings, args.rate))


def _first_leaf(group: BaseExceptionGroup[Exception]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
