"""sensors-sim command line: `city`, `run`, `load` and `verify` (contract section 6).

Exit codes: 0 done (verify: the hub matches), 1 verify found differences or a server failed,
2 bad arguments or input files, 130 interrupted.
"""

import argparse
import asyncio
import contextlib
import re
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

import aiomqtt

from sensors_sim.calendar import WEEKDAYS, CalendarOptions
from sensors_sim.city import DEFAULT_SEED, SEED_BERTHS, SEED_LOTS, CitySpec, write_city
from sensors_sim.encoders import FORMATS
from sensors_sim.faults import Faults
from sensors_sim.hubapi import Hub, HubError, wait_ready
from sensors_sim.load import LoadOptions, run_load
from sensors_sim.publish import MqttUrl, Publisher
from sensors_sim.registry import Registry, RegistryError, load_registry
from sensors_sim.resync import ResyncRequests
from sensors_sim.run import CityRun, RunOptions
from sensors_sim.traffic import Traffic, TrafficOptions
from sensors_sim.truth import Truth, TruthError
from sensors_sim.verify import summary_lines, verify

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_HUB = "http://127.0.0.1:8080"
EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
HUB_READY_S = 30.0


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def _number(kind: Callable[[str], float], low: float, strict: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text!r} must be {'>' if strict else '>='} {low}")
        return value

    return parse


def _or_max(parse: Callable[[str], float]) -> Callable[[str], float | None]:
    return lambda text: None if text == "max" else parse(text)


def _converted(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    return parse


def _formats(text: str) -> tuple[str, ...]:
    names = FORMATS if text == "mixed" else tuple(dict.fromkeys(n.strip() for n in text.split(",")))
    if not names or not set(names) <= set(FORMATS):
        raise ValueError(f"use mixed or a comma list of {', '.join(FORMATS)}")
    return names


def _hour(text: str) -> float:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("must be a local time of day, HH:MM")
    return int(match[1]) + int(match[2]) / 60


def _share(text: str) -> float:
    value = _number(float, 0.0)(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _hub_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return text


def _topic_prefix(text: str) -> str:
    if not text or text.startswith("/") or text.endswith("/") or any(c in text for c in "+#\0"):
        raise ValueError("must be a topic without wildcards or outer slashes")
    return text


def _shared(
    parser: argparse.ArgumentParser, *, mqtt: bool = True, hub_default: str | None = DEFAULT_HUB
) -> None:
    parser.add_argument("--lots", type=Path, required=True, metavar="FILE", help="lot registry (GeoJSON)")
    if mqtt:
        parser.add_argument(
            "--mqtt-url",
            type=_converted(MqttUrl.parse),
            default=DEFAULT_MQTT_URL,
            help=f"default {DEFAULT_MQTT_URL}",
        )
        parser.add_argument(
            "--topic-prefix", type=_converted(_topic_prefix), default="parking", help="default parking"
        )
    hint = f"default {hub_default}" if hub_default else "optional"
    parser.add_argument(
        "--hub", type=_converted(_hub_url), default=hub_default, help=f"hub HTTP API ({hint})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sensors-sim", description="Parking traffic for parking-hub, over MQTT.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    count, seed = _number(int, 1), _number(int, 0)
    positive = _number(float, 0, strict=True)

    city = commands.add_parser("city", help="write a lot registry (GeoJSON); default: the seed city")
    city.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="registry to write")
    city.add_argument("--lots", type=count, default=SEED_LOTS, help=f"number of lots (default {SEED_LOTS})")
    city.add_argument(
        "--berths", type=count, default=SEED_BERTHS, help=f"total berths (default {SEED_BERTHS})"
    )
    city.add_argument("--seed", type=seed, default=DEFAULT_SEED, help="random seed")
    city.add_argument(
        "--prefix", type=_converted(_lot_prefix), default="qd", help="lot id prefix (default qd)"
    )

    run = commands.add_parser("run", help="publish a simulated city's traffic for a registry")
    _shared(run, hub_default=None)
    run.add_argument("--seed", type=seed, default=DEFAULT_SEED, help="random seed")
    run.add_argument(
        "--format",
        type=_converted(_formats),
        default=("native",),
        help="native (default), per-berth, tts, chirpstack, a comma list, or mixed",
    )
    run.add_argument(
        "--faults",
        type=_converted(Faults.parse),
        default=Faults(),
        help="none (default), all, or e.g. loss=0.05,duplicate,reorder",
    )
    pace = run.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=_or_max(positive),
        default=1.0,
        help="simulated seconds per second, or max (default 1)",
    )
    pace.add_argument(
        "--rate",
        type=positive,
        help="set the speed for about this many berth changes (arrivals and departures) per second, "
        "a day's average; events add heartbeats and resends, and a native frame carries many events",
    )
    run.add_argument(
        "--start",
        type=_converted(_hour),
        default=7.0,
        metavar="HH:MM",
        help="simulated local time to start at (default 07:00)",
    )
    run.add_argument(
        "--weekday",
        choices=WEEKDAYS,
        default="mon",
        help="the weekday of the run's first day (default mon): weekends have their own demand",
    )
    run.add_argument(
        "--event-days",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of days, 0..1, on which the city's venue lots fill up in the evening (default 0)",
    )
    run.add_argument(
        "--hours", type=positive, help="simulated hours to run (default: until --duration, or forever)"
    )
    run.add_argument("--duration", type=positive, help="wall-clock seconds to run")
    run.add_argument("--truth", type=Path, metavar="FILE", help="write what was delivered here, for verify")
    run.add_argument("--report", action="store_true", help="print what the simulated city did")
    run.add_argument("--dry-run", action="store_true", help="simulate without a broker")

    load = commands.add_parser("load", help="publish at a target or the highest rate and measure the hub")
    _shared(load, hub_default=None)
    load.add_argument("--seed", type=seed, default=DEFAULT_SEED, help="random seed")
    load.add_argument(
        "--rate",
        type=_or_max(positive),
        default=None,
        help="events (berth reports) per second, or max (default); "
        "native sends --batch events per message, per-berth one",
    )
    load.add_argument("--duration", type=positive, default=10.0, help="seconds (default 10)")
    load.add_argument("--format", choices=("native", "per-berth"), default="native", help="default native")
    load.add_argument("--batch", type=count, default=100, help="events per batch frame (default 100)")

    check = commands.add_parser("verify", help="compare the hub's state with what run delivered")
    _shared(check, mqtt=False)
    check.add_argument("--truth", type=Path, required=True, metavar="FILE", help="written by run --truth")
    check.add_argument(
        "--wait", type=_number(float, 0), default=30.0, help="seconds to wait for a match (default 30)"
    )
    check.add_argument(
        "--margin",
        type=_number(float, 0),
        default=5.0,
        help="seconds of slack at the staleness boundary (default 5)",
    )
    return parser


def _lot_prefix(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9_-]{1,40}", text):
        raise ValueError("must match [a-z0-9_-]{1,40}")
    return text


def _city(args: argparse.Namespace) -> int:
    try:
        spec = CitySpec(lots=args.lots, berths=args.berths, seed=args.seed, prefix=args.prefix)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        size = write_city(spec, args.output)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror}", EXIT_USAGE)
    _say(f"wrote {args.output}: {spec.lots:,} lots, {spec.berths:,} berths, {size:,} bytes")
    return 0


