"""The fault harness on replicated Redis, in its CI size: a primary killed under simulator traffic
and a replica promoted, with `--ack-after replica`: no acknowledged event may be lost.

`python -m benchmarks.faults --redis sentinel|cluster --ack-after replica|write --rounds 20` is the
big size, and measures what `write` loses (docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import HA_KINDS, Plan, run_faults
from tests.faults.servers import missing_programs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(missing_programs()), reason=f"needs {', '.join(missing_programs())} (.ci/debian-packages)"
    ),
]


@pytest.mark.timeout(420)
@pytest.mark.parametrize("redis", ["sentinel", "cluster"])
async def test_primary_killed_under_traffic_loses_no_acknowledged_event(tmp_path: Path, redis: str) -> None:
    report = await run_faults(Plan(rounds=1, redis=redis, ack_after="replica"), tmp_path, progress=print)
    print(report.figures())
    verdict = report.verdict
    assert verdict is not None
    assert report.faults == dict.fromkeys(HA_KINDS, 1)
    assert verdict.delivered > 0
    assert (verdict.lost, verdict.unexpected, verdict.stale) == (0, 0, 0), verdict
