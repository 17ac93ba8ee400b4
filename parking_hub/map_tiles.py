"""The dashboard's optional street map: an XYZ tile server the operator names (--map-tiles)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# Only an origin this plain goes into the Content-Security-Policy header: no quotes, spaces or ';'.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_PLACEHOLDERS = ("{z}", "{x}", "{y}")


@dataclass(frozen=True, slots=True)
class MapTiles:
    url: str  # like https://tile.example.org/{z}/{x}/{y}.png
    attribution: str = ""

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @classmethod
    def parse(cls, url: str, attribution: str = "") -> MapTiles | None:
        """None for an empty URL (no street map); ValueError for one the page could not use."""
        url = url.strip()
        if not url:
            return None
        tiles = cls(url, attribution.strip())
        if not _ORIGIN.match(tiles.origin):
            raise ValueError(f"{url!r} is not an http:// or https:// URL with a plain host[:port]")
        if any(url.count(p) != 1 for p in _PLACEHOLDERS) or url.count("{") != len(_PLACEHOLDERS):
            raise ValueError(f"{url!r} must hold each of {{z}}, {{x}} and {{y}} once, and no other {{...}}")
        return tiles
