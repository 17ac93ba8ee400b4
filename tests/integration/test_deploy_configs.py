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


def write_password_file(path: Path, users: dict[str, str]) -> None:
    path.touch(mode=0o700)
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True)


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto and mosquitto_passwd")
async def test_mosquitto_conf_persists_authenticates_and_applies_the_acl(tmp_path: Path) -> None:
    port = free_port()
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    conf = re.sub(r"/mosquitto/(config|data|auth)/", f"{tmp_path}/", conf)
    if os.geteuid() == 0:
        # As root, mosquitto would switch to its own user, which cannot enter the test's temp dir.
        conf += "user root\n"
    (tmp_path / "mosquitto.conf").write_text(conf)
    shutil.copy(DEPLOY / "mosquitto" / "acl", tmp_path / "acl")
    write_password_file(tmp_path / "passwd", {"hub": "pw", "simulator": "sim"})
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    status, errors = "parking/v1/lots/a/status", "parking/v1/lots/a/errors"
    with managed_process([mosquitto, "-c", str(tmp_path / "mosquitto.conf")], port, "mosquitto", tmp_path):
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, username="hub", password="wrong"):
                pass
        async with (
            aiomqtt.Client("127.0.0.1", port, username="hub", password="pw") as hub,
            aiomqtt.Client("127.0.0.1", port, username="simulator", password="sim") as gateway,
        ):
            uplink = "v3/app/devices/d1/up"
            await hub.subscribe("parking/v1/lots/+/status", qos=1)
            await hub.subscribe("v3/#", qos=1)
            await gateway.subscribe(errors, qos=1)
            await gateway.subscribe("v3/#", qos=1)  # granted, but the ACL gives it no read access
            await gateway.publish(status, b'{"online": true}', qos=1)
            await gateway.publish(uplink, b"{}", qos=1)
            received = []
            async for message in hub.messages:
                received.append(str(message.topic))
                if len(received) == 2:
                    break
            assert received == [status, uplink]
            # The broker passed the uplink to every reader before the hub saw it, so had the
            # simulator been allowed to read it, it would arrive before this error report.
            await hub.publish(errors, b'{"code": "invalid_json"}', qos=1)
            async for message in gateway.messages:
                assert (str(message.topic), message.payload) == (errors, b'{"code": "invalid_json"}')
                break
    assert (tmp_path / "mosquitto.db").exists()  # persistence wrote its file at exit
