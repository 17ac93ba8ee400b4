"""wrk runs: a Lua script that walks a fixed list of request paths, and its report parsed."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers plus socket errors


def write_script(path: Path, request_paths: Sequence[str]) -> Path:
    """Each wrk thread starts at its own place in the list and walks it round."""
    entries = ",\n".join(f'  "{p}"' for p in request_paths)
    path.write_text(
        f"local paths = {{\n{entries}\n}}\n"
        "local i = 0\n"
        "init = function(args)\n"
        "  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))\n"
        "  i = math.random(#paths)\n"
        "end\n"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\n'
        "end\n"
    )
    return path


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def parse(report: str) -> WrkResult:
    def grab(pattern: str) -> str:
        found = re.search(pattern, report)
        if found is None:
            raise RuntimeError(f"wrk report lacks {pattern!r}:\n{report}")
        return found.group(1)

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return WrkResult(
        requests_per_s=float(grab(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(grab(r"\s50%\s+([\d.]+\w+)")),
        p99_ms=_ms(grab(r"\s99%\s+([\d.]+\w+)")),
        requests=int(grab(r"(\d+) requests in")),
        errors=errors,
    )


def run_wrk(
    wrk: str, url: str, *, seconds: int, connections: int, threads: int = 1, script: Path | None = None
) -> WrkResult:
    args = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    done = subprocess.run([*args, url], capture_output=True, text=True, check=True, timeout=seconds + 60)
    return parse(done.stdout)
