"""Settings: flag, else environment variable, else default; validated once at start.

`SETTINGS` is the one table of them (name, default, help, parser): the CLI builds its options
from it, the environment is read by its rule, and the docs test checks the tables against it.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from parking_hub.credentials import ApiKeys
from parking_hub.lot_facts import zone
from parking_hub.map_tiles import MapTiles

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

ENV_PREFIX = "PARKING_HUB_"
MAX_RATE = 1_000_000.0
MAX_WORKERS = 64
_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_SHARE_GROUP = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def env_name(name: str) -> str:
    """The environment variable of a setting: `redis-url` is PARKING_HUB_REDIS_URL."""
    return ENV_PREFIX + name.upper().replace("-", "_")


class SettingError(ValueError):
    """A setting that cannot be used; the message names the setting and why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"--{name} ({env_name(name)}): {reason}")
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


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class RedisTarget:
    url: str
    cluster_nodes: tuple[tuple[str, int], ...] = ()
    sentinels: tuple[tuple[str, int], ...] = ()  # Sentinel addresses; the primary is found through them
    service: str = ""  # the Sentinel's name for the primary
    db: int = 0  # the database under Sentinel (a plain URL names its own)

    @classmethod
    def from_url(cls, url: str) -> RedisTarget:
        """redis://, rediss://, unix://, redis+cluster://h:p,h:p or redis[s]+sentinel://h:p,h:p/SERVICE."""
        parts = urlsplit(url)
        if parts.scheme in {"redis", "rediss", "unix"}:
            if parts.scheme != "unix":
                _host_port(parts.netloc.rpartition("@")[2] or "", 6379)
            return cls(url)
        if parts.scheme == "redis+cluster":
            hosts = parts.netloc.rpartition("@")[2]
            nodes = tuple(_host_port(node, 6379) for node in hosts.split(",") if node)
            if not nodes:
                raise ValueError("name at least one cluster node, as redis+cluster://host:port,host:port")
            return cls(url, nodes)
        if parts.scheme in {"redis+sentinel", "rediss+sentinel"}:
            return cls._sentinel(url)
        raise ValueError(
            f"scheme {parts.scheme!r} is not one of redis://, rediss://, unix://, redis+cluster://, "
            "redis+sentinel://, rediss+sentinel://"
        )

    @classmethod
    def _sentinel(cls, url: str) -> RedisTarget:
        """`redis[s]+sentinel://[user:password@]host:port[,host:port...]/SERVICE[?db=N]`."""
        parts = urlsplit(url)
        sentinels = tuple(
            _host_port(node, 26379) for node in parts.netloc.rpartition("@")[2].split(",") if node
        )
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
        return cls(url, sentinels=sentinels, service=service, db=int(db))

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

    @classmethod
    def from_url(cls, url: str) -> MqttTarget:
        """`mqtt[s]://[user:password@]host[:port][?protocol=3.1.1]`."""
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts"}:
            raise ValueError(f"scheme {parts.scheme!r} is not mqtt:// or mqtts://")
        tls = parts.scheme == "mqtts"
        host, port = _host_port(parts.netloc.rpartition("@")[2], 8883 if tls else 1883)
        query = parse_qs(parts.query)
        protocol = query.pop("protocol", ["5"])[-1]
        if protocol not in {"5", "3.1.1"}:
            raise ValueError(f"protocol={protocol} must be 5 or 3.1.1")
        if query:
            raise ValueError(f"unknown URL parameters {sorted(query)}; only protocol= is read")
        return cls(
            host,
            port,
            tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            protocol=protocol,
        )


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float  # tokens a second
    burst: int  # bucket size: requests a client may send at once


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The parsed settings; their defaults and meanings are in SETTINGS, built by `build_settings`."""

    redis: RedisTarget
    mqtt: MqttTarget
    http_host: str
    http_port: int
    lots: tuple[Path, ...]
    client_id: str
    topic_prefix: str
    role: Role
    cors_origins: tuple[str, ...]
    api_keys: ApiKeys | None
    rate_limit: RateLimit | None
    share_group: str | None
    map_tiles: MapTiles | None
    ack_after: AckAfter
    workers: int
    timezone: ZoneInfo


@dataclass(frozen=True, slots=True)
class Setting(Generic[T]):
    """One setting: its name (the flag without `--`), its default as text ("" for none), its help,
    and the parser of its text, which raises ValueError with the reason."""

    name: str
    default: str
    help: str
    parse: Callable[[str], T]

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def env(self) -> str:
        return env_name(self.name)

    @property
    def shown_default(self) -> str:
        return self.default or "none"

    def resolve(self, flag_value: str | None, environ: Mapping[str, str] | None = None) -> str:
        """Apply the precedence: the flag, else the environment variable, else the default."""
        if flag_value is not None:
            return flag_value
        return (os.environ if environ is None else environ).get(self.env, self.default)

    def read(self, values: Mapping[str, str]) -> T:
        """This setting's value from resolved texts by name (its default when absent)."""
        try:
            return self.parse(values.get(self.name, self.default))
        except ValueError as exc:
            raise SettingError(self.name, str(exc)) from exc


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


