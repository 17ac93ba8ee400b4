"""Settings: flag, else environment variable, else default; validated once at start."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from parking_hub.api.basemap import MapTiles
from parking_hub.api.ratelimit import RateLimit
from parking_hub.apikeys import ApiKeys
from parking_hub.lot_facts import zone

T = TypeVar("T")

ENV_PREFIX = "PARKING_HUB_"
_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_SHARE_GROUP = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class SettingError(ValueError):
    """A setting that cannot be used; the message names the setting and why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"--{name} ({ENV_PREFIX}{name.upper().replace('-', '_')}): {reason}")
        self.name = name


class AckAfter(StrEnum):
    """When ingest acknowledges a message to the broker: after the primary applied it, after a
    replica has it too (WAIT), or after the primary's append-only file was fsynced (WAITAOF)."""

    WRITE = "write"
    REPLICA = "replica"
    FSYNC = "fsync"


class Role(StrEnum):
    ALL = "all"
    INGEST = "ingest"
    API = "api"


@dataclass(frozen=True, slots=True)
class RedisTarget:
    url: str
    cluster_nodes: tuple[tuple[str, int], ...] = ()
    sentinels: tuple[tuple[str, int], ...] = ()  # Sentinel addresses; the primary is found through them
    service: str = ""  # the Sentinel's name for the primary
    db: int = 0  # the database under Sentinel (a plain URL names its own)

    @property
    def is_cluster(self) -> bool:
        return bool(self.cluster_nodes)

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    @property
    def shown(self) -> str:
        """The URL with its password masked, for messages."""
        return _mask(self.url)

    def __repr__(self) -> str:
        return f"RedisTarget({self.shown!r})"


@dataclass(frozen=True, slots=True)
class MqttTarget:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: str = "5"  # "5", or "3.1.1" for brokers that only speak MQTT 3.1.1
    ca_file: Path | None = None  # CA certificates to trust for mqtts://, instead of the system's


@dataclass(frozen=True, slots=True)
class Settings:
    redis: RedisTarget
    mqtt: MqttTarget
    http_host: str
    http_port: int
    lots: tuple[Path, ...] = ()
    client_id: str = "parking-hub"
    topic_prefix: str = "parking"
    role: Role = Role.ALL
    cors_origins: tuple[str, ...] = ("*",)
    api_keys: ApiKeys | None = None
    rate_limit: RateLimit | None = None
    share_group: str | None = None  # ingest subscribes through $share/<group>/... when set
    map_tiles: MapTiles | None = None  # a street map under the dashboard's lots
    ack_after: AckAfter = AckAfter.WRITE
    workers: int = 1  # API processes sharing the HTTP port (SO_REUSEPORT)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))  # of lots that name none


DEFAULTS: dict[str, str] = {
    "redis-url": "redis://127.0.0.1:6379/0",
    "mqtt-url": "mqtt://127.0.0.1:1883",
    "http": "127.0.0.1:8080",
    "lots": "",
    "client-id": "parking-hub",
    "topic-prefix": "parking",
    "role": "all",
    "cors-origins": "*",
    "api-keys-file": "",
    "rate-limit": "off",
    "rate-burst": "20",
    "mqtt-ca-file": "",
    "share-group": "",
    "map-tiles": "",
    "map-attribution": "",
    "ack-after": "write",
    "workers": "1",
    "timezone": "UTC",
}
MAX_RATE = 1_000_000.0
MAX_WORKERS = 64


def resolve(name: str, flag_value: str | None, environ: dict[str, str] | None = None) -> str:
    """Apply the precedence: the flag, else the environment variable, else the default."""
    if flag_value is not None:
        return flag_value
    env = os.environ if environ is None else environ
    env_name = ENV_PREFIX + name.upper().replace("-", "_")
    return env.get(env_name, DEFAULTS[name])


def _mask(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, str(default_port)
    host = host.strip("[]")
    if not host:
        raise ValueError("the host is empty")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"port {port_text!r} must be a number between 1 and 65535")
    return host, int(port_text)


