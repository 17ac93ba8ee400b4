"""Requests the HTTP parser refuses are logged as one INFO line, not an error with a traceback."""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import LineTooLong

from parking_hub.logs import MalformedRequests


def record(exc: BaseException) -> logging.LogRecord:
    return logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s",
        ("10.0.0.7",),
        (type(exc), exc, None),
    )


def test_a_refused_request_becomes_one_info_line() -> None:
    logged = record(LineTooLong("request line", "8190", "9000"))
    assert MalformedRequests().filter(logged)
    assert (logged.levelno, logged.levelname, logged.exc_info) == (logging.INFO, "INFO", None)
    assert logged.getMessage().startswith(
        "Error handling request from 10.0.0.7: answered 400, Got more than 8190"
    )


def test_a_server_fault_stays_an_error_with_its_traceback() -> None:
    logged = record(RuntimeError("bug"))
    assert MalformedRequests().filter(logged)
    assert logged.levelno == logging.ERROR
    assert logged.exc_info is not None
