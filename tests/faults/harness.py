"""The fault harness: simulator traffic at QoS 1 while the hub is killed, the broker and Redis are
restarted; then the checker compares the hub's final state with what the broker acknowledged.

Used by `tests/faults/` (a few faults of each kind) and `python -m benchmarks.faults` (many).
Servers run with the configs in deploy/: Redis with its append-only file, Mosquitto with
persistence. Broker and Redis are restarted with SIGTERM, which is when those configs promise to
keep everything (a crash of either may lose up to a second of Redis writes or `autosave_interval`
of queued messages: deploy/'s comments say so). The hub is killed with SIGKILL.

Gateway outages (Last Wills) are left out of the traffic: lots stay online, so the checker's
expectations depend only on the reports. `tests/integration/test_ingest.py` covers Wills.

With `Plan.redis` set to `sentinel` or `cluster`, Redis is a replicated setup (each node with its
append-only file) and the fault is `primary_kill`: SIGKILL of the primary (on a cluster, a random
one), a replica promoted, the killed node started again as a replica. Whether acknowledged events
survive that depends on `Plan.ack_after`.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from parking_hub.embedded_cluster import cluster_group
from parking_hub.embedded_sentinel import redis_sentinel
from sensors_sim.city import CitySpec, write_city
from sensors_sim.encoders import FORMATS, Message
from sensors_sim.faults import Faults
from sensors_sim.hubapi import Hub, HubError, wait_ready
from sensors_sim.publish import MqttUrl
from sensors_sim.registry import Registry, load_registry
from sensors_sim.run import TICK_S, wall_ms
from sensors_sim.traffic import Clock, Traffic, TrafficOptions
from sensors_sim.truth import Truth
from tests.faults.checker import Verdict, check
from tests.faults.publisher import TrackedPublisher
from tests.faults.servers import (
    GATEWAY_USER,
    HUB_USER,
    HubProcess,
    Restartable,
    deploy_mosquitto,
    deploy_redis,
    mqtt_url,
    redis_url,
)

KINDS = ("hub_kill", "broker_restart", "redis_restart")
HA_KINDS = ("primary_kill",)
READY_WITHIN_S = 600.0  # a restarted hub on a loaded machine, reading a backlog first
OUTAGE_SEEN_WITHIN_S = 30.0
OUTAGE_PROBES = 5
POLL_S = 0.1
# The simulator's own faults, all but malformed messages: the fuzz tests cover those.
SIM_FAULTS = "duplicate,reorder,flap,loss,skew"


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int = 2  # each round injects one fault of every kind
    lots: int = 10
    berths: int = 800
    speed: float = 600.0  # simulated seconds per wall second
    between: int = 300  # messages the broker acknowledges between two faults
    seed: int = 11
    settle_s: float = 180.0  # after the traffic ends, for the hub to apply and the API to show it
    redis: str = "standalone"  # or "sentinel", "cluster": replicated, and the fault is primary_kill
    ack_after: str = "write"  # the hub's --ack-after

    @property
    def kinds(self) -> tuple[str, ...]:
        return KINDS if self.redis == "standalone" else HA_KINDS


@dataclass(slots=True)
class Outage:
    """The API while Redis is down: how it answered, and how long it took to recover by itself."""

    answers: dict[str, int] = field(default_factory=dict)  # "503 unavailable", "200", ...
    recovered_s: list[float] = field(default_factory=list)

    def count(self, status: int, body: Any) -> None:
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        key = f"{status} {code}" if code else str(status)
        self.answers[key] = self.answers.get(key, 0) + 1


@dataclass(slots=True)
class Report:
    plan: Plan
    faults: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    published: int = 0  # PUBLISH packets, republished ones included
    republished: int = 0
    publisher_reconnects: int = 0
    outage: Outage = field(default_factory=Outage)
    verdict: Verdict | None = None
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        out = asdict(self)
        out["faults_injected"] = sum(self.faults.values())
        if self.verdict is not None:
            out.update({k: v for k, v in asdict(self.verdict).items() if k != "differences"})
        out.pop("verdict")
        return out


def progress_to_stderr(message: str) -> None:
    print(f"faults: {message}", file=sys.stderr, flush=True)


class Harness:
    def __init__(self, plan: Plan, workdir: Path, progress: Callable[[str], None]) -> None:
        self.plan = plan
        self.workdir = workdir
        self.progress = progress
        self.report = Report(plan, dict.fromkeys(plan.kinds, 0))
        self.acked: list[Message] = []
        self._random = random.Random(plan.seed)

    async def run(self) -> Report:
        started = time.monotonic()
        registry = self._city()
        with (
            _redis_for(self.plan, self.workdir / "redis") as redis,
            deploy_mosquitto(self.workdir / "mqtt") as broker,
        ):
            await asyncio.to_thread(self._load, redis.url)
            hub = HubProcess(
                redis.url,
                mqtt_url(broker, HUB_USER),
                "faults-hub",
                "parking",
                self.workdir / "hub.log",
                "--ack-after",
                self.plan.ack_after,
            )
            await hub.start()
            try:
                await self._ready(hub)
                await self._traffic_with_faults(registry, hub, redis, broker)
                truth = Truth.empty(registry)
                truth.record(self.acked)
                self.progress(f"checking {truth.delivered:,} delivered reports against Redis and the API")
                self.report.verdict = await check(
                    redis.url, hub.base_url, registry, truth, self.plan.settle_s
                )
            finally:
                await hub.stop()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _city(self) -> Registry:
        path = self.workdir / "city.geojson"
        plan = self.plan
        write_city(CitySpec(lots=plan.lots, berths=plan.berths, seed=plan.seed, prefix="fault"), path)
        return load_registry(path)

    def _load(self, url: str) -> None:
        path = self.workdir / "city.geojson"
        subprocess.run(
            [sys.executable, "-m", "parking_hub", "lots", "load", "--redis-url", url, str(path)],
            check=True,
            capture_output=True,
            timeout=300,
        )

    async def _ready(self, hub: HubProcess) -> None:
        async with Hub(hub.base_url) as api:
            try:
                await wait_ready(api, READY_WITHIN_S)
            except HubError as exc:
                raise RuntimeError(f"{exc}; the hub's log ends:\n{hub.log_tail()}") from None

    async def _traffic_with_faults(
        self, registry: Registry, hub: HubProcess, redis: RedisUnderTest, broker: Restartable
    ) -> None:
        plan = self.plan
        traffic = Traffic(
            registry, TrafficOptions(plan.seed, FORMATS, Faults.parse(SIM_FAULTS), topic_prefix="parking")
        )
        stop = asyncio.Event()
        url = MqttUrl.parse(mqtt_url(broker, GATEWAY_USER))
        async with TrackedPublisher(url, self.acked.append) as publisher:
            driver = asyncio.create_task(self._drive(traffic, publisher, stop), name="faults.traffic")
            try:
                kinds = plan.kinds
                for n in range(plan.rounds * len(kinds)):
                    await self._until_acked(publisher, (n + 1) * plan.between, driver)
                    kind = kinds[n % len(kinds)]
                    self.progress(f"fault {n + 1}/{plan.rounds * len(kinds)}: {kind}")
                    await self._inject(kind, hub, redis, broker)
                    self.report.faults[kind] += 1
                await self._until_acked(publisher, (plan.rounds * len(kinds) + 1) * plan.between, driver)
            finally:
                stop.set()
                await driver
            waiting = publisher.sent - publisher.acked
            self.progress(f"traffic stopped; waiting for {waiting:,} acknowledgements")
        self.report.messages = publisher.sent
        self.report.published = publisher.published
        self.report.republished = publisher.republished
        self.report.publisher_reconnects = publisher.reconnects

    async def _drive(self, traffic: Traffic, publisher: TrackedPublisher, stop: asyncio.Event) -> None:
        """The simulated city at `speed`, with wall-clock timestamps, until `stop`."""
        speed = self.plan.speed
        clock = Clock(traffic.start_ms, wall_ms(), speed)
        step_ms = max(1, round(TICK_S * 1000 * speed))
        t = traffic.start_ms
        while not stop.is_set():
            t += step_ms
            await asyncio.sleep(max(0.0, (clock.wall_at(t) - wall_ms()) / 1000))
            for message in traffic.step(t, clock).messages:
                await publisher.send(message)

    @staticmethod
    async def _until_acked(publisher: TrackedPublisher, count: int, driver: asyncio.Task[None]) -> None:
        while publisher.acked < count:
            if driver.done():
                driver.result()  # its failure, if it failed
                raise RuntimeError("the traffic ended before the plan did")
            await asyncio.sleep(POLL_S)

    async def _inject(self, kind: str, hub: HubProcess, redis: RedisUnderTest, broker: Restartable) -> None:
        if kind == "hub_kill":
            await hub.kill()
            await hub.start()
        elif kind == "broker_restart":
            await asyncio.to_thread(broker.restart)
        elif kind == "primary_kill":
            await asyncio.sleep(self._random.uniform(0, 0.5))  # anywhere in a batch's write
            await asyncio.to_thread(redis.kill_primary, self._random)
        else:
            assert redis.restartable is not None
            await asyncio.to_thread(redis.restartable.stop)
            await self._while_redis_is_down(hub)
            down_at = time.monotonic()
            await asyncio.to_thread(redis.restartable.start)
            await self._api_recovers(hub, down_at)
        await self._ready(hub)

    async def _while_redis_is_down(self, hub: HubProcess) -> None:
        """Once the hub has noticed, the availability endpoints must answer 503, never stale data."""
        outage = self.report.outage
        async with Hub(hub.base_url) as api:
            deadline = time.monotonic() + OUTAGE_SEEN_WITHIN_S
            while time.monotonic() < deadline:
                if (await api.get("/v1/summary"))[0] == 503:
                    break
                await asyncio.sleep(POLL_S)
            for _ in range(OUTAGE_PROBES):
                for path, params in (
                    ("/v1/summary", {}),
                    ("/v1/lots/fault-0001", {}),
                    ("/v1/nearest", {"lat": 36.07, "lon": 120.38}),
                ):
                    outage.count(*await api.get(path, **params))

    async def _api_recovers(self, hub: HubProcess, since: float) -> None:
        async with Hub(hub.base_url) as api:
            deadline = time.monotonic() + READY_WITHIN_S
            while (await api.get("/v1/summary"))[0] != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not recover; the hub's log ends:\n{hub.log_tail()}")
                await asyncio.sleep(POLL_S)
        self.report.outage.recovered_s.append(round(time.monotonic() - since, 2))


@dataclass(frozen=True, slots=True)
class RedisUnderTest:
    url: str
    restartable: Restartable | None = None  # standalone: stopped and started again
    kill_primary: Callable[[random.Random], None] = lambda _: None  # replicated: killed, replaced, restarted


@contextmanager
def _redis_for(plan: Plan, workdir: Path) -> Iterator[RedisUnderTest]:
    workdir.mkdir(parents=True, exist_ok=True)
    if plan.redis == "standalone":
        with deploy_redis(workdir) as redis:
            yield RedisUnderTest(redis_url(redis), restartable=redis)
    elif plan.redis == "sentinel":
        with redis_sentinel(workdir, appendonly=True) as group:

            def failover(_: random.Random) -> None:
                old = group.primary_port()
                group.nodes.kill(old)
                group.wait_for_new_primary(old)
                group.nodes.start(old)  # the Sentinels make it a replica of the new primary
                group.wait_until_replicated()

            yield RedisUnderTest(group.url, kill_primary=failover)
    elif plan.redis == "cluster":
        with cluster_group(workdir, replicas=1, appendonly=True, node_timeout_ms=1000) as cluster:

            def cluster_failover(rng: random.Random) -> None:
                old = rng.choice(cluster.primaries())
                cluster.nodes.kill(old)
                cluster.wait_for_promotion(old)
                cluster.nodes.start(old)  # it rejoins as a replica of the promoted one
                cluster.wait_until_replicated()

            yield RedisUnderTest(cluster.url, kill_primary=cluster_failover)
    else:
        raise ValueError(f"unknown Redis shape {plan.redis!r}: standalone, sentinel or cluster")


async def run_faults(
    plan: Plan, workdir: Path, progress: Callable[[str], None] = progress_to_stderr
) -> Report:
    return await Harness(plan, workdir, progress).run()
