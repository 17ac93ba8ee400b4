"""NGSI-LD's error body: RFC 7807 problem details typed by NGSI-LD's error URIs (ETSI GS CIM 009, 5.5.2),
as application/json."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

import orjson
from aiohttp import web

from parking_hub.api.errors import ApiError

PREFIX = "/ngsi-ld/"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
ERROR_TYPES = {
    400: (ERRORS + "BadRequestData", "The request includes input data which does not meet the requirements"),
    403: (ERRORS + "TooComplexQuery", "The query is too complex to be answered"),
    404: (ERRORS + "ResourceNotFound", "The referred resource has not been found"),
    422: (ERRORS + "OperationNotSupported", "The operation is not supported"),
}
# A body that is not JSON, or not a Query, is malformed rather than merely wrong: InvalidRequest.
INVALID_REQUEST = (
    ERRORS + "InvalidRequest",
    "The request associated to the operation is syntactically invalid",
)


def problem(
    status: int, detail: str, headers: Mapping[str, str] | None = None, kind: tuple[str, str] | None = None
) -> web.Response:
    uri, title = kind or ERROR_TYPES.get(status, ("about:blank", HTTPStatus(status).phrase))
    body = {"type": uri, "title": title, "status": status, "detail": detail}
    data = orjson.dumps(body)
    return web.Response(status=status, body=data, content_type="application/json", headers=headers)


def problem_answer(request: web.Request, exc: Exception) -> web.Response | None:
    """An error under /ngsi-ld/ (unknown paths and methods, 401 and 429 included) as NGSI-LD's problem
    details (an HTTP exception of status 400 or more); None for an unexpected error, which the
    API's own format answers."""
    if isinstance(exc, ApiError):
        kind = INVALID_REQUEST if exc.code == "invalid_request" else None
        return problem(exc.status, exc.message, exc.headers, kind)
    if isinstance(exc, web.HTTPException):
        detail = f"no NGSI-LD resource {request.path}" if exc.status == 404 else exc.reason
        return problem(exc.status, detail, {k: v for k, v in exc.headers.items() if k == "Allow"})
    return None
