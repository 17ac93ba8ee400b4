"""sensors-sim command line: `city` writes a lot registry, `run` publishes traffic for one."""

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import aiomqtt

from sensors_sim.city import DEFAULT_SEED, SEED_BERTHS, SEED_LOTS, CitySpec, write_city
from sensors_sim.feed import FeedOptions, MqttUrl, RegistryError, load_registry, run_feed

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_HUB = "http://127.0.0.1:8080"
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def _number(kind: Callable[[str], int | float], low: float, strict: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < low or (strict and value == low):
            bound = f"> {low}" if strict else f">= {low}"
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}")
        return value

    return parse


def _mqtt_url(text: str) -> MqttUrl:
    try:
        return MqttUrl.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


def _hub_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{text!r} must start with http:// or https://")
    return text


def _topic_prefix(text: str) -> str:
    if not text or text.startswith("/") or text.endswith("/") or any(c in text for c in "+#\0"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a topic without wildcards or outer slashes")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sensors-sim", description="Parking traffic for parking-hub, over MQTT.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    count = _number(int, 1)

    city = commands.add_parser("city", help="write a lot registry (GeoJSON); default: the seed city")
    city.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="registry to write")
    city.add_argument("--lots", type=count, default=SEED_LOTS, help=f"number of lots (default {SEED_LOTS})")
    city.add_argument(
        "--berths", type=count, default=SEED_BERTHS, help=f"total berths (default {SEED_BERTHS})"
    )
    city.add_argument("--seed", type=_number(int, 0), default=DEFAULT_SEED, help="random seed")

    run = commands.add_parser("run", help="publish live traffic for a registry")
    run.add_argument("--lots", type=Path, required=True, metavar="FILE", help="lot registry (GeoJSON)")
    run.add_argument(
        "--mqtt-url", type=_mqtt_url, default=DEFAULT_MQTT_URL, help=f"default {DEFAULT_MQTT_URL}"
    )
    run.add_argument(
        "--hub", type=_hub_url, default=DEFAULT_HUB, help=f"hub HTTP API (default {DEFAULT_HUB})"
    )
    run.add_argument("--seed", type=_number(int, 0), default=DEFAULT_SEED, help="random seed")
    run.add_argument("--topic-prefix", type=_topic_prefix, default="parking", help="default parking")
    run.add_argument("--rate", type=_number(float, 0), default=50.0, help="changes per second (default 50)")
    run.add_argument("--duration", type=_number(float, 0, strict=True), help="seconds (default: forever)")
    run.add_argument("--format", choices=("native", "per-berth"), default="native", help="default native")
    return parser


def _city(args: argparse.Namespace) -> int:
    try:
        spec = CitySpec(lots=args.lots, berths=args.berths, seed=args.seed)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        size = write_city(spec, args.output)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror}", EXIT_USAGE)
    print(
        f"sensors-sim: wrote {args.output}: {spec.lots:,} lots, {spec.berths:,} berths, {size:,} bytes",
        file=sys.stderr,
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        registry = load_registry(args.lots)
    except RegistryError as exc:
        return _fail(str(exc), EXIT_USAGE)
    options = FeedOptions(
        topic_prefix=args.topic_prefix,
        seed=args.seed,
        rate=args.rate,
        duration=args.duration,
        format=args.format,
    )
    url: MqttUrl = args.mqtt_url
    try:
        progress = asyncio.run(run_feed(registry, url, options))
    except KeyboardInterrupt:
        return 130
    except (aiomqtt.MqttError, OSError) as exc:
        return _fail(f"MQTT broker {url.host}:{url.port}: {exc}", 1)
    print(f"sensors-sim: sent {progress.events:,} events in {progress.messages:,} messages", file=sys.stderr)
    return 0


def _fail(message: str, code: int) -> int:
    print(f"sensors-sim: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "city":
        return _city(args)
    return _run(args)
