"""Schemathesis against a running hub's own /openapi.json: nothing it sends gets a 500, and every
answer matches the description (status, content type and body schema).

The hub runs as its own process, with a loaded registry and with API keys and a rate limit on, so
the answers those add are described and checked too. Generation is derandomized: the same
description always yields the same requests.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from parking_hub.api.routes import API, DASHBOARD, DESCRIPTION, FEEDS, NGSI_LD, PROBES
from parking_hub.credentials import new_key
from parking_hub.embedded import free_port, managed_process
from tests.integration.hub import FIRST_FLAVOUR_ONLY, lot_feature, unique, write_registry

pytestmark = [pytest.mark.integration, FIRST_FLAVOUR_ONLY]

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
EXAMPLES = 40  # per endpoint and generation mode: enough to reach every parameter's edges
CONFIG = schemathesis.Config.from_dict(
    {
        # Streams never end: read up to the snapshot's first event (see STREAM_TIMEOUT too).
        "max-stream-events": 1,
        "request-timeout": 20,
        # The key is sent by the test; generated keys would only ever meet 401.
        "generation": {"with-security-parameters": False},
    }
)
# (connect, read) seconds for a stream: an area with no lots sends no event, so reading stops after
# the read half. Fewer events read changes what is checked, never whether the check passes.
STREAM_TIMEOUT = (20.0, 3.0)
BAYS = [[120.3830, 36.0675], [120.3831, 36.0676], [120.3832, 36.0677]]


@dataclass(frozen=True, slots=True)
class RunningHub:
    base_url: str
    headers: dict[str, str]
    schema: schemathesis.BaseSchema
    lot_id: str  # the loaded registry's on-street lot


def ready(url: str, within: float = 60.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - a loopback URL we built
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def running(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    workdir = tmp_path_factory.mktemp("schemathesis")
    tag = unique("st")
    registry = write_registry(
        workdir / "city.geojson",
        [
            lot_feature(f"{tag}-a", 120.3826, 36.0671, 6, features={"ev": [0, 1], "accessible": [5]}),
            lot_feature(f"{tag}-b", 120.3829, 36.0674, 3, kind="on_street", berths=BAYS),
        ],
    )
    key, line = new_key("schemathesis")
    (workdir / "keys").write_text(line + "\n")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    args = [
        *(sys.executable, "-m", "parking_hub", "serve"),
        *("--redis-url", servers[0], "--mqtt-url", servers[1], "--http", f"127.0.0.1:{port}"),
        *("--lots", str(registry), "--client-id", tag, "--topic-prefix", tag),
        *("--api-keys-file", str(workdir / "keys")),
        # Far above what the test sends: 429 is described, but a run must not depend on the clock.
        *("--rate-limit", "1000000", "--rate-burst", "1000000"),
    ]
    with managed_process(args, port, "hub", workdir):
        assert ready(base_url + "/readyz"), (workdir / "hub.log").read_text()
        schema = schemathesis.openapi.from_url(base_url + "/openapi.json", config=CONFIG)
        yield RunningHub(base_url, {"X-API-Key": key}, schema, f"{tag}-b")


ENDPOINTS = PROBES + DESCRIPTION + API + NGSI_LD + FEEDS + DASHBOARD
ALL_PATHS = [endpoint.path for endpoint in ENDPOINTS]
METHODS = {endpoint.path: endpoint.method.upper() for endpoint in ENDPOINTS}
# Negative cases break a parameter's constraints, so only endpoints with parameters have any.
RUNS = [(e.path, GenerationMode.POSITIVE, "") for e in ENDPOINTS] + [
    (e.path, GenerationMode.NEGATIVE, "") for e in ENDPOINTS if e.query or e.path_params
]
# Random ids are almost never in the registry; these runs name a real lot, the rest generated.
RUNS += [
    ("/v1/lots/{lot_id}", GenerationMode.POSITIVE, "lot_id"),
    ("/v1/stream", GenerationMode.POSITIVE, "lots"),
    ("/ngsi-ld/v1/entities/{entity_id}", GenerationMode.POSITIVE, "entity_id"),
    ("/static/{name}", GenerationMode.POSITIVE, "name"),
]


def known(running: RunningHub, parameter: str) -> dict[str, Any]:
    """as_strategy arguments that fix `parameter` to name the registry's on-street lot (or a file the
    dashboard ships)."""
    if parameter == "lot_id":
        return {"path_parameters": {"lot_id": running.lot_id}}
    if parameter == "name":
        return {"path_parameters": {"name": "dashboard.js"}}
    if parameter == "entity_id":
        return {"path_parameters": {"entity_id": f"urn:ngsi-ld:OnStreetParking:{running.lot_id}"}}
    return {"query": {parameter: running.lot_id}} if parameter else {}


def test_the_description_covers_every_route(running: RunningHub) -> None:
    assert set(running.schema.raw_schema["paths"]) == set(ALL_PATHS)


@pytest.mark.parametrize(
    ("path", "mode", "known_lot"), RUNS, ids=[f"{p}-{m.value}{'-' if k else ''}{k}" for p, m, k in RUNS]
)
def test_schemathesis_finds_nothing(
    running: RunningHub, path: str, mode: GenerationMode, known_lot: str
) -> None:
    operation = running.schema[path][METHODS[path]]
    transport: dict[str, Any] = {"timeout": STREAM_TIMEOUT} if path == "/v1/stream" else {}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, **known(running, known_lot)))
    def check(case: Case[Any]) -> None:
        case.call_and_validate(base_url=running.base_url, headers=running.headers, checks=CHECKS, **transport)

    check()
