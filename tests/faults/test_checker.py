"""The checker itself: it must see a lost report, a report nobody delivered, and a stale API."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensors_sim.city import CitySpec, write_city
from sensors_sim.registry import load_registry
from sensors_sim.truth import Truth
from tests.faults.checker import check
from tests.integration.hub import running_hub, unique
from tests.integration.test_skeleton import load, now_ms, publish

pytestmark = pytest.mark.integration


async def test_the_checker_reports_lost_unexpected_and_stale_berths(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "city.geojson"
    write_city(CitySpec(lots=2, berths=20, seed=4, prefix=unique("chk")), path)
    registry = load_registry(path)
    assert load(redis_url, path).returncode == 0
    lot_id = registry.lot_ids[0]
    t = now_ms()
    truth = Truth.empty(registry)
    truth.rank[[0, 1]] = [t * 2 + 1, t * 2]  # berth 0 occupied, berth 1 free, as delivered
    truth.delivered = 2
    async with running_hub(redis_url, mqtt_url) as hub:
        berth = f"{hub.prefix}/v1/lots/{lot_id}/berths"
        # Berth 0 as delivered; berth 1 never arrives; berth 2 gets a report that was never delivered.
        await publish(
            mqtt_url, [(f"{berth}/0", {"occupied": 1, "ts": t}), (f"{berth}/2", {"occupied": 1, "ts": t})]
        )
        verdict = await check(redis_url, hub.base_url, registry, truth, wait_s=3)
    assert (verdict.lost, verdict.unexpected) == (1, 1)
    assert verdict.stale > 0
    assert any(line.startswith(f"{lot_id}: free") for line in verdict.differences), verdict.differences
    assert verdict.applied == 2
    assert verdict.duplicated == 0
    assert not verdict.clean
