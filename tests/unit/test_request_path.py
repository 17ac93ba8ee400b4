"""Every concern around a handler is one middleware, and each feature installs its header hooks only
when it is on."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from parking_hub.api.access import Access, keep_keyed_answers_private
from parking_hub.api.app import create_app
from parking_hub.api.cors import add_cors_headers
from parking_hub.api.headers import add_standard_headers
from parking_hub.config import RateLimit
from parking_hub.credentials import ApiKeys, new_key
from parking_hub.observe import Health
from parking_hub.query.live import LiveCity


def _app(*, serve_api: bool = True, **options: Any) -> tuple[list[object], list[object]]:
    health = Health(redis_ok=False, mqtt_connected=None, index_loaded=False)
    live = LiveCity(None) if serve_api else None  # type: ignore[arg-type]  # never run
    app = create_app(live, health, CollectorRegistry(), **options)
    return list(app.middlewares), list(app.on_response_prepare)


def test_keys_rate_limits_and_cors_off_install_nothing() -> None:
    middlewares, hooks = _app(cors_origins=())
    assert len(middlewares) == 1  # the guard: metrics, errors, the time limit
    assert hooks == [add_standard_headers]
    middlewares, _ = _app(cors_origins=(), serve_api=False)
    assert len(middlewares) == 1


def test_each_feature_that_is_on_installs_its_part() -> None:
    _, line = new_key("app")
    middlewares, hooks = _app(access=Access.of(None, RateLimit(10.0, 5)))
    assert len(middlewares) == 1  # keys, rate limits and preflights are the guard's too
    assert add_cors_headers in hooks  # CORS is on by default
    assert keep_keyed_answers_private not in hooks  # rate limits alone make nothing private
    _, hooks = _app(access=Access.of(ApiKeys.parse(line), None))
    assert keep_keyed_answers_private in hooks
