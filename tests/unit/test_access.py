"""API keys, token buckets and the settings that turn them on: pure logic, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from parking_hub.api.ratelimit import TokenBuckets
from parking_hub.config import RateLimit, SettingError, build_settings
from parking_hub.credentials import MAX_API_KEYS, ApiKeys, digest, new_key
from tests.certs import make_certificates


def test_a_new_key_is_admitted_by_its_line_and_no_other_key_is() -> None:
    key, line = new_key("city-app")
    other_key, other_line = new_key("fleet")
    keys = ApiKeys.parse(f"# partners\n{line}\n\n{other_line}  # the fleet operator\n")
    assert keys.identify(key) == "city-app"
    assert keys.identify(other_key) == "fleet"
    assert keys.identify(key + "x") is None
    assert keys.identify("") is None
    assert key not in line  # the file holds digests, never keys


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "names no key"),
        ("app", "line 1 is not KEY_ID:SHA256_HEX"),
        ("app:abc", "line 1 is not KEY_ID:SHA256_HEX"),
        (f"bad id:{'0' * 64}", "line 1 is not KEY_ID:SHA256_HEX"),
        (f"a:{'0' * 64}\na:{'1' * 64}", "line 2 repeats key id 'a'"),
        ("".join(f"k{i}:{'0' * 64}\n" for i in range(MAX_API_KEYS + 1)), f"at most {MAX_API_KEYS}"),
    ],
)
def test_a_bad_key_file_is_refused_with_the_line(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ApiKeys.parse(text)


def test_the_key_list_never_shows_digests_in_repr() -> None:
    keys = ApiKeys.parse(f"app:{digest('k').hex()}")
    assert digest("k").hex() not in repr(keys)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_the_burst_then_the_rate_with_whole_second_waits() -> None:
    clock = Clock()
    buckets = TokenBuckets(RateLimit(rate=0.5, burst=3), clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == 2  # one token takes 2 s at 0.5 a second
    assert buckets.take("b") == 0  # clients have buckets of their own
    clock.now += 1.0
    assert buckets.take("a") == 1  # half a token regained: one more second
    clock.now += 1.0
    assert buckets.take("a") == 0
    clock.now += 3600
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 2]  # refills only up to the burst


def test_a_fractional_wait_rounds_up_to_a_whole_second() -> None:
    clock = Clock()
    buckets = TokenBuckets(RateLimit(rate=4.0, burst=1), clock=clock)
    assert buckets.take("a") == 0
    assert buckets.take("a") == 1  # 0.25 s, said as 1 s


def test_the_bucket_table_stays_within_its_limit_dropping_the_longest_idle() -> None:
    clock = Clock()
    buckets = TokenBuckets(RateLimit(rate=1.0, burst=1), max_buckets=3, clock=clock)
    for client in ("a", "b", "c"):
        assert buckets.take(client) == 0
    assert buckets.take("a") == 1  # "a" is now the most recently used
    for i in range(100):
        buckets.take(f"x{i}")
        assert len(buckets) <= 3
    assert buckets.take("a") == 0  # dropped: it starts again with a full bucket


def settings(**values: str) -> dict[str, str]:
    return {k.replace("_", "-"): v for k, v in values.items()}


def test_security_is_off_by_default() -> None:
    built = build_settings({})
    assert (built.api_keys, built.rate_limit, built.mqtt.ca_file) == (None, None, None)


def test_rate_limit_and_key_file_settings_are_read(tmp_path: Path) -> None:
    _, line = new_key("app")
    (tmp_path / "keys").write_text(line + "\n")
    built = build_settings(settings(api_keys_file=str(tmp_path / "keys"), rate_limit="2.5", rate_burst="7"))
    assert built.api_keys is not None
    assert [key_id for key_id, _ in built.api_keys.entries] == ["app"]
    assert built.rate_limit == RateLimit(2.5, 7)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"rate_limit": "fast"}, "--rate-limit (PARKING_HUB_RATE_LIMIT): 'fast' is not a number"),
        ({"rate_limit": "0"}, "--rate-limit (PARKING_HUB_RATE_LIMIT): must be above 0"),
        ({"rate_limit": "nan"}, "must be above 0"),
        ({"rate_limit": "5", "rate_burst": "0"}, "--rate-burst (PARKING_HUB_RATE_BURST): '0' must be"),
        ({"api_keys_file": "/no/such/keys"}, "--api-keys-file (PARKING_HUB_API_KEYS_FILE): cannot read"),
        ({"mqtt_ca_file": "/no/such/ca.pem"}, "--mqtt-ca-file (PARKING_HUB_MQTT_CA_FILE): /no/such"),
    ],
)
def test_a_bad_security_setting_names_itself(values: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingError) as excinfo:
        build_settings(settings(**values))
    assert fragment in str(excinfo.value)


def test_a_ca_file_is_loaded_at_start_and_needs_a_tls_broker_url(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(SettingError, match="not a readable PEM file of CA certificates"):
        build_settings(settings(mqtt_ca_file=str(tmp_path / "junk.pem"), mqtt_url="mqtts://h"))
    ca = make_certificates(tmp_path).ca
    with pytest.raises(SettingError, match="needs an mqtts://"):
        build_settings(settings(mqtt_ca_file=str(ca)))
    assert build_settings(settings(mqtt_ca_file=str(ca), mqtt_url="mqtts://h")).mqtt.ca_file == ca
