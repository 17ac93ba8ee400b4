"""The API's HTTP connections: a cap per process, a deadline for request headers, and the parser's
refusals answered in the API's error shape.

aiohttp alone reads a request's headers for as long as the client takes (a byte a second holds a
connection, and one of the process's files, for good), accepts connections until the process runs
out of files, and answers what its parser refuses in plain text that quotes the request (an
oversized Authorization header would put key material in the answer and the log).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import resource
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from parking_hub.api.errors import error_response
from parking_hub.api.headers import STANDARD_HEADERS
from parking_hub.api.limits import (
    HEADER_TIMEOUT_S,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_REQUEST_LINE_BYTES,
)
from parking_hub.api.ngsi.problems import PREFIX, problem
from parking_hub.config import SettingError

log = logging.getLogger(__name__)

# Files kept for Redis, MQTT and the registry files when the open-file limit caps connections.
RESERVED_FILES = 100
END_OF_HEADERS = b"\r\n\r\n"  # the parser refuses bare LF line ends, so this is the only form


def connection_cap() -> int:
    """MAX_CONNECTIONS, or fewer when the process may not open that many files (a connection is one)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft - RESERVED_FILES))


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int = field(default_factory=connection_cap)
    header_timeout_s: float = HEADER_TIMEOUT_S


def _too_many_connections() -> bytes:
    """The whole answer to a connection past the cap, which the server neither reads nor keeps."""
    message = "this server is at its connection limit; retry later"
    body = orjson.dumps({"error": {"code": "too_many_connections", "message": message}})
    headers = {
        **STANDARD_HEADERS,
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Retry-After": "5",
        "Connection": "close",
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"HTTP/1.1 503 Service Unavailable\r\n{head}\r\n".encode() + body


class _Refused(asyncio.Protocol):
    answer = _too_many_connections()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self.answer)
        transport.close()


def _parse_failure(exc: HttpProcessingError) -> tuple[int, str, str]:
    """Status, code and message for a request the parser refused, never quoting the request."""
    if isinstance(exc, LineTooLong):
        # The exception names the limit it broke; the two limits differ so that it tells which.
        if exc.args[1] == MAX_REQUEST_LINE_BYTES:
            return 414, "uri_too_long", f"the request line is over {MAX_REQUEST_LINE_BYTES} bytes"
        return 431, "header_too_large", f"a header line is over {MAX_HEADER_BYTES} bytes"
    if exc.message.startswith("Too many headers"):
        return 431, "too_many_headers", f"the request has more than {MAX_HEADERS} headers"
    return 400, "bad_request", "the request is not valid HTTP/1.1"


# The start of a request line that is too long, as the parser quotes it (with or without the method).
_NGSI_LD_LINE = re.compile(rb"(?:[A-Z]+ )?" + re.escape(PREFIX.encode()))


def _under_ngsi_ld(exc: HttpProcessingError) -> bool:
    """A request line too long for a path under /ngsi-ld/: answered as NGSI-LD answers errors."""
    line = exc.args[0] if isinstance(exc, LineTooLong) and exc.args else b""
    return isinstance(line, bytes | bytearray) and _NGSI_LD_LINE.match(line) is not None


class ApiRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, with a deadline for each request's headers and JSON refusals.

    A request's headers must be complete within `header_timeout_s` of the connection opening, or
    of the request's first byte on a kept-alive connection; else the connection is closed.
    """

    __slots__ = ("_deadline", "_gate", "_tail", "_timeout_s")

    def __init__(self, manager: web.Server, gate: _Gate) -> None:
        super().__init__(
            manager,
            loop=asyncio.get_running_loop(),
            max_line_size=MAX_REQUEST_LINE_BYTES,
            max_field_size=MAX_HEADER_BYTES,
            max_headers=MAX_HEADERS,
        )
        self._gate = gate
        self._timeout_s = gate.limits.header_timeout_s
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen, for an END_OF_HEADERS split across reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_deadline()

    def data_received(self, data: bytes) -> None:
        seen = self._tail + data
        end = seen.rfind(END_OF_HEADERS)
        if end >= 0 and self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._deadline is None and (end < 0 or end + len(END_OF_HEADERS) < len(seen)):
            self._start_deadline()  # the first bytes of a request
        self._tail = seen[-(len(END_OF_HEADERS) - 1) :]
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._gate.closed()
        super().connection_lost(exc)

    def _start_deadline(self) -> None:
        self._deadline = asyncio.get_running_loop().call_later(self._timeout_s, self._too_slow)

    def _too_slow(self) -> None:
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        log.info("closed the connection from %s: no request headers within %g s", peer, self._timeout_s)
        self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        status, code, text = _parse_failure(exc)
        # One INFO line without the request's bytes: it is the client's fault, not the server's.
        log.info("refused a request from %s: %d %s", request.remote, status, code)
        if _under_ngsi_ld(exc):
            response = problem(status, text, STANDARD_HEADERS)
        else:
            response = error_response(status, code, text, headers=STANDARD_HEADERS)
        response.force_close()
        return response


class _Gate:
    """The protocol factory: a handler per connection while fewer than the cap are open."""

    def __init__(self, server: web.Server, limits: ConnectionLimits) -> None:
        self.server, self.limits = server, limits
        self.open = 0
        self._refusing = False

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self.limits.max_connections:
            if not self._refusing:
                log.warning("%d connections open, the limit: refusing new ones", self.open)
            self._refusing = True
            return _Refused()
        self._refusing = False
        self.open += 1
        return ApiRequestHandler(self.server, self)

    def closed(self) -> None:
        self.open -= 1


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use by another program; stop it or choose another host:port"
    if isinstance(exc, socket.gaierror):
        return f"{host!r} is no address of this machine ({exc.strerror}); give host:port, like 127.0.0.1:8080"
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    return f"cannot listen on {host}:{port} ({reason}); choose another host:port"


@asynccontextmanager
async def listening(
    runner: web.AppRunner,
    host: str,
    port: int,
    limits: ConnectionLimits | None = None,
    *,
    reuse_port: bool = False,
) -> AsyncIterator[asyncio.Server]:
    """Serves the runner's app on host:port until the block ends; the runner is set up already.
    reuse_port: processes that all set it share the port, and the kernel spreads connections."""
    assert runner.server is not None
    gate = _Gate(runner.server, limits or ConnectionLimits())
    try:
        server = await asyncio.get_running_loop().create_server(gate, host, port, reuse_port=reuse_port)
    except OSError as exc:
        raise SettingError("http", _bind_failure(host, port, exc)) from exc
    try:
        yield server
    finally:
        server.close()
