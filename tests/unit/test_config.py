"""Settings: precedence, parsing, and one clear line with exit code 2 for a bad setting."""

from __future__ import annotations

import pytest

from parking_hub.cli import main
from parking_hub.config import (
    HTTP,
    LOG_FORMAT,
    SETTINGS,
    AckAfter,
    MqttTarget,
    RedisTarget,
    SettingError,
    build_settings,
)
from parking_hub.ingest.mqtt import shared
from parking_hub.store.connection import sentinel_for


def test_flag_beats_environment_beats_default() -> None:
    env = {"PARKING_HUB_HTTP": "0.0.0.0:9000"}
    assert HTTP.resolve("127.0.0.1:1", env) == "127.0.0.1:1"
    assert HTTP.resolve(None, env) == "0.0.0.0:9000"
    assert HTTP.resolve(None, {}) == "127.0.0.1:8080"


def help_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The help of a command, on one line (argparse wraps at hyphens too, so it gets a wide terminal)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "1000")
        with pytest.raises(SystemExit):
            main([*args, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_the_cli_offers_every_setting_of_the_table_with_its_environment_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`serve --help` is built from SETTINGS; --log-format is the one that every command takes."""
    serve, top = help_text(capsys, "serve"), help_text(capsys)
    for setting in SETTINGS:
        text = f"{setting.flag} {setting.name.upper().replace('-', '_')} {setting.help} "
        text += f"[${setting.env}; default {setting.shown_default}]"
        assert text in (top if setting is LOG_FORMAT else serve), setting.name


def test_defaults_build_the_documented_settings() -> None:
    settings = build_settings({})
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.tls) == ("127.0.0.1", 1883, False)
    assert settings.redis.url == "redis://127.0.0.1:6379/0"
    assert not settings.redis.is_cluster
    assert (settings.client_id, settings.topic_prefix, settings.lots) == ("parking-hub", "parking", ())


def test_cluster_url_lists_its_nodes() -> None:
    target = RedisTarget.from_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7001")
    assert target.cluster_nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))


def test_sentinel_url_lists_its_sentinels_service_and_database() -> None:
    target = RedisTarget.from_url("redis+sentinel://10.0.0.1:26379,sentinel-b/parking-main?db=2")
    assert target.sentinels == (("10.0.0.1", 26379), ("sentinel-b", 26379))
    assert (target.service, target.db, target.is_sentinel, target.is_cluster) == (
        "parking-main",
        2,
        True,
        False,
    )
    tls = RedisTarget.from_url("rediss+sentinel://user:s3cret@h:5000/svc")
    assert (tls.sentinels, tls.service, tls.db) == ((("h", 5000),), "svc", 0)
    assert "s3cret" not in repr(tls)


def test_sentinel_clients_carry_tls_credentials_and_database() -> None:
    sentinel = sentinel_for(RedisTarget.from_url("rediss+sentinel://user:s%40cret@h:5000/svc?db=3"))
    wanted = {"ssl": True, "db": 3, "username": "user", "password": "s@cret"}
    assert {k: sentinel.connection_kwargs[k] for k in wanted} == wanted
    assert sentinel.sentinel_kwargs["ssl"] is True
    assert "password" not in sentinel.sentinel_kwargs  # the URL's login is the data nodes'
    plain = sentinel_for(RedisTarget.from_url("redis+sentinel://h:5000/svc"))
    assert (plain.connection_kwargs["ssl"], plain.sentinel_kwargs["ssl"]) == (False, False)


def test_ack_after_defaults_to_write_and_takes_each_setting() -> None:
    assert build_settings({}).ack_after is AckAfter.WRITE
    for setting in AckAfter:
        assert build_settings({"ack-after": setting.value}).ack_after is setting


def test_mqtts_url_with_credentials_keeps_the_password_out_of_repr() -> None:
    target = MqttTarget.from_url("mqtts://op%2D7:s3cret@broker.example:8884")
    assert (target.host, target.port, target.tls) == ("broker.example", 8884, True)
    assert (target.username, target.password) == ("op-7", "s3cret")
    assert "s3cret" not in repr(target)
    assert MqttTarget.from_url("mqtts://broker.example").port == 8883
    assert MqttTarget.from_url("mqtt://h?protocol=3.1.1").protocol == "3.1.1"


def test_share_group_is_off_by_default_and_names_the_group_when_set() -> None:
    assert build_settings({}).share_group is None
    assert build_settings({}).timezone.key == "UTC"
    assert build_settings({"timezone": "Asia/Shanghai"}).timezone.key == "Asia/Shanghai"
    assert build_settings({"share-group": "ingest-1"}).share_group == "ingest-1"


def test_workers_are_one_by_default_and_several_for_the_api_role() -> None:
    assert build_settings({}).workers == 1
    assert build_settings({"workers": "4", "role": "api"}).workers == 4


def test_a_share_group_turns_every_filter_into_a_shared_subscription() -> None:
    assert shared("parking/v1/lots/+/events", "ingest") == "$share/ingest/parking/v1/lots/+/events"
    assert shared("parking/v1/lots/+/events", None) == "parking/v1/lots/+/events"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("redis-url", "http://x", "scheme 'http'"),
        ("redis-url", "redis+cluster://", "at least one cluster node"),
        ("redis-url", "redis+sentinel:///parking", "at least one Sentinel"),
        ("redis-url", "redis+sentinel://h:26379", "name the primary's Sentinel service"),
        ("redis-url", "redis+sentinel://h:26379/a/b", "name the primary's Sentinel service"),
        ("redis-url", "redis+sentinel://h:26379/svc?db=x", "db=x must be a database number"),
        ("redis-url", "redis+sentinel://h:26379/svc?ssl=1", "only db= is read"),
        ("ack-after", "always", "write, replica, fsync"),
        ("mqtt-url", "mqtt://h:0", "port '0'"),
        ("mqtt-url", "mqtt://h?protocol=4", "protocol=4"),
        ("http", "localhost:http", "port 'http'"),
        ("lots", "/no/such/file.geojson", "not a readable file"),
        ("client-id", "a/b", "without '+', '#' or '/'"),
        ("topic-prefix", "parking/#", "topic levels"),
        ("role", "both", "all, ingest, api"),
        ("share-group", "a/b", "[A-Za-z0-9_.-]"),
        ("share-group", "g" * 65, "1 to 64 characters"),
        ("workers", "0", "from 1 to 64"),
        ("workers", "65", "from 1 to 64"),
        ("workers", "two", "from 1 to 64"),
        ("workers", "2", "needs --role api"),  # the default role, all, ingests
        ("timezone", "Mars/Olympus_Mons", "not an IANA time zone name"),
        ("timezone", "../../etc/passwd", "not an IANA time zone name"),
    ],
)
def test_a_bad_setting_names_itself_and_the_reason(name: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingError) as info:
        build_settings({name: value})
    message = str(info.value)
    assert message.startswith(f"--{name} (PARKING_HUB_{name.upper().replace('-', '_')}): ")
    assert fragment in message


def test_cli_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARKING_HUB_MQTT_URL", "tcp://broker")
    with pytest.raises(SystemExit) as info:
        main(["serve"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "parking-hub: error: --mqtt-url (PARKING_HUB_MQTT_URL): scheme 'tcp' is not mqtt:// or mqtts://"
    ]


def test_a_bad_log_format_from_the_environment_stops_the_process_as_any_setting_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARKING_HUB_LOG_FORMAT", "xml")
    with pytest.raises(SystemExit) as info:
        main(["serve"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "parking-hub: error: --log-format (PARKING_HUB_LOG_FORMAT): must be one of text, json"
    ]
