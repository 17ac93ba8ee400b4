"""NGSI-LD's error body: RFC 7807 problem details typed by NGSI-LD's error URIs (ETSI GS CIM 009, 5.5.2),
as application/json."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

import orjson
from aiohttp import web

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
