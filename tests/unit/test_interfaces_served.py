"""/schemas/registry.json and /asyncapi.json answer the documents kept in docs/, without an API key
even where keys are on, with an ETag for revalidation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from parking_hub.api.access import Access
from parking_hub.api.app import create_app
from parking_hub.credentials import ApiKeys, new_key
from parking_hub.observe import Health
from parking_hub.query.live import LiveCity

DOCS = Path(__file__).parents[2] / "docs"


@pytest.mark.parametrize(
    ("path", "kept"),
    [("/schemas/registry.json", "registry.schema.json"), ("/asyncapi.json", "asyncapi.json")],
)
async def test_served_open_and_as_kept_in_docs(path: str, kept: str) -> None:
    health = Health(redis_ok=True, index_loaded=False)
    live = LiveCity(cast(Any, None))
    keys = ApiKeys.parse(new_key("app")[1])
    application = create_app(live, health, CollectorRegistry(), access=Access.of(keys, None))
    async with TestClient(TestServer(application)) as client:
        assert (await client.get("/v1/summary")).status == 401
        resp = await client.get(path)
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.read() == (DOCS / kept).read_bytes()
        again = await client.get(path, headers={"If-None-Match": resp.headers["ETag"]})
        assert again.status == 304
        spec = await (await client.get("/openapi.json")).json()
        assert "security" not in spec["paths"][path]["get"]
