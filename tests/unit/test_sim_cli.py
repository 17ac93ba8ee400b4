"""The command line: arguments, a dry run with its report and truth file, and refusals."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sensors_sim.cli import main
from sensors_sim.truth import Truth
from tests.unit.simcity import generated_city


def test_city_lot_ids_and_device_euis_follow_the_prefix(tmp_path: Path) -> None:
    devices: dict[str, set[str]] = {}
    for prefix in ("qd", "test-7"):
        out = tmp_path / f"{prefix}.geojson"
        assert main(["city", "-o", str(out), "--lots", "3", "--berths", "90", "--prefix", prefix]) == 0
        features = orjson.loads(out.read_bytes())["features"]
        assert [f["properties"]["id"] for f in features] == [f"{prefix}-000{i}" for i in (1, 2, 3)]
        devices[prefix] = {key for f in features for key in f["properties"].get("devices", {})}
    assert devices["qd"]
    assert min(devices["qd"]) == "0251440000000001"  # the seed city's
    assert len(devices["test-7"]) == len(devices["qd"])
    assert not devices["qd"] & devices["test-7"]  # cities side by side in one registry do not clash


def test_a_dry_run_reports_the_simulated_day_and_writes_the_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, registry = generated_city(tmp_path, lots=20, berths=2_000)
    truth_file = tmp_path / "truth.npz"
    args = ["run", "--lots", str(path), "--dry-run", "--speed", "max", "--hours", "24", "--format", "mixed"]
    assert main([*args, "--faults", "all", "--truth", str(truth_file), "--report", "--start", "00:00"]) == 0
    out = capsys.readouterr().out
    assert "simulated 24.0 h of 2,000 berths" in out
    assert "occupancy by local hour (%):" in out
    assert "heartbeats per berth-day by codec:" in out
    assert "messages by format: chirpstack" in out
    assert "lost" in out
    occupancy = next(line for line in out.splitlines() if line.startswith("  off-street"))
    assert len([int(cell) for cell in occupancy.split()[1:]]) == 24  # every hour of the day was seen
    truth = Truth.load(truth_file, registry)
    assert truth.delivered > 2_000
    assert (truth.rank > 0).all()  # every berth reported at least once
    assert (truth.status > 0).all()  # every gateway said it was online


@pytest.mark.parametrize(
    "bad",
    [
        ["--mqtt-url", "http://x"],
        ["--speed", "0"],
        ["--speed", "fast"],
        ["--speed", "2", "--rate", "5"],
        ["--format", "xml"],
        ["--format", "native,smoke-signals"],
        ["--faults", "gremlins"],
        ["--faults", "loss=3"],
        ["--start", "25:00"],
        ["--hours", "-1"],
        ["--hub", "ftp://hub"],
        ["--topic-prefix", "a/#"],
        ["--event-days", "1.5"],
        ["--event-days", "-0.1"],
        ["--weekday", "funday"],
    ],
)
def test_run_refuses_bad_arguments_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]
) -> None:
    path, _ = generated_city(tmp_path, lots=2, berths=20)
    with pytest.raises(SystemExit) as exited:
        main(["run", "--lots", str(path), *bad])
    assert exited.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_run_and_verify_refuse_unusable_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--lots", str(tmp_path / "missing.geojson"), "--dry-run"]) == 2
    path, _ = generated_city(tmp_path, lots=2, berths=20)
    assert main(["run", "--lots", str(path), "--dry-run", "--speed", "max"]) == 2  # needs --hours
    assert main(["verify", "--lots", str(path), "--truth", str(tmp_path / "none.npz")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err
    assert "--speed max needs --hours" in err
    assert "truth file" in err
