"""The PostGIS baseline: a private PostgreSQL cluster, the same lots and points, pgbench with as many
clients as the hub's load has connections."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchmarks.tools import find
from parking_hub.embedded import free_port

PGBENCH_THREADS = 2  # one per core of the machine kind the figures are for


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; as root, run its programs as the postgres user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Cluster:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port

    def psql(self, sql: str, data: str | None = None) -> str:
        args = [find("psql") or "psql", "-h", str(self.directory), "-p", str(self.port), "-d", "postgres"]
        done = subprocess.run(
            _as_postgres([*args, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]),
            input=data,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed on {sql[:60]!r}: {done.stderr.strip()}")
        return done.stdout

    def pgbench(self, script: Path, seconds: int, clients: int) -> float:
        args = [find("pgbench") or "pgbench", "-h", str(self.directory), "-p", str(self.port), "-n"]
        args += ["-c", str(clients), "-j", str(PGBENCH_THREADS), "-T", str(seconds), "-f", str(script)]
        args += ["postgres"]
        done = subprocess.run(_as_postgres(args), capture_output=True, text=True, check=True)
        found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
        if found is None:
            raise RuntimeError(f"pgbench report lacks its tps line:\n{done.stdout}\n{done.stderr}")
        return float(found.group(1))


@contextmanager
def private_cluster(workdir: Path, max_connections: int) -> Iterator[Cluster]:
    directory = workdir / "pg"
    directory.mkdir()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(directory, "postgres")
    subprocess.run(
        _as_postgres([find("initdb") or "initdb", "-D", str(directory), "-U", "postgres", "--auth=trust"]),
        capture_output=True,
        check=True,
    )
    port = free_port()
    options = f"-p {port} -k {directory} -c listen_addresses='' -c fsync=off"
    options += f" -c max_connections={max_connections}"
    pg_ctl = find("pg_ctl") or "pg_ctl"
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", str(directory), "-o", options, "-l", str(directory / "log"), "-w", "start"]
        ),
        capture_output=True,
        check=True,
    )
    try:
        yield Cluster(directory, port)
    finally:
        stop = [pg_ctl, "-D", str(directory), "-m", "fast", "stop"]
        subprocess.run(_as_postgres(stop), capture_output=True, check=False)


def nearest_qps(
    workdir: Path,
    lots: Sequence[tuple[str, float, float, int]],
    points: Sequence[tuple[float, float]],
    *,
    limit: int,
    radius_m: float,
    seconds: int,
    clients: int,
) -> float:
    """Queries per second for the nearest `limit` lots with room within radius_m of random points,
    from `clients` connections at once.

    lots: (id, lon, lat, free berths); points: (lat, lon).
    """
    with private_cluster(workdir, max_connections=clients + 5) as pg:
        pg.psql(
            "CREATE EXTENSION postgis;"
            "CREATE TABLE lots (id text PRIMARY KEY, lon float8, lat float8, free int,"
            " geog geography(Point, 4326));"
            "CREATE TABLE pts (i int PRIMARY KEY, lat float8, lon float8, geog geography(Point, 4326));"
        )
        lot_rows = "".join(f"{i},{lon},{lat},{free}\n" for i, lon, lat, free in lots)
        point_rows = "".join(f"{k},{lat},{lon}\n" for k, (lat, lon) in enumerate(points, 1))
        pg.psql("COPY lots (id, lon, lat, free) FROM STDIN WITH (FORMAT csv)", lot_rows)
        pg.psql("COPY pts (i, lat, lon) FROM STDIN WITH (FORMAT csv)", point_rows)
        pg.psql(
            "UPDATE lots SET geog = ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;"
            "UPDATE pts SET geog = ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;"
            "CREATE INDEX ON lots USING gist (geog);"
        )
        pg.psql("VACUUM ANALYZE")  # VACUUM runs outside a transaction: a command of its own
        script = workdir / "nearest.sql"
        # Built from this module's own numbers, never from input.
        script.write_text(
            f"\\set i random(1, {len(points)})\n"  # noqa: S608
            "SELECT l.id, ST_Distance(l.geog, p.geog) FROM pts p CROSS JOIN LATERAL ("
            f"  SELECT id, geog FROM lots WHERE free >= 1 AND ST_DWithin(lots.geog, p.geog, {radius_m})"
            f"  ORDER BY lots.geog <-> p.geog LIMIT {limit}) l WHERE p.i = :i;\n"
        )
        if os.geteuid() == 0:
            shutil.chown(script, "postgres")
        return pg.pgbench(script, seconds, clients)
