"""Generated input of every kind through a real hub: errors reported, valid events applied, alive."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fuzz.inputs import devices, messages, registry_feature
from tests.fuzz.through_hub import generate, run_through_hub
from tests.integration.hub import running_hub, write_registry
from tests.integration.test_skeleton import load

pytestmark = pytest.mark.integration

EXAMPLES = 300


async def test_generated_input_on_every_path_is_rejected_or_applied_and_the_hub_lives(
    redis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    assert load(redis_url, write_registry(tmp_path / "r.json", [registry_feature()])).returncode == 0
    stream = generate(messages(time.time_ns() // 1_000_000), EXAMPLES, seed_value=7)
    assert {m.kind for m in stream} == {"events", "berth", "status", "tts", "chirpstack"}
    async with running_hub(redis_url, mqtt_url) as hub:
        outcome = await run_through_hub(
            stream,
            mqtt_url=mqtt_url,
            redis_url=redis_url,
            hub_url=hub.base_url,
            prefix=hub.prefix,
            devices=devices(),
            settle_s=60,
        )
    assert outcome.expected.decoder_problems == []
    assert outcome.expected.error_reports > 0
    assert outcome.expected.valid_events > 0
    assert outcome.figures() | {"seconds": 0} == outcome.figures() | {
        "seconds": 0,
        "error_reports": outcome.expected.error_reports,
        "error_reports_dropped": 0,
        "applied": outcome.expected.valid_events,
        "berths_wrong": 0,
        "alive": True,
        "ok": True,
    }
