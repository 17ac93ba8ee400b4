"""The outside programs a benchmark drives, found on PATH or told how to get."""

from __future__ import annotations

import shutil
from pathlib import Path

POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
INSTALL = {
    "redis-server": "apt-get install -y redis-server",
    "wrk": "apt-get install -y wrk",
    "initdb": "apt-get install -y postgresql",
    "pg_ctl": "apt-get install -y postgresql",
    "pgbench": "apt-get install -y postgresql-contrib (or postgresql)",
    "postgis": "apt-get install -y postgresql-15-postgis-3 (the postgis package for your PostgreSQL major)",
}


def find(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in POSTGRES_BIN:
        if (directory / name).exists():
            return str(directory / name)
    return None


def postgis_installed() -> bool:
    return any(Path("/usr/share/postgresql").glob("*/extension/postgis.control"))


def missing(names: list[str], *, postgis: bool) -> list[str]:
    """Install commands for whatever is absent, one line each."""
    absent = [name for name in names if find(name) is None]
    if postgis and not postgis_installed():
        absent.append("postgis")
    return [f"{name}: {INSTALL[name]}" for name in absent]
