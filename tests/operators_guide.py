"""docs/operators.md as the tests read it: its tables' first columns."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).parents[1] / "docs" / "operators.md"


def table_keys(heading: str) -> set[str]:
    """The `names` in the first column of the table under `heading`, below its header row."""
    section = GUIDE.read_text().split(heading, 1)[1].split("\n#", 1)[0].split("|---", 1)[1]
    return set(re.findall(r"^\| `([a-z0-9_-]+)` \|", section, re.MULTILINE))


# Every rejection code the hub can give, as the guide's error table lists them (a test holds the
# table to the codes in the ingest code).
REJECTION_CODES = frozenset(table_keys("### Errors"))
