"""docs/operators.md's walk, run as a reader would: its `bash` blocks exactly as written, in one shell,
against servers the tests started; every answer the doc shows must hold in what curl printed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from parking_hub.embedded import free_port
from tests.registry_check import schema_errors
from tests.unit.test_operators_guide import blocks

pytestmark = pytest.mark.integration

WALK_TIMEOUT_S = 90


def holds(shown: Any, actual: Any) -> bool:
    """Every field the doc shows is in the answer with the same value (objects may have more)."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(k in actual and holds(v, actual[k]) for k, v in shown.items())
    return bool(shown == actual)


def test_the_walk_runs_as_written(servers: tuple[str, str], tmp_path: Path) -> None:
    redis_url, mqtt_url = servers
    broker = urlsplit(mqtt_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARKING_HUB_")} | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PARKING_HUB_REDIS_URL": redis_url,
        "PARKING_HUB_MQTT_URL": mqtt_url,
        "MQTT_HOST": str(broker.hostname),
        "MQTT_PORT": str(broker.port),
        "PARKING_HUB_HTTP": f"127.0.0.1:{free_port()}",
    }
    script = "set -euo pipefail\n" + "\n".join(blocks("bash"))
    walk = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the hub it starts in the background is in its process group
    )
    try:
        out, err = walk.communicate(timeout=WALK_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(walk.pid, signal.SIGKILL)
    log = err.decode(errors="replace")[-3000:]
    assert walk.returncode == 0, log
    answers = [orjson.loads(line) for line in out.splitlines() if line.startswith(b"{")]
    shown = [orjson.loads(body) for body in blocks("json answer")]
    assert len(answers) == len(shown), (out, log)
    for expected, actual in zip(shown, answers, strict=True):
        assert holds(expected, actual), (expected, actual)
    for registry in tmp_path.glob("*.geojson"):
        assert schema_errors(orjson.loads(registry.read_bytes())) == [], registry
