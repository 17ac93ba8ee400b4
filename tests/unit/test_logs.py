"""logs.configure: JSON lines when asked, and aiomqtt's per-publish warning kept out."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from parking_hub import logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = ("", "mqtt", "aiomqtt", "amqtt", "aiohttp.access")
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).handlers[:]) for name in names}
    saved_filters = logging.getLogger("mqtt").filters[:]
    yield
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
    logging.getLogger("mqtt").filters[:] = saved_filters


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_extra_fields_and_exceptions(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "json")
    log = logging.getLogger("parking_hub.test")
    log.info("batch written", extra={"events": 3})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    log.debug("below the level")
    first, second = (orjson.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["message"] == "batch written"
    assert (first["level"], first["logger"], first["events"]) == ("info", "parking_hub.test", 3)
    assert first["ts"].endswith("Z")
    assert second["level"] == "error"
    assert "RuntimeError: boom" in second["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_aiomqtts_pending_publish_warning_is_dropped_and_its_others_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("INFO", "text")
    mqtt = logging.getLogger("mqtt")  # the logger aiomqtt's Client writes to
    for pending in range(11, 20):
        mqtt.warning("There are %d pending publish calls.", pending)
    mqtt.warning("Message queue is full. Discarding message.")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("mqtt: Message queue is full. Discarding message.")
