"""`parking-hub demo` takes the settings a newcomer tries with it."""

from __future__ import annotations

from parking_hub.cli import _parser, _resolved
from parking_hub.config import build_settings


def test_the_demo_takes_a_street_map() -> None:
    tiles = "https://tile.example.org/{z}/{x}/{y}.png"
    args = _parser().parse_args(["demo", "--map-tiles", tiles, "--map-attribution", "(c) Example"])
    settings = build_settings(_resolved(args))
    assert settings.map_tiles is not None
    assert settings.map_tiles.attribution == "(c) Example"
