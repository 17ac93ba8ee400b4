"""The fault harness in its big size: many faults of every kind during simulator traffic.

    python -m benchmarks.faults [--rounds 7] [--lots 30] [--berths 3000] [--speed 200]
    python -m benchmarks.faults --redis sentinel|cluster --ack-after write|replica [--rounds 20]

Each round SIGKILLs the hub once, restarts the broker (persistence on) once and Redis (AOF) once,
each after `--between` more acknowledged messages. With `--redis sentinel` or `cluster`, Redis is
replicated and each round instead SIGKILLs a primary at a random moment, waits for a replica to be
promoted and starts the killed node again as a replica. Prints progress on stderr and one JSON line
of figures on stdout; exits 1 when any acknowledged event was lost or the API disagreed at the end,
except under `--ack-after write` on replicated Redis, where the loss is the figure measured.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import orjson

from parking_hub.config import AckAfter
from tests.faults.harness import KINDS, Plan, run_faults


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help=f"rounds of {len(KINDS)} faults (default 7)")
    parser.add_argument("--lots", type=int, default=30)
    parser.add_argument("--berths", type=int, default=3_000)
    # Traffic the hub keeps up with on a busy 2-core machine (a few hundred messages/s): past its
    # capacity the broker's backlog grows without end, and each restarted hub reads all of it first.
    parser.add_argument("--speed", type=float, default=200.0, help="simulated seconds per second")
    parser.add_argument("--between", type=int, default=600, help="acknowledged messages between faults")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--redis", choices=("standalone", "sentinel", "cluster"), default="standalone")
    parser.add_argument("--ack-after", choices=[a.value for a in AckAfter], default=AckAfter.WRITE.value)
    args = parser.parse_args()
    loss_measured = args.redis != "standalone" and args.ack_after == AckAfter.WRITE
    plan = Plan(
        rounds=args.rounds,
        lots=args.lots,
        berths=args.berths,
        speed=args.speed,
        between=args.between,
        seed=args.seed,
        settle_s=120.0 if loss_measured else 600.0,  # a loss never settles: waiting longer shows nothing
        redis=args.redis,
        ack_after=args.ack_after,
    )
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        report = asyncio.run(run_faults(plan, Path(tmp)))
    print(orjson.dumps(report.figures()).decode(), flush=True)
    verdict = report.verdict
    if verdict is None or not (verdict.clean or loss_measured):
        for line in verdict.differences if verdict else []:
            print(f"benchmarks.faults: {line}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
