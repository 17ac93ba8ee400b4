"""`parking-hub lots acl`: each operator may write only its own lots' topics, only the hub reads them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from parking_hub.broker_acl import AclError, render_config
from parking_hub.broker_logins import Login, LoginError, parse_logins
from parking_hub.cli import main
from parking_hub.registry import parse_feature
from tests.integration.hub import lot_feature, write_registry

HASH = "$7$101$c2FsdA==$aGFzaA=="


def lots(*owners: tuple[str, str | None]) -> list[dict[str, object]]:
    return [
        lot_feature(lot_id, 120.0, 36.0, 4, **({"operator": operator} if operator else {}))
        for lot_id, operator in owners
    ]


def logins(*names: str) -> list[Login]:
    return parse_logins("".join(f"{name}:{HASH}\n" for name in names), "passwd")


def rules(config: dict[str, Any], role: str) -> list[tuple[str, str]]:
    (found,) = [r for r in config["roles"] if r["rolename"] == role]
    return [(rule["acltype"], rule["topic"]) for rule in found["acls"]]


def test_each_operator_writes_only_its_lots_and_the_hub_writes_only_errors_and_resyncs() -> None:
    registry = [
        parse_feature(f) for f in lots(("a-1", "op-a"), ("a-2", "op-a"), ("b-1", "op-b"), ("x", None))
    ]
    config, idle = render_config(
        registry, logins("hub", "op-a", "op-a/gw-2", "op-b", "old"), "city/qd", ["hub"]
    )
    assert rules(config, "operator:op-b") == [
        ("publishClientSend", "city/qd/v1/lots/b-1/events"),
        ("publishClientSend", "city/qd/v1/lots/b-1/berths/+"),
        ("publishClientSend", "city/qd/v1/lots/b-1/status"),
        ("subscribeLiteral", "city/qd/v1/lots/b-1/errors"),
        ("publishClientReceive", "city/qd/v1/lots/b-1/errors"),
        ("subscribeLiteral", "city/qd/v1/lots/b-1/resync"),
        ("publishClientReceive", "city/qd/v1/lots/b-1/resync"),
    ]
    assert {topic.split("/")[4] for _, topic in rules(config, "operator:op-a")} == {"a-1", "a-2"}
    assert [topic for kind, topic in rules(config, "parking-hub") if kind == "publishClientSend"] == [
        "city/qd/v1/lots/+/errors",
        "city/qd/v1/lots/+/resync",
        "city/qd/v1/errors",
    ]
    assert ("subscribePattern", "$share/+/city/qd/v1/#") in rules(config, "parking-hub")
    assert {c["username"]: [r["rolename"] for r in c["roles"]] for c in config["clients"]} == {
        "hub": ["parking-hub"],
        "op-a": ["operator:op-a"],
        "op-a/gw-2": ["operator:op-a"],  # one login per gateway
        "op-b": ["operator:op-b"],
        "old": [],
    }
    assert idle == ["old"]
    assert config["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }


@pytest.mark.parametrize(
    ("owners", "hub_user", "fragment"),
    [
        ((("a", "Op A"),), "hub", "lot a: operator 'Op A' cannot be a broker user name"),
        ((("a", "hub"),), "hub", "is also a lot operator"),
        ((("a", "op"),), "hub user", "hub user 'hub user' must be"),
        ((("a", "op"),), "hub-2", "hub user 'hub-2' has no login in the password file"),
    ],
)
def test_names_that_cannot_be_broker_users_are_refused(
    owners: tuple[tuple[str, str], ...], hub_user: str, fragment: str
) -> None:
    with pytest.raises(AclError, match=fragment):
        render_config([parse_feature(f) for f in lots(*owners)], logins("hub"), "parking", [hub_user])


def test_a_password_file_without_mosquitto_2_hashes_is_refused() -> None:
    with pytest.raises(LoginError, match=r"passwd line 2: 'b' has no Mosquitto 2 PBKDF2-SHA512 hash"):
        parse_logins(f"a:{HASH}\nb:$6$salt$hash\n", "passwd")


def test_the_logins_keep_the_hash_mosquitto_passwd_wrote(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "hub", "secret"], check=True)
    (login,) = parse_logins(passwd.read_text(), "passwd")
    assert f"hub:$7${login.iterations}${login.salt}${login.password_hash}\n" == passwd.read_text()


def test_the_command_writes_the_rules_and_names_lots_nobody_may_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = write_registry(tmp_path / "city.geojson", lots(("a-1", "op-a"), ("x", None)))
    (tmp_path / "passwd").write_text(f"parking-hub:{HASH}\nop-a:{HASH}\n")
    output = tmp_path / "dynamic-security.json"
    main(
        [
            "lots",
            "acl",
            str(registry),
            "--passwd",
            str(tmp_path / "passwd"),
            "-o",
            str(output),
            "--topic-prefix",
            "p",
        ]
    )
    config = orjson.loads(output.read_bytes())
    assert ("publishClientSend", "p/v1/lots/a-1/events") in rules(config, "operator:op-a")
    assert output.stat().st_mode & 0o777 == 0o600  # it holds password hashes
    assert "1 lots name no operator; nobody may publish to them: x" in capsys.readouterr().err


def test_the_command_refuses_an_operator_name_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = write_registry(tmp_path / "city.geojson", lots(("a-1", "op a")))
    (tmp_path / "passwd").write_text(f"parking-hub:{HASH}\n")
    with pytest.raises(SystemExit) as excinfo:
        main(["lots", "acl", str(registry), "--passwd", str(tmp_path / "passwd")])
    assert excinfo.value.code == 2
    assert "lot a-1: operator 'op a'" in capsys.readouterr().err
