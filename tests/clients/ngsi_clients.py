"""Queries a running hub with FiLiP and ngsildclient, the PyPI NGSI-LD clients, and prints what each
returned as one JSON object. Runs in the clients' own virtualenv (see requirements.txt): argv[1] is the
hub's base URL, argv[2] a JSON object naming the lots to query around."""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import urlsplit

from filip.clients.ngsi_ld.cb import ContextBrokerLDClient
from ngsildclient import Client


def filip_queries(base: str, city: dict[str, Any]) -> dict[str, Any]:
    client = ContextBrokerLDClient(url=base)
    lon, lat = city["near"]

    def ids(entities: list[Any]) -> list[str]:
        return [str(e.id) for e in entities]

    return {
        "by_type": ids(client.get_entity_list(entity_type="OffStreetParking", limit=1000)),
        "by_pattern": ids(client.get_entity_list(id_pattern=city["spot_pattern"], entity_type="ParkingSpot")),
        "by_attrs": [
            sorted(e.model_dump(exclude_none=True))
            for e in client.get_entity_list(
                entity_type="OnStreetParking", attrs=["availableSpotNumber"], limit=1000
            )
        ],
        "by_q": ids(
            client.get_entity_list(
                entity_type="ParkingSpot", q=f'status=="free";refParkingSite=="{city["kerb_site"]}"'
            )
        ),
        "near": ids(
            client.get_entity_list(
                entity_type="ParkingSpot",
                georel="near;maxDistance==30",
                geometry="Point",
                coordinates=json.dumps([lon, lat]),
            )
        ),
        "paged": ids(client.get_entity_list(entity_type="ParkingSpot", limit=city["page_total"])),
        "key_values": [
            e.model_dump(exclude_none=True)
            for e in client.get_entity_list(id_pattern=city["spot_pattern"], options="keyValues")
        ],
    }


def ngsildclient_queries(base: str, city: dict[str, Any]) -> dict[str, Any]:
    where = urlsplit(base)
    with Client(hostname=where.hostname, port=where.port, port_temporal=where.port) as client:
        lon, lat = city["near"]
        geo: dict[str, Any] = {"type": "Query", "entities": [{"type": "ParkingSpot"}]}
        geo["geoQ"] = {"georel": "near;maxDistance==30", "geometry": "Point", "coordinates": [lon, lat]}
        box = [[lon - 0.0005, lat - 0.0005], [lon + 0.0005, lat - 0.0005], [lon + 0.0005, lat + 0.0005]]
        box += [[lon - 0.0005, lat + 0.0005], box[0]]
        within: dict[str, Any] = {"type": "Query", "entities": [{"type": "ParkingSpot"}]}
        within["geoQ"] = {"georel": "within", "geometry": "Polygon", "coordinates": [box]}
        return {
            "by_type": [e.id for e in client.query(type="OffStreetParking")],
            "count": client.entities.count(type="ParkingSpot"),
            "by_q": [e.id for e in client.query(type="ParkingSpot", q='status=="occupied"', limit=7)],
            "near": [e.id for e in client.alt.query(geo)],
            "within": [e.id for e in client.alt.query(within, limit=5)],
        }


def main() -> None:
    base, city = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"filip": filip_queries(base, city), "ngsildclient": ngsildclient_queries(base, city)}))


if __name__ == "__main__":
    main()
