"""Opening hours as the API keeps them: a timeline per lot that agrees with the parser at every
minute, public holidays by the lot's country, and the stream told when a lot opens or closes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from opening_hours import OpeningHours

from parking_hub.lot_facts import Facts
from parking_hub.query.availability import Availability
from parking_hub.query.hours import OpeningTimes
from parking_hub.query.index import CityIndex
from parking_hub.registry import Lot

UTC = ZoneInfo("UTC")
QINGDAO = (36.0671, 120.3826)
NOW = int(datetime(2026, 9, 29, 12, tzinfo=UTC).timestamp() * 1000)  # a Tuesday, before National Day
MINUTE = 60_000
EXPRESSIONS = [
    ("Mo-Fr 07:00-22:00; Sa,Su 08:00-20:00; PH off", "Asia/Shanghai"),
    ("Mo-Su 10:00-14:00", None),
    ("22:00-06:00", "Europe/Berlin"),
    ("Mo-Fr 09:00-17:00; Sa 10:00-12:00 unknown", None),
    ("24/7", "Asia/Shanghai"),
]


def lot(lot_id: str, hours: str | None, timezone: str | None, lat: float = QINGDAO[0]) -> Lot:
    facts = Facts(timezone=timezone, opening_hours=hours)
    return Lot(lot_id, lot_id, "op", "off_street", 2, QINGDAO[1], lat, facts=facts)


@pytest.mark.parametrize("default", ["UTC", "Asia/Shanghai"])
def test_the_timeline_agrees_with_the_parser_minute_by_minute(default: str) -> None:
    lots = [lot(f"l{k}", text, zone) for k, (text, zone) in enumerate(EXPRESSIONS)]
    times = OpeningTimes.build(lots, ZoneInfo(default), NOW)
    for k, (text, zone) in enumerate(EXPRESSIONS):
        parser = OpeningHours(text, timezone=ZoneInfo(zone or default), coords=(36.1, 120.4))
        for t in range(NOW - 12 * 60 * MINUTE, NOW + 7 * 24 * 60 * MINUTE, 7 * MINUTE):
            moment = datetime.fromtimestamp(t / 1000, tz=UTC)
            assert times.is_open(k, t) == (not parser.is_closed(moment)), (text, moment)
            assert times.open_mask(t)[k] == times.is_open(k, t)
    assert times.first[4] == -1  # 24/7 needs no timeline


def test_public_holidays_follow_the_lots_country() -> None:
    office = "Mo-Fr 08:00-18:00; PH off"
    # The same longitude: one lot in China, one in Yakutia, Russia, where 1 October is a workday.
    lots = [lot("qingdao", office, "Asia/Shanghai"), lot("yakutia", office, "Asia/Shanghai", lat=69.65)]
    times = OpeningTimes.build(lots, UTC, NOW)
    national_day = int(datetime(2026, 10, 1, 10, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
    workday = int(datetime(2026, 9, 30, 10, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
    assert times.is_open(0, workday)
    assert not times.is_open(0, national_day)
    assert times.is_open(1, national_day)


def test_closes_at_is_the_next_closing_at_or_after_the_time_asked() -> None:
    lots = [lot("shop", "Mo-Su 10:00-14:00", None), lot("always", None, None)]
    times = OpeningTimes.build(lots, UTC, NOW)

    def at(hour: int) -> int:
        return int(datetime(2026, 9, 29, hour, tzinfo=UTC).timestamp() * 1000)

    assert times.closes_at(0, at(12)) == at(14)  # open: its closing today
    assert times.closes_at(0, at(15)) == at(14) + 24 * 60 * MINUTE  # closed: after it opens again
    assert times.closes_at(0, at(9)) == at(14)
    assert times.closes_at(1, at(12)) is None
    assert not times.stale(NOW + 11 * 60 * MINUTE)
    assert times.stale(NOW + 13 * 60 * MINUTE)


def test_a_lot_that_opens_or_closes_is_reported_as_changed() -> None:
    lots = [lot("shop", "Mo-Su 10:00-14:00", None), lot("always", None, None)]
    state = Availability(CityIndex.build(lots), now_ms=NOW)  # 12:00: open
    shop = state.index.layout.position["shop"]
    assert state.open_now.tolist() == [True, True]
    version = state.version
    assert state.tick(NOW + 60 * MINUTE).tolist() == []  # 13:00: nothing turned
    assert state.tick(NOW + 2 * 60 * MINUTE + 1).tolist() == [shop]  # 14:00: the shop closed
    assert not state.open_now[shop]
    assert state.open_now.sum() == 1
    assert state.version == version + 1
    assert state.changed_in[shop] == state.version
    assert np.array_equal(state.tick(NOW + 22 * 60 * MINUTE + 1), [shop])  # 10:00 next day: open again
    assert state.open_now.tolist() == [True, True]