def parse_http(text: str) -> tuple[str, int]:
    return _host_port(text, 8080)


def _words(text: str) -> list[str]:
    """A list setting's items, comma or space separated."""
    return [word for word in re.split(r"[,\s]+", text.strip()) if word]


def parse_lots(text: str) -> tuple[Path, ...]:
    lots = tuple(Path(word) for word in _words(text))
    for path in lots:
        if not path.is_file():
            raise ValueError(f"{path} is not a readable file")
    return lots


def parse_client_id(text: str) -> str:
    if not 0 < len(text.encode()) <= 128 or any(c in text for c in "+#/"):
        raise ValueError("must be 1 to 128 bytes without '+', '#' or '/'")
    return text


def parse_topic_prefix(text: str) -> str:
    if not _TOPIC_PREFIX.match(text):
        raise ValueError("must be topic levels of [A-Za-z0-9_.-] joined by '/'")
    return text


def parse_share_group(text: str) -> str | None:
    if text and not _SHARE_GROUP.match(text):
        raise ValueError("must be 1 to 64 characters of [A-Za-z0-9_.-]")
    return text or None


def _one_of(choices: type[E]) -> Callable[[str], E]:
    def parse(text: str) -> E:
        try:
            return choices(text)
        except ValueError:
            raise ValueError(f"must be one of {', '.join(choices)}") from None

    return parse


def parse_cors_origins(text: str) -> tuple[str, ...]:
    """Browser origins allowed to read the API: "*" for any, "none" for no cross-origin reads."""
    origins = tuple(_words(text))
    if origins in {("*",), ("none",)}:
        return () if origins == ("none",) else origins
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise ValueError(
                f"{origin!r} is not an origin like https://app.example.com[:port], nor * or none"
            )
    return origins


def parse_rate(text: str) -> float | None:
    """Requests a second per client, or None for "off"."""
    if text.strip().lower() == "off":
        return None
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of requests a second, nor off") from None
    if not 0 < rate <= MAX_RATE:
        raise ValueError(f"must be above 0 and at most {MAX_RATE:,.0f} requests a second")
    return rate


def _whole_number(low: int, high: float) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.strip().isdigit() or not low <= int(text) <= high:
            raise ValueError(f"{text!r} must be a whole number from {low} to {high:,.0f}")
        return int(text)

    return parse


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


