"""What a driver needs to know of a lot (contract 7.1), validated field by field.

`opening_hours` is parsed by opening-hours-py (OpenStreetMap syntax), in the lot's timezone and with
the public holidays of the country its point lies in, so `PH` means that country's holidays.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import opening_hours
from opening_hours import OpeningHours

from parking_hub.fields import FieldError, is_int, is_number, require

# The parser raises ParserError, which its type stubs do not declare (they say SyntaxError).
PARSER_ERRORS: tuple[type[Exception], ...] = (getattr(opening_hours, "ParserError", SyntaxError), SyntaxError)
ACCESS = ("public", "customers", "residents", "permit")
MAX_HOURS_TEXT = 1024
MAX_ENTRANCES = 64
MAX_HEIGHT_M = 20.0
MAX_STAY_MIN = 525_600  # a year
MAX_PRICE = 100_000.0
MAX_FREE_MINUTES = 1440
MAX_TIMEZONE_TEXT = 64
MAX_TEXT = 256
CURRENCY = re.compile(r"^[A-Z]{3}$")
URL = re.compile(r"^https?://[^\s]{1,248}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,31}$")
FEE_NUMBERS = ("per_hour", "max_per_day")
FEE_KEYS = ("currency", "per_hour", "free_minutes", "max_per_day", "text")
TEXT_FACTS = ("address", "url", "phone")


@dataclass(frozen=True, slots=True)
class Fee:
    currency: str | None = None
    per_hour: float | None = None  # None: the hourly price is not known
    free_minutes: int | None = None
    max_per_day: float | None = None
    text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FEE_KEYS if getattr(self, name) is not None}


@dataclass(frozen=True, slots=True)
class Facts:
    timezone: str | None = None  # None: the hub's --timezone
    opening_hours: str | None = None  # None: always open
    entrances: tuple[tuple[float, float], ...] = ()  # (lon, lat)
    max_height_m: float | None = None
    max_stay_min: int | None = None
    access: str = "public"
    fee: Fee | None = None  # None: unknown
    address: str | None = None
    url: str | None = None
    phone: str | None = None

    def as_properties(self) -> dict[str, Any]:
        """The facts as registry properties, leaving out what the registry left out."""
        props: dict[str, Any] = {
            "timezone": self.timezone,
            "opening_hours": self.opening_hours,
            "entrances": [list(point) for point in self.entrances] or None,
            "max_height_m": self.max_height_m,
            "max_stay_min": self.max_stay_min,
            "access": self.access,
            "fee": None if self.fee is None else self.fee.as_dict(),
            "address": self.address,
            "url": self.url,
            "phone": self.phone,
        }
        return {name: value for name, value in props.items() if value is not None}


def zone(name: str) -> ZoneInfo:
    """An IANA time zone by name; ValueError naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name (like Asia/Shanghai or UTC)") from None


def compile_hours(text: str, timezone: ZoneInfo, lat: float, lon: float) -> OpeningHours:
    """The expression evaluated in `timezone`, with the holidays of the country at (lat, lon)."""
    return OpeningHours(text, timezone=timezone, coords=(lat, lon), auto_country=True, auto_timezone=False)


def _parse_error(exc: BaseException) -> str:
    # The parser's message is a multi-line drawing; keep the position and what it expected.
    text = str(exc)
    where = re.search(r"--> (\d+):(\d+)", text)
    expected = re.search(r"= (expected .*)", text)
    reason = "is not OpenStreetMap opening_hours syntax"
    if where:
        reason += f" at character {where.group(2)}"
    return reason + (f": {expected.group(1)}" if expected else "")


def _timezone(props: Mapping[str, object]) -> tuple[str | None, ZoneInfo]:
    value = props.get("timezone")
    if value is None:
        return None, ZoneInfo("UTC")
    require(
        isinstance(value, str) and 0 < len(value) <= MAX_TIMEZONE_TEXT,
        "timezone",
        f"must be an IANA time zone name of 1 to {MAX_TIMEZONE_TEXT} characters",
    )
    try:
        return cast(str, value), zone(cast(str, value))
    except ValueError as exc:
        raise FieldError("timezone", str(exc)) from None


