"""A batch's RFC 3339 receive times read as arrays, where `rfc3339_ms` reads one at a time.

A network server writes every time in one form, so a batch's times come in one or two lengths.
The strings of one length are read as rows of one byte array: for a given length the digits and
separators stand in fixed columns, except that a row ends either in `Z` or in a `+hh:mm` offset.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from parking_hub.arrays import BoolArray, IntArray
from parking_hub.ingest.lorawan.envelopes import EnvelopeError, rfc3339_ms

# Below this many strings of one length the array's fixed cost (some 50 numpy calls, about 90 us)
# is more than reading them one at a time (about 0.8 us each); measured even at 128 to 192.
MIN_ROWS = 256
_SHORTEST, _LONGEST = 20, 35  # seconds and Z; nine digits of fraction and an offset
_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
# Column weights that make year, month, day, hour, minute and second of the first 19 columns.
_FIELDS = np.zeros((19, 6), dtype=np.int64)
for _field, _columns in enumerate(((0, 1, 2, 3), (5, 6), (8, 9), (11, 12), (14, 15), (17, 18))):
    for _place, _column in enumerate(reversed(_columns)):
        _FIELDS[_column, _field] = 10**_place
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def rfc3339_ms_array(texts: Sequence[str]) -> tuple[IntArray, BoolArray]:
    """The milliseconds of each time and whether it was read; one not read is left to
    `rfc3339_ms`, which says why (or reads a form this does not). Where read, the two agree."""
    count = len(texts)
    if count < MIN_ROWS:
        values = [_or_none(text) for text in texts]
        return _ms(values), np.array([value is not None for value in values], dtype=bool)
    ms = np.zeros(count, dtype=np.int64)
    read = np.zeros(count, dtype=bool)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=count)
    alone: list[int] = []
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        if len(rows) < MIN_ROWS or not _SHORTEST <= length <= _LONGEST:
            alone += rows.tolist()
            continue
        joined = "".join([texts[row] for row in rows.tolist()])
        if joined.isascii():  # RFC 3339 is ASCII; otherwise a string's bytes are not its characters
            chars = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(len(rows), length)
            ms[rows], read[rows] = _read(chars)
    if alone:
        values = [_or_none(texts[row]) for row in alone]
        ms[alone] = _ms(values)
        read[alone] = [value is not None for value in values]
    return ms, read


def _ms(values: list[int | None]) -> IntArray:
    return np.array([value or 0 for value in values], dtype=np.int64)


def _or_none(text: str) -> int | None:
    try:
        return rfc3339_ms(text)
    except EnvelopeError:
        return None


def _read(chars: npt.NDArray[np.uint8]) -> tuple[IntArray, BoolArray]:
    """Rows of equal length: their milliseconds, and which are RFC 3339 times."""
    length = chars.shape[1]
    digit = chars - np.uint8(ord("0"))
    is_digit = digit <= 9  # unsigned: a byte below "0" wraps round to a large number
    ok = is_digit[:, _DIGITS].all(axis=1)
    ok &= (chars[:, 4] == ord("-")) & (chars[:, 7] == ord("-"))
    ok &= (chars[:, 13] == ord(":")) & (chars[:, 16] == ord(":"))
    ok &= (chars[:, 10] == ord("T")) | (chars[:, 10] == ord("t")) | (chars[:, 10] == ord(" "))
    last = chars[:, -1]
    zulu = (last == ord("Z")) | (last == ord("z"))
    ok &= np.where(zulu, _fraction(chars, is_digit, length - 1), _offset(chars, is_digit))
    numbers = digit.astype(np.int64)
    year, month, day, hour, minute, second = (numbers[:, :19] @ _FIELDS).T
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _MONTH_DAYS[np.clip(month, 0, 12)] + (leap & (month == 2))
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 60)
    # Days since 1970-01-01 of a proleptic Gregorian date (years from March, 400-year eras).
    y = year - (month <= 2)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146_097 + year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year - 719_468
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second
    millis = np.where(zulu, _millis(numbers, length - 1), _millis(numbers, length - 6))
    if length >= 25:  # room for an offset after the seconds
        offset = numbers[:, -5:] @ np.array([36_000, 3_600, 0, 600, 60], dtype=np.int64)
        seconds -= np.where(zulu, 0, np.where(chars[:, -6] == ord("-"), -offset, offset))
    return seconds * 1000 + millis, ok


def _fraction(chars: npt.NDArray[np.uint8], is_digit: BoolArray, end: int) -> BoolArray:
    """Whether columns 19 up to `end` hold nothing, or a point and one to nine digits."""
    if end == 19:
        return np.ones(len(chars), dtype=bool)
    if not 21 <= end <= 29:
        return np.zeros(len(chars), dtype=bool)
    ok: BoolArray = (chars[:, 19] == ord(".")) & is_digit[:, 20:end].all(axis=1)
    return ok


def _offset(chars: npt.NDArray[np.uint8], is_digit: BoolArray) -> BoolArray:
    """Whether a row ends in a numeric offset `+hh:mm` or `-hh:mm`, after its seconds and fraction."""
    length = chars.shape[1]
    if length < 25:
        return np.zeros(len(chars), dtype=bool)
    sign = chars[:, -6]
    ok: BoolArray = (sign == ord("+")) | (sign == ord("-"))
    ok &= is_digit[:, [-5, -4, -2, -1]].all(axis=1) & (chars[:, -3] == ord(":"))
    return ok & _fraction(chars, is_digit, length - 6)


def _millis(numbers: IntArray, end: int) -> IntArray:
    """The first three digits after the point (missing ones 0) of a fraction ending before `end`."""
    weights = np.array([100, 10, 1][: max(0, min(3, end - 20))], dtype=np.int64)
    millis: IntArray = numbers[:, 20 : 20 + len(weights)] @ weights
    return millis
