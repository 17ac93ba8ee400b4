"""Error reports never hold up ingest: a failed or refused publish is counted and dropped."""

from __future__ import annotations

import asyncio

import aiomqtt
import orjson
import pytest

from parking_hub.ingest.error_reports import ErrorReports
from parking_hub.ingest.formats import Decoded, Rejection
from parking_hub.ingest.topics import Topics
from parking_hub.observe import Health, Metrics


def dropped(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "parking_hub_ingest_error_reports_dropped_total", {"reason": reason}
    )
    return value or 0.0


def bad_frame(lot: str, code: str = "bad_payload") -> Decoded:
    return Decoded(lot=lot, rejections=[Rejection(code, "not JSON")])


async def test_a_timed_out_publish_is_dropped_and_the_others_go_out() -> None:
    metrics = Metrics(Health())
    reports = ErrorReports(Topics("p"), metrics)
    published: list[tuple[str, dict[str, object]]] = []
    two_published = asyncio.Event()
    refused_once = False

    async def publish(topic: str, payload: bytes) -> None:
        nonlocal refused_once
        if not refused_once:
            refused_once = True
            raise aiomqtt.MqttError("Operation timed out")
        published.append((topic, orjson.loads(payload)))
        if len(published) == 2:
            two_published.set()

    for lot in ("a", "b", "c"):
        reports.report(None, f"p/v1/lots/{lot}/events", bad_frame(lot), now_ms=1)
    task = asyncio.create_task(reports.publish_forever(publish))
    try:
        async with asyncio.timeout(5):
            await two_published.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert dropped(metrics, "publish_failed") == 1
    assert len(published) == 2
    assert {body["code"] for _, body in published} == {"bad_payload"}
    assert (
        metrics.registry.get_sample_value("parking_hub_ingest_rejected_events_total", {"code": "bad_payload"})
        == 3
    )


def test_a_full_backlog_counts_what_it_drops() -> None:
    metrics = Metrics(Health())
    reports = ErrorReports(Topics("p"), metrics, backlog=2)
    for _ in range(5):
        reports.report(None, "p/v1/lots/a/events", bad_frame("a"), now_ms=1)
    assert dropped(metrics, "backlog_full") == 3
