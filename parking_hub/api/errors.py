"""The API's error format: {"error": {"code", "message", "param"}}, and never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from aiohttp import web

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers


def invalid(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, param)


def error_response(
    status: int, code: str, message: str, param: str | None = None, headers: Mapping[str, str] | None = None
) -> web.Response:
    body: dict[str, str] = {"code": code, "message": message}
    if param is not None:
        body["param"] = param
    return web.Response(
        status=status, body=orjson.dumps({"error": body}), content_type="application/json", headers=headers
    )


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def error_answer(request: web.Request, exc: Exception) -> web.Response:
    """The answer to an error a request met (an HTTP exception of status 400 or more, or any
    other), in the API's format; an unexpected one is logged and answered 500, without details."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.param, exc.headers)
    if isinstance(exc, web.HTTPException):
        code = _HTTP_CODES.get(exc.status, "http_error")
        return error_response(exc.status, code, exc.reason, headers=_kept_headers(exc))
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to answer; it has been logged")


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    # 405 must say which methods the resource allows.
    return {k: v for k, v in exc.headers.items() if k == "Allow"}
