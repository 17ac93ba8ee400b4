"""The settings tables of the README and docs/operations.md say what `parking-hub serve --help` says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One option of argparse's help: its flag, its environment variable and its default.
OPTION = re.compile(r"^(?:-\w, )?(--[a-z-]+)\b.*\[\$(PARKING_HUB_[A-Z_]+)(?:; default (.+?))?\]$")
ROW = re.compile(r"^\| `(--[a-z-]+)` \| `(PARKING_HUB_[A-Z_]+)` \| (.+?) \|")


def cli_settings() -> dict[str, tuple[str, str | None]]:
    """Flag -> (environment variable, default), from the real CLI's help (wide, so no help line wraps)."""
    found: dict[str, tuple[str, str | None]] = {}
    for args in ([], ["serve"]):
        result = subprocess.run(
            [sys.executable, "-m", "parking_hub", *args, "--help"],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"COLUMNS": "1000"},
        )
        # An option starts a line with "  -"; a long flag puts its help on the next line.
        for option in re.split(r"\n  (?=-)", result.stdout):
            if match := OPTION.match(" ".join(option.split())):
                found[match[1]] = (match[2], match[3])
    return found


def table(doc: str) -> dict[str, tuple[str, str]]:
    rows = (ROW.match(line) for line in (ROOT / doc).read_text().splitlines())
    return {row[1]: (row[2], row[3].strip("`")) for row in rows if row}


@pytest.mark.parametrize("doc", ["README.md", "docs/operations.md"])
def test_the_settings_table_lists_every_setting_by_its_cli_name_and_default(doc: str) -> None:
    cli = cli_settings()
    assert len(cli) > 10  # the parse found the options
    documented = table(doc)
    assert sorted(documented) == sorted(cli)
    for flag, (env, default) in cli.items():
        assert documented[flag][0] == env, flag
        if default is not None:
            assert documented[flag][1] == default, flag