def parse_redis_url(url: str) -> RedisTarget:
    parts = urlsplit(url)
    if parts.scheme in {"redis", "rediss", "unix"}:
        if parts.scheme != "unix":
            _host_port(parts.netloc.rpartition("@")[2] or "", 6379)
        return RedisTarget(url)
    if parts.scheme == "redis+cluster":
        hosts = parts.netloc.rpartition("@")[2]
        nodes = tuple(_host_port(node, 6379) for node in hosts.split(",") if node)
        if not nodes:
            raise ValueError("name at least one cluster node, as redis+cluster://host:port,host:port")
        return RedisTarget(url, nodes)
    if parts.scheme in {"redis+sentinel", "rediss+sentinel"}:
        return _sentinel_target(url)
    raise ValueError(
        f"scheme {parts.scheme!r} is not one of redis://, rediss://, unix://, redis+cluster://, "
        "redis+sentinel://, rediss+sentinel://"
    )


def _sentinel_target(url: str) -> RedisTarget:
    """`redis[s]+sentinel://[user:password@]host:port[,host:port...]/SERVICE[?db=N]`."""
    parts = urlsplit(url)
    sentinels = tuple(_host_port(node, 26379) for node in parts.netloc.rpartition("@")[2].split(",") if node)
    if not sentinels:
        raise ValueError("name at least one Sentinel, as redis+sentinel://host:port,host:port/SERVICE")
    service = unquote(parts.path.strip("/"))
    if not service or "/" in service:
        raise ValueError(
            "name the primary's Sentinel service after the hosts, as redis+sentinel://host:port/SERVICE"
        )
    query = parse_qs(parts.query)
    db = query.pop("db", ["0"])[-1]
    if not db.isdigit():
        raise ValueError(f"db={db} must be a database number")
    if query:
        raise ValueError(f"unknown URL parameters {sorted(query)}; only db= is read")
    return RedisTarget(url, sentinels=sentinels, service=service, db=int(db))


def parse_mqtt_url(url: str) -> MqttTarget:
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts"}:
        raise ValueError(f"scheme {parts.scheme!r} is not mqtt:// or mqtts://")
    tls = parts.scheme == "mqtts"
    host, port = _host_port(parts.netloc.rpartition("@")[2], 8883 if tls else 1883)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    query = parse_qs(parts.query)
    protocol = query.pop("protocol", ["5"])[-1]
    if protocol not in {"5", "3.1.1"}:
        raise ValueError(f"protocol={protocol} must be 5 or 3.1.1")
    if query:
        raise ValueError(f"unknown URL parameters {sorted(query)}; only protocol= is read")
    return MqttTarget(host, port, tls, username, password, protocol)


def parse_http(text: str) -> tuple[str, int]:
    host, port = _host_port(text, 8080)
    return host, port


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def parse_cors_origins(text: str) -> tuple[str, ...]:
    """Browser origins allowed to read the API: "*" for any, "none" for no cross-origin reads."""
    origins = tuple(o for o in re.split(r"[,\s]+", text.strip()) if o)
    if origins in {("*",), ("none",)}:
        return () if origins == ("none",) else origins
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise ValueError(
                f"{origin!r} is not an origin like https://app.example.com[:port], nor * or none"
            )
    return origins


def parse_rate_limit(rate_text: str, burst_text: str) -> RateLimit | None:
    """Requests a second per client ("off" for no limit), and the burst a client may send at once."""
    if rate_text.strip().lower() == "off":
        return None
    try:
        rate = float(rate_text)
    except ValueError:
        reason = f"{rate_text!r} is not a number of requests a second, nor off"
        raise SettingError("rate-limit", reason) from None
    if not 0 < rate <= MAX_RATE:
        raise SettingError("rate-limit", f"must be above 0 and at most {MAX_RATE:,.0f} requests a second")
    if not burst_text.isdigit() or not 1 <= int(burst_text) <= MAX_RATE:
        raise SettingError("rate-burst", f"{burst_text!r} must be a whole number from 1 to {MAX_RATE:,.0f}")
    return RateLimit(rate, int(burst_text))