async def _run(args: argparse.Namespace, registry: Registry) -> int:
    traffic = Traffic(
        registry,
        TrafficOptions(
            args.seed,
            args.format,
            args.faults,
            args.start,
            args.topic_prefix,
            CalendarOptions(WEEKDAYS.index(args.weekday), args.event_days),
        ),
    )
    truth = Truth.empty(registry)
    try:
        city = CityRun(
            traffic, RunOptions(traffic.options, args.speed, args.rate, args.hours, args.duration), truth
        )
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if args.hub:
                city.hub = await stack.enter_async_context(Hub(args.hub))
                await wait_ready(city.hub, HUB_READY_S)
            if not args.dry_run:
                city.resyncs = await stack.enter_async_context(
                    ResyncRequests(args.mqtt_url, args.topic_prefix, traffic.encoder.gateways)
                )
                city.publisher = await stack.enter_async_context(Publisher(args.mqtt_url))
            await city.run()
    finally:
        if args.report:
            print("\n".join(traffic.stats.lines(traffic.incidents())), flush=True)
        secs = max(time.monotonic() - city.started, 1e-9)
        messages, events = city.published, truth.delivered
        _say(
            f"published {messages:,} messages carrying {events:,} valid events in {secs:.1f} s: "
            f"{messages / secs:,.0f} messages/s, {events / secs:,.0f} events/s"
        )
        if city.resyncs is not None:
            _say(city.resyncs.counts.line())
        if args.truth:
            _save(truth, args.truth)
    return 0


def _save(truth: Truth, path: Path) -> None:
    try:
        truth.save(path)
    except OSError as exc:
        _say(f"cannot write the truth file {path}: {exc.strerror}")


async def _load(args: argparse.Namespace, registry: Registry) -> int:
    options = LoadOptions(
        args.duration, args.rate, args.format == "per-berth", args.batch, args.topic_prefix, args.seed
    )
    if args.hub:
        async with Hub(args.hub) as hub:
            await wait_ready(hub, HUB_READY_S)
            report = await run_load(registry, args.mqtt_url, hub, options)
    else:
        report = await run_load(registry, args.mqtt_url, None, options)
    print("\n".join(report.lines()))
    return 0


async def _verify(args: argparse.Namespace, registry: Registry) -> int:
    try:
        truth = Truth.load(args.truth, registry)
    except TruthError as exc:
        return _fail(str(exc), EXIT_USAGE)
    async with Hub(args.hub) as hub:
        diff = await verify(hub, registry, truth, args.wait, round(args.margin * 1000))
        summary = await hub.get_ok("/v1/summary")
    print("\n".join(summary_lines(diff, registry, truth, summary)))
    return EXIT_MISMATCH if diff else 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Registry], Coroutine[Any, Any, int]]] = {
    "run": _run,
    "load": _load,
    "verify": _verify,
}


def _fail(message: str, code: int) -> int:
    _say(message)
    return code


def _say(message: str) -> None:
    print(f"sensors-sim: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "city":
        return _city(args)
    try:
        registry = load_registry(args.lots)
    except RegistryError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        return asyncio.run(COMMANDS[args.command](args, registry))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (aiomqtt.MqttError, OSError, HubError, ExceptionGroup) as exc:
        failure: BaseException = exc
        while isinstance(failure, BaseExceptionGroup):  # from a task group: its first failure
            failure = failure.exceptions[0]
        if isinstance(failure, HubError):
            return _fail(f"hub: {failure}", EXIT_MISMATCH)
        if isinstance(failure, aiomqtt.MqttError | OSError):
            return _fail(f"MQTT broker: {failure}", EXIT_MISMATCH)
        raise