REDIS_URL = Setting(
    "redis-url",
    "redis://127.0.0.1:6379/0",
    "Redis URL; redis+cluster://h:p,h:p selects Redis Cluster, redis+sentinel://h:p,h:p/SERVICE finds the "
    "primary through Redis Sentinel (rediss+sentinel:// for TLS)",
    RedisTarget.from_url,
)
MQTT_URL = Setting(
    "mqtt-url",
    "mqtt://127.0.0.1:1883",
    "MQTT broker URL; mqtts:// for TLS; user:password@ for credentials",
    MqttTarget.from_url,
)
HTTP = Setting("http", "127.0.0.1:8080", "HTTP listen address, host:port", parse_http)
LOTS = Setting("lots", "", "registry files (GeoJSON) to load at start, comma or space separated", parse_lots)
CLIENT_ID = Setting(
    "client-id", "parking-hub", "MQTT client id; keep it stable so the broker queues for it", parse_client_id
)
TOPIC_PREFIX = Setting("topic-prefix", "parking", "MQTT topic prefix", parse_topic_prefix)
ROLE = Setting("role", "all", "all, ingest (MQTT to Redis) or api (HTTP), for scale-out", _one_of(Role))
ACK_AFTER = Setting(
    "ack-after",
    "write",
    "when ingest acknowledges a message: write (the primary applied it), replica (a replica has it too, "
    "WAIT) or fsync (the primary's append-only file was fsynced, WAITAOF)",
    _one_of(AckAfter),
)
SHARE_GROUP = Setting(
    "share-group",
    "",
    "MQTT shared-subscription group: ingest processes with the same group split the stream "
    "($share/<group>/...); each needs its own --client-id",
    parse_share_group,
)
CORS_ORIGINS = Setting(
    "cors-origins",
    "*",
    "browser origins allowed to read the API, comma separated; * for any, none for none",
    parse_cors_origins,
)
LOG_FORMAT = Setting("log-format", "text", "text, or JSON lines for log collectors", _one_of(LogFormat))
API_KEYS_FILE = Setting(
    "api-keys-file",
    "",
    "file of KEY_ID:SHA256_HEX lines; when set, /v1 and /metrics need a key",
    parse_api_keys_file,
)
RATE_LIMIT = Setting(
    "rate-limit", "off", "requests a second per API key (per address without keys), or off", parse_rate
)
RATE_BURST = Setting(
    "rate-burst", "20", "requests a client may send at once under --rate-limit", _whole_number(1, MAX_RATE)
)
MQTT_CA_FILE = Setting(
    "mqtt-ca-file", "", "PEM file of CA certificates to trust for an mqtts:// broker", parse_ca_file
)
MAP_TILES = Setting(
    "map-tiles",
    "",
    "XYZ tile URL of a street map under the dashboard's lots, like https://tile.example.org/{z}/{x}/{y}.png",
    MapTiles.parse,
)
MAP_ATTRIBUTION = Setting(
    "map-attribution",
    "",
    "the tile server's attribution, shown in the map's corner (with --map-tiles)",
    str.strip,
)
WORKERS = Setting(
    "workers",
    "1",
    "API processes sharing the --http port (SO_REUSEPORT), each a whole --role api process",
    _whole_number(1, MAX_WORKERS),
)
TIMEZONE = Setting(
    "timezone", "UTC", "IANA time zone of the opening hours of lots whose registry entry names none", zone
)
SETTINGS: tuple[Setting[Any], ...] = (
    REDIS_URL,
    MQTT_URL,
    HTTP,
    LOTS,
    CLIENT_ID,
    TOPIC_PREFIX,
    ROLE,
    ACK_AFTER,
    SHARE_GROUP,
    CORS_ORIGINS,
    LOG_FORMAT,
    API_KEYS_FILE,
    RATE_LIMIT,
    RATE_BURST,
    MQTT_CA_FILE,
    MAP_TILES,
    MAP_ATTRIBUTION,
    WORKERS,
    TIMEZONE,
)


def build_settings(values: Mapping[str, str]) -> Settings:
    """Settings from resolved texts by setting name (a name not given takes its default); the
    SettingError names the setting at fault. The checks that involve two settings are here."""
    mqtt = MQTT_URL.read(values)
    ca_file = MQTT_CA_FILE.read(values)
    if ca_file is not None:
        if not mqtt.tls:
            raise SettingError(MQTT_CA_FILE.name, "needs an mqtts:// --mqtt-url")
        mqtt = replace(mqtt, ca_file=ca_file)
    rate = RATE_LIMIT.read(values)
    burst = RATE_BURST.read(values)
    map_tiles = MAP_TILES.read(values)
    attribution = MAP_ATTRIBUTION.read(values)
    if map_tiles is not None:
        map_tiles = replace(map_tiles, attribution=attribution)
    elif attribution:
        raise SettingError(MAP_ATTRIBUTION.name, "needs --map-tiles")
    role = ROLE.read(values)
    workers = WORKERS.read(values)
    if workers > 1 and role is not Role.API:
        reason = "more than 1 needs --role api; ingest processes share the stream with --share-group instead"
        raise SettingError(WORKERS.name, reason)
    http_host, http_port = HTTP.read(values)
    return Settings(
        redis=REDIS_URL.read(values),
        mqtt=mqtt,
        http_host=http_host,
        http_port=http_port,
        lots=LOTS.read(values),
        client_id=CLIENT_ID.read(values),
        topic_prefix=TOPIC_PREFIX.read(values),
        role=role,
        cors_origins=CORS_ORIGINS.read(values),
        api_keys=API_KEYS_FILE.read(values),
        rate_limit=None if rate is None else RateLimit(rate, burst),
        share_group=SHARE_GROUP.read(values),
        map_tiles=map_tiles,
        ack_after=ACK_AFTER.read(values),
        workers=workers,
        timezone=TIMEZONE.read(values),
    )
