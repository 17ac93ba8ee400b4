"""Logging set-up for the command line: readable text, or JSON lines when asked."""

from __future__ import annotations

import logging
import logging.config
import time
from typing import Any

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, plus any `extra=` fields."""

    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        body.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(body, default=str).decode()


class WithoutPendingPublishes(logging.Filter):
    """Drops aiomqtt's warning that more than ten publishes await their acknowledgement.

    It comes once per publish call while they do, which the error reports' concurrent publishers
    reach in normal work: a line per rejected message. aiomqtt's other warnings still pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "There are %d pending publish calls."


def configure(level: str = "INFO", fmt: str = "text") -> None:
    formatter = (
        {"()": JsonLines}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"main": formatter},
            "filters": {
                "pending_publishes": {"()": WithoutPendingPublishes},
            },
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "main"}},
            "root": {"handlers": ["stderr"], "level": level},
            "loggers": {
                "aiomqtt": {"level": "WARNING"},
                "mqtt": {"filters": ["pending_publishes"]},  # aiomqtt's client logger
                "amqtt": {"level": "WARNING"},
                "aiohttp.access": {"level": "WARNING"},  # a line per request is too much at API rates
            },
        }
    )
