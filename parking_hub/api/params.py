"""Query-string parsing with the contract's limits; every failure names the parameter."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from parking_hub.api.errors import invalid


def number(
    query: Mapping[str, str], name: str, low: float, high: float, default: float | None = None
) -> float:
    text = query.get(name)
    if text is None or text == "":
        if default is None:
            raise invalid(name, f"{name} is required")
        return default
    try:
        value = float(text)
    except ValueError:
        raise invalid(name, f"{name} must be a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise invalid(name, f"{name} must be between {_fmt(low)} and {_fmt(high)}")
    return value


def integer(query: Mapping[str, str], name: str, low: int, high: int | None, default: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid(name, f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(name, f"{name} must be {bound}")
    return value


def choice(query: Mapping[str, str], name: str, options: Sequence[str], default: str | None) -> str | None:
    text = query.get(name)
    if text is None or text == "":
        return default
    if text not in options:
        raise invalid(name, f"{name} must be one of {', '.join(options)}")
    return text


def name_list(query: Mapping[str, str], name: str, options: Sequence[str]) -> tuple[str, ...]:
    """A comma list of names from options, sorted and without repeats."""
    text = query.get(name, "")
    names = tuple(sorted({part.strip() for part in text.split(",") if part.strip()}))
    for part in names:
        if part not in options:
            raise invalid(name, f"{name} may list only {', '.join(options)}; got {part!r}")
    return names


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
