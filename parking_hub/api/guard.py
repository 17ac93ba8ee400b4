"""The request guard: every concern around a handler in one middleware, so a request pays for one
layer rather than one per concern (each layer is a coroutine, and a few microseconds).

In order: the HTTP metrics; errors, in the API's format or, under /ngsi-ld/, NGSI-LD's problem
details; API keys and rate limits (when on); CORS preflights (when CORS is on); the time limit.
Each concern's rules live in its own module; this one only puts them in order.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from parking_hub.api.access import Access, check_access
from parking_hub.api.cors import CorsPolicy, preflight_answer
from parking_hub.api.errors import error_answer
from parking_hub.api.http_metrics import HttpMetrics, route_of
from parking_hub.api.limits import TimeLimit
from parking_hub.api.ngsi.problems import PREFIX as NGSI_LD_PREFIX
from parking_hub.api.ngsi.problems import problem_answer


class Guard:
    def __init__(
        self, metrics: HttpMetrics, time_limit: TimeLimit, access: Access, cors: CorsPolicy, *, ngsi_ld: bool
    ) -> None:
        """ngsi_ld: whether this process serves /ngsi-ld/, whose errors are problem details."""
        self._metrics = metrics
        self._time_limit = time_limit
        self._access = access if access.on else None
        self._cors = cors.on
        self._ngsi_ld = ngsi_ld

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        started = self._metrics.started(route)
        task = None
        try:
            if self._access is not None:
                check_access(request, self._access)
            preflight = preflight_answer(request) if self._cors else None
            if preflight is not None:
                response: web.StreamResponse = preflight
            else:
                task = self._time_limit.watch(request)
                response = await handler(request)
        except asyncio.CancelledError:
            if task is None or not self._time_limit.expired(task):
                raise
            response = self._error(request, self._time_limit.error())
        except web.HTTPException as exc:
            if exc.status < 400:  # a redirect: aiohttp answers it
                self._metrics.answered(route, exc.status, started)
                raise
            response = self._error(request, exc)
        except Exception as exc:  # noqa: BLE001 (every error is answered, and error_answer logs it)
            response = self._error(request, exc)
        finally:
            if task is not None:
                self._time_limit.release(task)
            self._metrics.left(route)
        self._metrics.answered(route, response.status, started)
        return response

    def _error(self, request: web.Request, exc: Exception) -> web.Response:
        if self._ngsi_ld and request.path.startswith(NGSI_LD_PREFIX):
            answer = problem_answer(request, exc)
            if answer is not None:
                return answer
        return error_answer(request, exc)
