"""The settings tables of the README and docs/operations.md list what the settings table holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parking_hub.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(--[a-z-]+)` \| `(PARKING_HUB_[A-Z_]+)` \| (.+?) \|")


def table(doc: str) -> dict[str, tuple[str, str]]:
    rows = (ROW.match(line) for line in (ROOT / doc).read_text().splitlines())
    return {row[1]: (row[2], row[3].strip("`")) for row in rows if row}


@pytest.mark.parametrize("doc", ["README.md", "docs/operations.md"])
def test_the_settings_table_lists_every_setting_by_its_cli_name_and_default(doc: str) -> None:
    documented = table(doc)
    assert sorted(documented) == sorted(setting.flag for setting in SETTINGS)
    for setting in SETTINGS:
        assert documented[setting.flag] == (setting.env, setting.shown_default), setting.name
