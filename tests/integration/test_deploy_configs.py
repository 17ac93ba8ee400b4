"""The broker and Redis configs in deploy/ start real servers that keep what parking-hub needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import aiomqtt
import pytest
from redis.asyncio import Redis

from parking_hub.embedded import free_port, managed_process, redis_binary

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


async def test_redis_conf_starts_with_aof_and_no_eviction(tmp_path: Path) -> None:
    port = free_port()
    args = [redis_binary(), str(DEPLOY / "redis" / "redis.conf"), "--port", str(port), "--bind", "127.0.0.1"]
    with managed_process([*args, "--dir", str(tmp_path)], port, "redis", tmp_path):
        redis = Redis(port=port)
        try:
            assert await redis.config_get("appendonly") == {"appendonly": "yes"}
            assert await redis.config_get("appendfsync") == {"appendfsync": "everysec"}
            assert await redis.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        finally:
            await redis.aclose()


def write_password_file(path: Path, user: str, password: str) -> None:
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(path), user, password], check=True)


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto and mosquitto_passwd")
async def test_mosquitto_conf_persists_and_authenticates(tmp_path: Path) -> None:
    port = free_port()
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    conf = re.sub(r"/mosquitto/(config|data)/", f"{tmp_path}/", conf)
    if os.geteuid() == 0:
        # As root, mosquitto would switch to its own user, which cannot enter the test's temp dir.
        conf += "user root\n"
    (tmp_path / "mosquitto.conf").write_text(conf)
    write_password_file(tmp_path / "passwd", "hub", "pw")
    (tmp_path / "acl").write_text("user hub\ntopic readwrite parking/#\n")
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with managed_process([mosquitto, "-c", str(tmp_path / "mosquitto.conf")], port, "mosquitto", tmp_path):
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, username="hub", password="wrong"):
                pass
        async with aiomqtt.Client("127.0.0.1", port, username="hub", password="pw") as client:
            await client.subscribe("parking/v1/#", qos=1)
            await client.publish("parking/v1/lots/a/status", b'{"online": true}', qos=1)
            async for message in client.messages:
                assert message.payload == b'{"online": true}'
                break
    assert (tmp_path / "mosquitto.db").exists()  # persistence wrote its file at exit
