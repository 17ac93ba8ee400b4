"""deploy/ and the Dockerfile, checked by the tools made for each: Docker Compose's own `config`,
Kubernetes' JSON schemas (kubernetes-validate, strict), `systemd-analyze verify` and hadolint;
then what those cannot know: every stop waits longer than the hub's own shutdown limit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from parking_hub.cli import PROCESS_SHUTDOWN_TIMEOUT_S
from parking_hub.registry import parse_registry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TOOLS = Path(sys.executable).parent  # console scripts of the test extras
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
OLDEST_KUBERNETES = "1.30.0"  # the native preStop sleep action
PRESTOP_SLEEP_S = 5


def run(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, **kwargs)


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = Path(str(files("compose").joinpath("docker-compose")))
    # Only what the command line gives: no .env, COMPOSE_* or passwords from the caller's environment.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    return run([binary, "-f", DEPLOY / "compose.yaml", *args], env=env, cwd=DEPLOY)


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return float(match.group(1))


def test_compose_file_is_valid_and_runs_each_role() -> None:
    result = compose(
        "--env-file", "compose.env.example", "--profile", "simulator", "config", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    services = orjson.loads(result.stdout)["services"]
    assert set(services) == {
        "mosquitto-users",
        "mosquitto",
        "redis",
        "lots-load",
        "hub-ingest",
        "hub-api",
        "simulator",
    }
    assert services["hub-ingest"]["command"][:4] == ["parking-hub", "serve", "--role", "ingest"]
    assert services["hub-api"]["command"][:4] == ["parking-hub", "serve", "--role", "api"]
    assert services["hub-api"]["ports"][0]["target"] == 8080
    assert services["simulator"]["command"][:2] == ["sensors-sim", "run"]
    assert services["lots-load"]["command"][:3] == ["parking-hub", "lots", "load"]
    for name in ("hub-ingest", "hub-api"):
        assert seconds(services[name]["stop_grace_period"]) > PROCESS_SHUTDOWN_TIMEOUT_S
        assert services[name]["depends_on"]["lots-load"]["condition"] == "service_completed_successfully"
    mounted = {
        (name, Path(volume["source"]).relative_to(DEPLOY).as_posix(), volume["target"])
        for name, service in services.items()
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    }
    assert ("mosquitto", "mosquitto/mosquitto.conf", "/mosquitto/config/mosquitto.conf") in mounted
    assert ("mosquitto", "mosquitto/acl", "/mosquitto/config/acl") in mounted
    assert ("redis", "redis/redis.conf", "/usr/local/etc/redis/redis.conf") in mounted
    assert services["redis"]["command"][1] == "/usr/local/etc/redis/redis.conf"


def test_compose_refuses_to_run_without_passwords() -> None:
    result = compose("config", "--quiet")
    assert result.returncode != 0
    assert "is missing a value: set" in result.stderr
    assert "in deploy/.env" in result.stderr


def kubernetes_validate(paths: list[Path], version: str | None) -> subprocess.CompletedProcess[str]:
    """Against `version`, or the newest Kubernetes whose schemas the package ships."""
    pinned = ["-k", version] if version else []
    return run([TOOLS / "kubernetes-validate", "--strict", "--quiet", *pinned, *paths])


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, None], ids=["oldest", "newest"])
def test_kubernetes_manifests_match_the_api_schemas(version: str | None) -> None:
    result = kubernetes_validate(MANIFESTS, version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr


def test_kubernetes_validation_catches_a_misspelt_field(tmp_path: Path) -> None:
    broken = tmp_path / "api.yaml"
    text = (DEPLOY / "kubernetes" / "api.yaml").read_text()
    broken.write_text(text.replace("terminationGracePeriodSeconds", "terminationGracePeriodSecond"))
    result = kubernetes_validate([broken], OLDEST_KUBERNETES)
    assert result.returncode != 0
    assert "terminationGracePeriodSecond" in result.stdout + result.stderr


def kubernetes_objects() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_hub_pods_probe_and_stop_within_their_grace_period() -> None:
    hubs = [
        doc["spec"]["template"]["spec"]
        for doc in kubernetes_objects()
        if doc["kind"] in {"Deployment", "StatefulSet"}
    ]
    assert len(hubs) == 2
    for pod in hubs:
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert pre_stop in {0, PRESTOP_SLEEP_S}
        assert pod["terminationGracePeriodSeconds"] > pre_stop + PROCESS_SHUTDOWN_TIMEOUT_S
    roles = {
        env["value"]
        for pod in hubs
        for env in pod["containers"][0]["env"]
        if env["name"] == "PARKING_HUB_ROLE"
    }
    assert roles == {"ingest", "api"}


def test_the_registry_config_map_holds_a_valid_registry() -> None:
    (registry,) = [doc for doc in kubernetes_objects() if doc["metadata"]["name"] == "parking-hub-registry"]
    lots = parse_registry(registry["data"]["city.geojson"].encode(), "parking-hub-registry")
    assert lots


def test_systemd_units_verify(tmp_path: Path) -> None:
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {unit.name for unit in units} == {"parking-hub-ingest.service", "parking-hub-api.service"}
    for unit in units:
        text = unit.read_text()
        stop = re.search(r"^TimeoutStopSec=(\d+)s$", text, re.MULTILINE)
        assert stop, unit.name
        assert int(stop.group(1)) > PROCESS_SHUTDOWN_TIMEOUT_S
        # verify checks that ExecStart's program exists: point it at this environment's parking-hub.
        installed = text.replace("/opt/parking-hub/bin/parking-hub", str(TOOLS / "parking-hub"))
        (tmp_path / unit.name).write_text(installed)
    result = run(["systemd-analyze", "verify", *(tmp_path / unit.name for unit in units)])
    # verify reports unknown keys and bad values on stderr while still exiting 0.
    assert (result.returncode, result.stderr.strip()) == (0, "")


def test_dockerfile_passes_hadolint() -> None:
    result = run([TOOLS / "hadolint", "--no-color", ROOT / "Dockerfile"])
    assert result.returncode == 0, result.stdout + result.stderr