def _opening_hours(value: object, timezone: ZoneInfo, lat: float, lon: float) -> str:
    require(
        isinstance(value, str) and 0 < len(value) <= MAX_HOURS_TEXT,
        "opening_hours",
        f"must be text of 1 to {MAX_HOURS_TEXT} characters in OpenStreetMap opening_hours syntax",
    )
    text = cast(str, value)
    try:
        compile_hours(text, timezone, lat, lon)
    except PARSER_ERRORS as exc:
        raise FieldError("opening_hours", _parse_error(exc)) from None
    return text


def _number(value: object, field_name: str, low: float, high: float, *, above_low: bool = False) -> float:
    number = cast(float, value)
    ok = is_number(value) and math.isfinite(number) and number <= high
    ok = ok and (low < number if above_low else low <= number)
    bound = "above" if above_low else "at least"
    require(ok, field_name, f"must be a number {bound} {low:g} and at most {high:g}")
    return float(cast(float, value))


def _whole(value: object, field_name: str, low: int, high: int) -> int:
    ok = is_int(value) and low <= cast(int, value) <= high
    require(ok, field_name, f"must be an integer from {low} to {high}")
    return cast(int, value)


def _text(value: object, field_name: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
    ok = isinstance(value, str) and 0 < len(value) <= MAX_TEXT
    require(ok, field_name, f"must be text of 1 to {MAX_TEXT} characters")
    text = cast(str, value)
    require(pattern is None or bool(pattern.match(text)), field_name, f"must be {what}")
    return text


def _fee(value: object) -> Fee:
    ok = isinstance(value, dict) and bool(value)
    require(ok, "fee", f"must be an object with some of {', '.join(FEE_KEYS)}")
    spec = cast(dict[str, object], value)
    unknown = sorted(set(spec) - set(FEE_KEYS))
    require(not unknown, "fee", f"unknown keys {unknown}; known: {', '.join(FEE_KEYS)}")
    numbers = {name: _number(spec[name], f"fee.{name}", 0, MAX_PRICE) for name in FEE_NUMBERS if name in spec}
    return Fee(
        currency=_text(spec["currency"], "fee.currency", CURRENCY, "an ISO 4217 code like CNY")
        if "currency" in spec
        else None,
        per_hour=numbers.get("per_hour"),
        free_minutes=_whole(spec["free_minutes"], "fee.free_minutes", 0, MAX_FREE_MINUTES)
        if "free_minutes" in spec
        else None,
        max_per_day=numbers.get("max_per_day"),
        text=_text(spec["text"], "fee.text") if "text" in spec else None,
    )


def parse_facts(props: Mapping[str, object], lat: float, lon: float, point: Any) -> Facts:
    """The facts among a lot's properties; `point` validates a [lon, lat] pair, naming the field."""
    tz_name, timezone = _timezone(props)
    entrances: tuple[tuple[float, float], ...] = ()
    if "entrances" in props:
        raw = props["entrances"]
        require(
            isinstance(raw, list) and 0 < len(raw) <= MAX_ENTRANCES,
            "entrances",
            f"must list 1 to {MAX_ENTRANCES} [lon, lat] points",
        )
        entrances = tuple(point(pt, f"entrances[{i}]") for i, pt in enumerate(cast(list[object], raw)))
    access = props.get("access", "public")
    require(access in ACCESS, "access", f"must be one of {', '.join(ACCESS)}")
    texts = {name: _text(props[name], name) for name in TEXT_FACTS if name in props}
    if "url" in texts:
        _text(texts["url"], "url", URL, "an http:// or https:// address")
    if "phone" in texts:
        _text(texts["phone"], "phone", PHONE, "a telephone number of digits, spaces and + ( ) . / -")
    return Facts(
        timezone=tz_name,
        opening_hours=_opening_hours(props["opening_hours"], timezone, lat, lon)
        if "opening_hours" in props
        else None,
        entrances=entrances,
        max_height_m=_number(props["max_height_m"], "max_height_m", 0, MAX_HEIGHT_M, above_low=True)
        if "max_height_m" in props
        else None,
        max_stay_min=_whole(props["max_stay_min"], "max_stay_min", 1, MAX_STAY_MIN)
        if "max_stay_min" in props
        else None,
        access=cast(str, access),
        fee=_fee(props["fee"]) if "fee" in props else None,
        address=texts.get("address"),
        url=texts.get("url"),
        phone=texts.get("phone"),
    )
