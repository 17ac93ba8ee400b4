"""`parking-hub lots acl`: each operator may write only its own lots' topics."""

from __future__ import annotations

from pathlib import Path

import pytest

from parking_hub.broker_acl import AclError, render_acl
from parking_hub.cli import main
from parking_hub.registry import parse_feature
from tests.integration.hub import lot_feature, write_registry


def lots(*owners: tuple[str, str | None]) -> list[dict[str, object]]:
    return [
        lot_feature(lot_id, 120.0, 36.0, 4, **({"operator": operator} if operator else {}))
        for lot_id, operator in owners
    ]


def user_sections(acl: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    user = None
    for line in acl.splitlines():
        if line.startswith("user "):
            user = line.removeprefix("user ")
            sections[user] = []
        elif line and not line.startswith("#") and user is not None:
            sections[user].append(line)
    return sections


def test_each_operator_writes_only_its_lots_and_the_hub_writes_only_errors() -> None:
    registry = [
        parse_feature(f) for f in lots(("a-1", "op-a"), ("a-2", "op-a"), ("b-1", "op-b"), ("x", None))
    ]
    sections = user_sections(render_acl(registry, "city/qd", "hub"))
    assert sections["op-b"] == [
        "topic write city/qd/v1/lots/b-1/events",
        "topic write city/qd/v1/lots/b-1/berths/+",
        "topic write city/qd/v1/lots/b-1/status",
        "topic read city/qd/v1/lots/b-1/errors",
    ]
    assert {line.split("/")[4] for line in sections["op-a"]} == {"a-1", "a-2"}
    assert [line for line in sections["hub"] if line.startswith("topic write")] == [
        "topic write city/qd/v1/lots/+/errors",
        "topic write city/qd/v1/errors",
    ]
    assert set(sections) == {"hub", "op-a", "op-b"}  # the lot without an operator has no writer


@pytest.mark.parametrize(
    ("owners", "hub_user", "fragment"),
    [
        ((("a", "Op A"),), "hub", "lot a: operator 'Op A' cannot be a broker user name"),
        ((("a", "hub"),), "hub", "is also a lot operator"),
        ((("a", "op"),), "hub user", "hub user 'hub user' must be"),
    ],
)
def test_names_that_cannot_be_broker_users_are_refused(
    owners: tuple[tuple[str, str], ...], hub_user: str, fragment: str
) -> None:
    with pytest.raises(AclError, match=fragment):
        render_acl([parse_feature(f) for f in lots(*owners)], "parking", hub_user)


def test_the_command_writes_the_acl_and_names_lots_nobody_may_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = write_registry(tmp_path / "city.geojson", lots(("a-1", "op-a"), ("x", None)))
    main(["lots", "acl", str(registry), "-o", str(tmp_path / "acl"), "--topic-prefix", "p"])
    assert "topic write p/v1/lots/a-1/events" in (tmp_path / "acl").read_text()
    assert "1 lots name no operator; nobody may publish to them: x" in capsys.readouterr().err


def test_the_command_refuses_an_operator_name_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = write_registry(tmp_path / "city.geojson", lots(("a-1", "op a")))
    with pytest.raises(SystemExit) as excinfo:
        main(["lots", "acl", str(registry)])
    assert excinfo.value.code == 2
    assert "lot a-1: operator 'op a'" in capsys.readouterr().err
