"""/metrics scraped from a running hub and read with prometheus_client's own parser."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.hub import Hub, eventually, lot_feature, running_hub, unique, write_registry
from tests.integration.test_skeleton import load, now_ms, publish, wait_applied
from tests.sse import next_event

pytestmark = pytest.mark.integration

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "parking-hub.json"
METRIC_NAME = re.compile(r"\bparking_hub_[a-z_]+")
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


async def scrape_text(hub: Hub) -> str:
    async with hub.http.get(hub.base_url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return await resp.text()


async def scrape(hub: Hub) -> Series:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(await scrape_text(hub))
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


async def exported_families(hub: Hub) -> dict[str, str]:
    """Family name to type, including labelled families with no sample yet. The text format's
    `_created` gauges (a counter's or histogram's creation time) are left out: nothing queries them."""
    return {
        family.name: family.type
        for family in text_string_to_metric_families(await scrape_text(hub))
        if not family.name.endswith("_created")
    }


def family_of(series: str, families: dict[str, str]) -> str | None:
    """The family a queried series name belongs to, if the hub exports that series."""
    for family, kind in families.items():
        if any(series == family + suffix for suffix in SERIES_SUFFIXES[kind]):
            return family
    return None


async def test_metrics_cover_ingest_freshness_http_and_streams(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    a, b = unique("ma"), unique("mb")
    registry = write_registry(
        tmp_path / "r.json", [lot_feature(a, 120.0, 36.0, 5), lot_feature(b, 120.001, 36.001, 5)]
    )
    assert load(redis_url, registry).returncode == 0
    async with running_hub(redis_url, mqtt_url) as hub:
        t = now_ms() - 20_000  # observed 20 s ago: every report is older than 10 s when written
        frame = {"berth": [0, 1, 2], "occupied": [1, 0, 1], "ts": [t, t, t]}
        await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{a}/events", frame)])
        await wait_applied(hub, a, 3)

        for path in (f"/v1/lots/{b}", "/v1/lots/no-such-lot", "/v1/nearest", "/not/a/route"):
            await hub.get(path)
        async with hub.http.get(hub.base_url + "/v1/stream", params={"lots": a}) as stream:
            await next_event(stream)
            during = await scrape(hub)
        # The closed stream ends when its handler next writes: make that happen now.
        await publish(mqtt_url, [(f"{hub.prefix}/v1/lots/{a}/berths/4", {"occupied": 1, "ts": t + 1})])
        after = await eventually(
            lambda: scrape(hub),
            lambda s: value(s, "parking_hub_http_requests_in_progress", route="/v1/stream") == 0,
            within=30,
        )

    assert value(during, "parking_hub_http_requests_in_progress", route="/v1/stream") == 1
    assert value(after, "parking_hub_http_requests_in_progress", route="/v1/stream") == 0

    # Requests are labelled by route template, so lot ids never become label values.
    lot_route = "/v1/lots/{lot_id}"
    assert value(after, "parking_hub_http_requests_total", route=lot_route, status="200") >= 2
    assert value(after, "parking_hub_http_requests_total", route=lot_route, status="404") == 1
    assert value(after, "parking_hub_http_requests_total", route="/v1/nearest", status="400") == 1
    assert value(after, "parking_hub_http_requests_total", route="unmatched", status="404") == 1
    assert value(after, "parking_hub_http_requests_total", route="/v1/stream", status="200") == 1
    label_values = {v for _, labels in after for _, v in labels}
    assert not {b, "no-such-lot", "/not/a/route"} & label_values
    lot_latency = value(after, "parking_hub_http_request_seconds_count", route=lot_route)
    assert lot_latency == value(after, "parking_hub_http_requests_total", route=lot_route, status="200") + 1
    assert value(after, "parking_hub_http_request_seconds_bucket", route=lot_route, le="+Inf") == lot_latency

    # Freshness: four reports, all observed about 20 s before they were written.
    age = "parking_hub_ingest_report_age_seconds"
    assert value(after, f"{age}_bucket", le="10.0") == 0
    assert value(after, f"{age}_bucket", le="+Inf") == value(after, f"{age}_count") == 4
    assert value(after, f"{age}_sum") >= 3 * 20

    assert value(after, "parking_hub_ingest_events_total", result="won") == 4
    batches = value(after, "parking_hub_ingest_batches_total")
    assert batches >= 1
    assert value(after, "parking_hub_ingest_batch_events_count") == batches
    assert value(after, "parking_hub_mqtt_connected") == 1
    assert value(after, "parking_hub_redis_connected") == 1
    assert value(after, "parking_hub_ingest_lag_seconds") < 5


async def test_dashboard_shows_every_exported_metric_and_only_those(redis_url: str, mqtt_url: str) -> None:
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]
    assert exprs
    queried = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert all(METRIC_NAME.search(expr) for expr in exprs)
    async with running_hub(redis_url, mqtt_url) as hub:
        families = await exported_families(hub)
    shown = {series: family_of(series, families) for series in queried}
    assert None not in shown.values(), f"not exported: {sorted(s for s, f in shown.items() if f is None)}"
    assert set(shown.values()) == set(families), (
        f"not on the dashboard: {sorted(set(families) - set(shown.values()))}"
    )


async def test_the_api_role_exports_no_mqtt_state(redis_url: str, mqtt_url: str) -> None:
    async with running_hub(redis_url, mqtt_url, role="api") as hub:
        families = await exported_families(hub)
    assert "parking_hub_redis_connected" in families
    assert "parking_hub_mqtt_connected" not in families


async def test_forecast_readiness_is_exported_where_v1_is_served(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    registry = write_registry(tmp_path / "r.json", [lot_feature(unique("fc"), 120.0, 36.0, 5)])
    assert load(redis_url, registry).returncode == 0
    async with running_hub(redis_url, mqtt_url, role="api") as hub:
        # Lots without history: the first pass is quick, and the gauge turns 1 when it is done.
        ready = await eventually(lambda: scrape(hub), lambda s: value(s, "parking_hub_forecast_ready") == 1)
        assert value(ready, "parking_hub_forecast_ready") == 1
    async with running_hub(redis_url, mqtt_url, role="ingest") as hub:
        assert "parking_hub_forecast_ready" not in await exported_families(hub)