def parse_workers(text: str, role: Role) -> int:
    """API processes on one port; more than one only for the api role, which keeps no state of its own."""
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise SettingError("workers", f"{text!r} must be a whole number from 1 to {MAX_WORKERS}")
    if int(text) > 1 and role is not Role.API:
        reason = "more than 1 needs --role api; ingest processes share the stream with --share-group instead"
        raise SettingError("workers", reason)
    return int(text)


def parse_api_keys_file(text: str) -> ApiKeys | None:
    return ApiKeys.read(Path(text.strip())) if text.strip() else None


def parse_ca_file(text: str) -> Path | None:
    """A PEM file of CA certificates, checked by loading it as the hub will."""
    if not text.strip():
        return None
    path = Path(text.strip())
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"{path} is not a readable PEM file of CA certificates ({exc})") from None
    return path


def _checked(name: str, parse: Callable[[str], T], values: dict[str, str]) -> T:
    try:
        return parse(values[name])
    except ValueError as exc:
        raise SettingError(name, str(exc)) from exc


def build_settings(values: dict[str, str]) -> Settings:
    """Turn resolved text values into Settings, naming the setting at fault on error."""

    redis = _checked("redis-url", parse_redis_url, values)
    mqtt = _checked("mqtt-url", parse_mqtt_url, values)
    http_host, http_port = _checked("http", parse_http, values)
    lots = tuple(Path(p) for p in re.split(r"[,\s]+", values["lots"].strip()) if p)
    for path in lots:
        if not path.is_file():
            raise SettingError("lots", f"{path} is not a readable file")
    client_id = values["client-id"]
    if not 0 < len(client_id.encode()) <= 128 or any(c in client_id for c in "+#/"):
        raise SettingError("client-id", "must be 1 to 128 bytes without '+', '#' or '/'")
    prefix = values["topic-prefix"]
    if not _TOPIC_PREFIX.match(prefix):
        raise SettingError("topic-prefix", "must be topic levels of [A-Za-z0-9_.-] joined by '/'")
    try:
        role = Role(values["role"])
    except ValueError:
        raise SettingError("role", "must be one of all, ingest, api") from None
    # Callers that predate the setting (test helpers building values by hand) get the default.
    values = DEFAULTS | values
    cors_origins = _checked("cors-origins", parse_cors_origins, values)
    api_keys = _checked("api-keys-file", parse_api_keys_file, values)
    rate_limit = parse_rate_limit(values["rate-limit"], values["rate-burst"])
    share_group = values["share-group"] or None
    if share_group is not None and not _SHARE_GROUP.match(share_group):
        raise SettingError("share-group", "must be 1 to 64 characters of [A-Za-z0-9_.-]")
    ca_file = _checked("mqtt-ca-file", parse_ca_file, values)
    if ca_file is not None:
        if not mqtt.tls:
            raise SettingError("mqtt-ca-file", "needs an mqtts:// --mqtt-url")
        mqtt = replace(mqtt, ca_file=ca_file)
    map_tiles = _checked("map-tiles", lambda url: MapTiles.parse(url, values["map-attribution"]), values)
    if map_tiles is None and values["map-attribution"].strip():
        raise SettingError("map-attribution", "needs --map-tiles")
    try:
        ack_after = AckAfter(values["ack-after"])
    except ValueError:
        raise SettingError("ack-after", "must be one of write, replica, fsync") from None
    workers = parse_workers(values["workers"], role)
    return Settings(
        redis,
        mqtt,
        http_host,
        http_port,
        lots,
        client_id,
        prefix,
        role,
        cors_origins,
        api_keys,
        rate_limit,
        share_group,
        map_tiles=map_tiles,
        ack_after=ack_after,
        workers=workers,
        timezone=_checked("timezone", zone, values),
    )
