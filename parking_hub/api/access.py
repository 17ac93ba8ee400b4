"""Who may call the API: API keys and per-client rate limits, both off unless configured.

Probes, the descriptions of the API, the registry and the MQTT interface, and the dashboard page
and its files stay open: they carry no availability data, and load balancers and browsers fetch
them without a key. Everything else (/v1, /metrics and any route added later) needs a key when
keys are on. A key comes as `Authorization: Bearer KEY` or `X-API-Key: KEY`, never in the URL,
where it would end up in proxy and server logs. The rate limit counts every request but the
probes, which load balancers send often from few addresses: open paths, 404s, 405s and CORS
preflights too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from parking_hub.api.errors import ApiError
from parking_hub.api.ngsi.problems import PREFIX as NGSI_LD_PREFIX
from parking_hub.api.ngsi.schemas import ProblemDetails
from parking_hub.api.openapi import Answer, Endpoint
from parking_hub.api.ratelimit import TokenBuckets
from parking_hub.api.schemas import ErrorBody
from parking_hub.config import RateLimit
from parking_hub.credentials import ApiKeys

PROBES = frozenset({"/healthz", "/readyz"})
OPEN_PATHS = PROBES | {
    "/openapi.json",
    "/docs",
    "/schemas/registry.json",
    "/asyncapi.json",
    "/",
    "/static/{name}",
}
REALM = 'Bearer realm="parking-hub"'
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer KEY"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
NEEDS_KEY = "no API key, or one that is not valid; see WWW-Authenticate"
RATE_LIMITED = "this client's rate limit is spent; retry after Retry-After seconds"


@dataclass(frozen=True, slots=True)
class Access:
    keys: ApiKeys | None = None
    buckets: TokenBuckets | None = None

    @classmethod
    def of(cls, keys: ApiKeys | None, rate_limit: RateLimit | None) -> Access:
        return cls(keys, TokenBuckets(rate_limit) if rate_limit is not None else None)

    @property
    def on(self) -> bool:
        return self.keys is not None or self.buckets is not None

    def needs_key(self, route: str | None) -> bool:
        """route: a route template, or None for a request no route answers (a 404 or 405)."""
        return self.keys is not None and route is not None and route not in OPEN_PATHS

    def limits(self, route: str | None) -> bool:
        return self.buckets is not None and route not in PROBES

    def describe(self, endpoints: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
        """The endpoints with the answers and security requirements this policy adds."""
        return tuple(self._described(e) for e in endpoints)

    def _described(self, endpoint: Endpoint) -> Endpoint:
        if not self.needs_key(endpoint.path) and not self.limits(endpoint.path):
            return endpoint
        answers = dict(endpoint.answers)
        extra: dict[str, Any] = dict(endpoint.extra)
        # NGSI-LD paths answer every error, these too, as NGSI-LD's problem details.
        body = ProblemDetails if endpoint.path.startswith(NGSI_LD_PREFIX) else ErrorBody
        if self.needs_key(endpoint.path):
            answers[401] = Answer(NEEDS_KEY, body)
            extra["security"] = [{name: []} for name in SECURITY_SCHEMES]
        if self.limits(endpoint.path):
            held = answers.get(429)
            answers[429] = Answer(
                RATE_LIMITED if held is None else f"{held.description}; or {RATE_LIMITED}", body
            )
        return dataclasses.replace(endpoint, answers=answers, extra=extra)

    def add_security_schemes(self, spec: dict[str, Any]) -> None:
        if self.keys is not None:
            spec.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES


access_key = web.AppKey("access", Access)
_client_key = web.RequestKey("client", str)


def client_of(request: web.Request) -> str:
    """Whom a request counts against: its API key when it has a valid one, else its address."""
    return request.get(_client_key) or f"addr:{request.remote}"


def presented_key(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key")


def _refused(presented: str | None) -> ApiError:
    if presented is None:
        message = "this endpoint needs an API key: send Authorization: Bearer KEY or X-API-Key: KEY"
        return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": REALM})
    challenge = f'{REALM}, error="invalid_token"'
    return ApiError(401, "unauthorized", "the API key is not valid", headers={"WWW-Authenticate": challenge})


def _route(request: web.Request) -> str | None:
    """The matched route's template; None for a 404 or 405 (CORS preflights among them: no route
    takes OPTIONS)."""
    match = request.match_info
    resource = match.route.resource
    return None if resource is None or match.http_exception is not None else resource.canonical


def check_access(request: web.Request, access: Access) -> None:
    """Refuses (ApiError 401 or 429) a request its key or rate limit does not allow; called only
    when keys or rate limits are on, before CORS preflights, so that they are rate limited too."""
    route = _route(request)
    presented = presented_key(request) if access.keys is not None else None
    key_id = access.keys.identify(presented) if access.keys is not None and presented is not None else None
    if key_id is not None:
        request[_client_key] = f"key:{key_id}"
    # A client without a valid key is limited by its address, so refusals cost it tokens too.
    if access.buckets is not None and access.limits(route):
        wait = access.buckets.take(client_of(request))
        if wait:
            message = f"too many requests; retry in {wait} s"
            raise ApiError(429, "rate_limited", message, headers={"Retry-After": str(wait)})
    if key_id is None and access.needs_key(route):
        raise _refused(presented)


async def keep_keyed_answers_private(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: an answer given for a key must not be kept by shared caches for others."""
    cache = response.headers.get("Cache-Control")
    if cache and request.app[access_key].needs_key(_route(request)):
        response.headers["Cache-Control"] = cache.replace("public", "private")
