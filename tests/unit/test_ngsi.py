"""NGSI-LD entities from a known state: valid against the FIWARE schemas, paged before they are built."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from jsonschema import ValidationError

from parking_hub.api.errors import ApiError
from parking_hub.api.ngsi import filters, geoquery, qlang
from parking_hub.api.ngsi.entities import build, key_values
from parking_hub.api.ngsi.handlers import GEO_JSON, JSON, LD_JSON, negotiate
from parking_hub.api.ngsi.selection import (
    ENTITY_TYPES,
    SPOT,
    Run,
    entity_types,
    named,
    page,
    total,
    whole_city,
)
from parking_hub.lot_facts import Facts, Fee
from parking_hub.query.availability import Availability
from parking_hub.query.index import CityIndex
from parking_hub.registry import Lot
from tests.fiware import check_key_values, check_normalized, context_terms, load, reduce_normalized

NOW = 1_764_201_600_000
BAYS = ((120.3830, 36.0675), (120.3831, 36.0676))


def state() -> Availability:
    """A garage with a free, an occupied, a stale and a silent berth; an offline kerb with bays."""
    lots = [
        Lot("garage", "Garage", "op", "off_street", 4, 120.38, 36.07, 60, {"ev": (0,), "accessible": (3,)}),
        Lot("kerb", "Kerb", "op", "on_street", 2, 120.383, 36.0675, 60, berths=BAYS),
    ]
    availability = Availability(CityIndex.build(lots))
    stale = NOW - 3 * 60_000 - 1
    availability.ranks[:] = [NOW * 2, (NOW - 5) * 2 + 1, stale * 2, 0, NOW * 2, NOW * 2 + 1]
    availability.status_rank[1] = (NOW - 1) * 2  # the kerb's gateway went offline
    availability.recount(np.arange(2), NOW)
    return availability


def entities(types: tuple[str, ...] = ENTITY_TYPES) -> dict[str, dict[str, Any]]:
    s = state()
    return {e["id"]: e for e in build(s, whole_city(s.index, types))}


def test_every_entity_is_valid_against_its_fiware_schema() -> None:
    found = entities()
    assert len(found) == 2 + 4 + 2
    for entity in found.values():
        check_normalized(entity)
        check_key_values(key_values(entity))
        assert key_values(entity) == reduce_normalized(entity)


def test_the_schema_check_catches_what_it_should() -> None:
    """The official example passes; the same example with a broken attribute fails."""
    example = load("ParkingSpot/example-normalized.jsonld")
    check_normalized(example)
    for path, value in ((("status", "value"), "parked"), (("category", "value"), [])):
        broken = copy.deepcopy(example)
        broken[path[0]][path[1]] = value
        with pytest.raises(ValidationError):
            check_normalized(broken)
    broken = copy.deepcopy(example)
    del broken["refParkingSite"]
    with pytest.raises(ValidationError):
        check_normalized(broken)


def test_every_attribute_is_a_term_of_the_smart_data_models_context() -> None:
    terms = context_terms()
    for entity in entities().values():
        assert set(entity) - {"id", "type"} <= terms, entity["id"]


def test_sites_carry_the_live_counts() -> None:
    found = entities()
    garage = key_values(found["urn:ngsi-ld:OffStreetParking:garage"])
    assert (garage["totalSpotNumber"], garage["availableSpotNumber"], garage["occupiedSpotNumber"]) == (
        4,
        1,
        1,
    )
    assert garage["occupancy"] == 0.25
    assert garage["status"] == ["spacesAvailable"]
    assert garage["category"] == ["forElectricalCharging", "forDisabled"]
    assert garage["location"] == {"type": "Point", "coordinates": [120.38, 36.07]}
    normalized = found["urn:ngsi-ld:OffStreetParking:garage"]
    assert normalized["availableSpotNumber"]["observedAt"] == "2025-11-27T00:00:00.000Z"
    kerb = key_values(found["urn:ngsi-ld:OnStreetParking:kerb"])
    # Offline: nothing known, so nothing free or occupied; no status or category is claimed.
    assert (kerb["availableSpotNumber"], kerb["occupiedSpotNumber"]) == (0, 0)
    assert not {"status", "category", "occupancy"} & set(kerb)


def test_spots_are_free_occupied_or_unknown_and_observed_only_when_known() -> None:
    found = entities((SPOT,))
    statuses = {i: (e["status"]["value"], "observedAt" in e["status"]) for i, e in found.items()}
    spot = "urn:ngsi-ld:ParkingSpot:{}"
    assert statuses == {
        spot.format("garage:0"): ("free", True),
        spot.format("garage:1"): ("occupied", True),
        spot.format("garage:2"): ("unknown", False),  # stale
        spot.format("garage:3"): ("unknown", False),  # never reported
        spot.format("kerb:0"): ("unknown", False),  # the lot is offline
        spot.format("kerb:1"): ("unknown", False),
    }
    assert found[spot.format("garage:1")]["status"]["observedAt"] == "2025-11-26T23:59:59.995Z"
    kerb = key_values(found[spot.format("kerb:1")])
    assert kerb["location"]["coordinates"] == list(BAYS[1])
    assert kerb["refParkingSite"] == "urn:ngsi-ld:OnStreetParking:kerb"
    assert kerb["category"] == ["onStreet"]
    assert key_values(found[spot.format("garage:0")])["location"]["coordinates"] == [120.38, 36.07]


def test_ids_name_only_served_entities() -> None:
    index = state().index
    ids = [
        "urn:ngsi-ld:ParkingSpot:kerb:1",
        "urn:ngsi-ld:OffStreetParking:garage",
        "urn:ngsi-ld:ParkingSpot:garage:0",
        "urn:ngsi-ld:ParkingSpot:garage:0",  # twice
        "urn:ngsi-ld:ParkingSpot:garage:4",  # past capacity
        "urn:ngsi-ld:ParkingSpot:garage:01",  # not how the id is written
        "urn:ngsi-ld:OnStreetParking:garage",  # the garage is off-street
        "urn:ngsi-ld:OffStreetParking:nowhere",
        "urn:example:garage",
    ]
    runs = named(index, ids, ENTITY_TYPES)
    assert [(r.type, list(r.items)) for r in runs] == [
        ("OffStreetParking", [0]),
        ("OnStreetParking", []),
        ("ParkingSpot", [0, 5]),
    ]
    assert [r.type for r in named(index, ids, (SPOT,))] == [SPOT]


def test_types_by_name_or_iri_in_serving_order() -> None:
    iri = "https://smartdatamodels.org/dataModel.Parking/OffStreetParking"
    assert entity_types(["ParkingSpot", iri, "Vehicle"]) == ("OffStreetParking", "ParkingSpot")
    assert entity_types(["Vehicle"]) == ()


def test_pages_cut_across_types_without_building_the_rest() -> None:
    runs = [Run("A", np.array([1, 2, 3])), Run("B", range(1_000_000)), Run("C", np.array([7]))]
    assert total(runs) == 1_000_004
    cut = page(runs, 2, 3)
    assert [(r.type, list(r.items)) for r in cut] == [("A", [3]), ("B", [0, 1])]
    cut = page(runs, 1_000_002, 5)
    assert [(r.type, list(r.items)) for r in cut] == [("B", [999_999]), ("C", [7])]
    assert page(runs, 10**30, 5) == []
    assert page(runs, 0, 0) == []
    middle = page(runs, 500_000, 1000)
    assert middle[0].items == range(499_997, 500_997)  # still a range: nothing was materialised


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("application/ld+json", LD_JSON),
        ("application/*", JSON),
        ("application/ld+json, application/json;q=0.5", LD_JSON),
        ("application/json;q=0.9, application/ld+json", LD_JSON),
        ("application/json, application/ld+json", JSON),
        ("application/ld+json;q=0, */*", JSON),
        ("text/html, application/ld+json;q=0.1", LD_JSON),
        ("application/geo+json", GEO_JSON),
        ("application/geo+json, application/json", JSON),  # a tie: JSON first
        ("application/json;q=0.5, application/geo+json", GEO_JSON),
    ],
)
def test_content_negotiation(accept: str | None, media: str) -> None:
    assert negotiate(accept) == media


@pytest.mark.parametrize("accept", ["text/html", "application/json;q=0", "application/xml", "*/*;q=x"])
def test_nothing_acceptable_is_406(accept: str) -> None:
    with pytest.raises(ApiError) as caught:
        negotiate(accept)
    assert caught.value.status == 406


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "ends too early"),
        ("a==", "ends too early"),
        ("a==1;", "ends too early"),
        ("(a==1", "has an unclosed parenthesis"),
        ("a==1)", "has ')' where the expression should end"),
        ("a==b", "has 'b' as a value: quote text, as in status==\"free\""),
        ("a>1,2", "a> takes one value, not a list"),
        ("a~=b", "a~= takes a quoted regular expression"),
        ("==1", "has '==' where an attribute name should be"),
        ("(" * 9 + "a" + ")" * 9, "nests parentheses deeper than 8"),
        ("a" * 1001, "is 1001 characters; at most 1000"),
    ],
)
def test_q_refuses_what_it_cannot_read(text: str, error: str) -> None:
    with pytest.raises(qlang.QueryError) as caught:
        qlang.parse(text)
    assert str(caught.value) == error


def test_q_and_binds_tighter_than_or() -> None:
    query = qlang.parse('a==1|b=="x";c')
    assert query == qlang.Logical(
        "|",
        (
            qlang.Term("a", "==", (1.0,)),
            qlang.Logical(";", (qlang.Term("b", "==", ("x",)), qlang.Term("c"))),
        ),
    )
    assert qlang.parse("n==1..5") == qlang.Term("n", "==", range=qlang.Range(1.0, 5.0))
    assert qlang.parse('s=="a","b\\"c"') == qlang.Term("s", "==", ("a", 'b"c'))


def test_a_q_predicate_on_entities() -> None:
    entity = {"id": "x", "type": "T", "n": 3, "tags": ["a", "b"], "s": "free", "flag": True}
    for text, expected in [
        ("n==3", True),
        ("n==1..3", True),
        ("n>3", False),
        ('n=="3"', False),  # text never equals a number
        ('tags=="b"', True),
        ('tags!="b"', False),
        ('tags!="c"', True),
        ('missing!="c"', False),  # an absent attribute never matches
        ("flag==true", True),
        ("flag==1", False),
        ('s~="^fr"', True),
        ('s=="busy"|n<4', True),
        ('s=="busy";n<4', False),
        ("id", False),  # id and type are no attributes
    ]:
        assert filters.q_predicate(qlang.parse(text))(entity) is expected, text


def test_geo_query_parsing_refuses_bad_shapes() -> None:
    for args, message in [
        (("near;maxDistance==10", "Point", "[1,2,3,4]", None), "[1, 2, 3, 4] is not a [lon, lat] position"),
        (("near;maxDistance==10", "Point", "[181,0]", None), "[181, 0] is not a [lon, lat] position"),
        (("near", "Point", "[1,2]", None), "near needs maxDistance or minDistance"),
        (
            ("near;maxDistance==1;maxDistance==2", "Point", "[1,2]", None),
            "near takes ;maxDistance==metres and/or ;minDistance==metres",
        ),
        (("within;x", "Polygon", "[]", None), "within takes no modifier"),
        (
            ("overlaps", "Polygon", "[]", None),
            "georel must be one of near, within, intersects, disjoint, equals",
        ),
        (
            ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,0]]]", "other"),
            "geoproperty must be location: the only GeoProperty served",
        ),
        (("within", "Polygon", "not json", None), "coordinates must be a JSON array"),
    ]:
        with pytest.raises(geoquery.GeoQueryError) as caught:
            geoquery.parse(*args)
        assert str(caught.value) == message, args


def test_geo_queries_on_the_index() -> None:
    """Sites at their lots' points, spots at their bays' points, by the grid index and exact geometry."""
    s = state()
    runs = whole_city(s.index, ENTITY_TYPES)
    kerb_bay = BAYS[1]
    near = geoquery.parse("near;maxDistance==5", "Point", list(kerb_bay), None)
    found = geoquery.keep(runs, s.index, near)
    spots = [int(i) for i in found[2].items]
    assert spots == [4 + 1]  # the kerb's second bay only (the garage has 4 berths first)
    assert [len(r.items) for r in found[:2]] == [0, 0]
    box = [[120.379, 36.069], [120.381, 36.069], [120.381, 36.071], [120.379, 36.071], [120.379, 36.069]]
    within = geoquery.parse("within", "Polygon", [box], None)
    found = geoquery.keep(runs, s.index, within)
    assert [list(r.items) for r in found] == [[0], [], [0, 1, 2, 3]]  # the garage and its berths
    hole = [
        [120.3799, 36.0699],
        [120.3801, 36.0699],
        [120.3801, 36.0701],
        [120.3799, 36.0701],
        [120.3799, 36.0699],
    ]
    holed = geoquery.parse("within", "Polygon", [box, hole], None)
    assert [len(r.items) for r in geoquery.keep(runs, s.index, holed)] == [0, 0, 0]
    disjoint = geoquery.parse("disjoint", "Polygon", [box], None)
    assert [list(r.items) for r in geoquery.keep(runs, s.index, disjoint)] == [[], [1], [4, 5]]


def test_lot_facts_become_the_site_schemas_attributes() -> None:
    fee = Fee(currency="CNY", per_hour=6.0, text="6 CNY/h")
    facts = Facts(
        timezone="Asia/Shanghai",
        opening_hours="Mo-Su 09:00-22:00",
        max_height_m=2.1,
        max_stay_min=240,
        access="residents",
        fee=fee,
        address="1 Taidong Road, Qingdao",
        url="https://parking.example.org/p1",
        phone="+86 532 8000 0000",
    )
    features = {"ev": (0,), "truck": (2,), "bus": (3,)}
    lots = [
        Lot("mall", "Mall", "op", "off_street", 4, 120.38, 36.07, 60, features, facts=facts),
        Lot("kerb", "Kerb", "op", "on_street", 2, 120.383, 36.0675, 60, berths=BAYS, facts=facts),
    ]
    s = Availability(CityIndex.build(lots), now_ms=NOW)
    found = {e["id"]: e for e in build(s, whole_city(s.index, ENTITY_TYPES))}
    for entity in found.values():
        check_normalized(entity)
        check_key_values(key_values(entity))
        assert set(entity) - {"id", "type"} <= context_terms()
    mall = key_values(found["urn:ngsi-ld:OffStreetParking:mall"])
    assert mall["allowedVehicleType"] == ["car", "lorry", "bus"]
    assert (mall["openingHours"], mall["maximumAllowedHeight"]) == ("Mo-Su 09:00-22:00", 2.1)
    assert mall["maximumParkingDuration"] == "PT240M"
    assert (mall["priceRatePerMinute"], mall["priceCurrency"]) == (0.1, "CNY")
    assert mall["category"] == ["forElectricalCharging", "onlyResidents", "feeCharged"]
    assert mall["requiredPermit"] == ["residentPermit"]
    assert mall["address"] == {"streetAddress": "1 Taidong Road, Qingdao"}
    assert (mall["seeAlso"], mall["contactPoint"]) == (
        ["https://parking.example.org/p1"],
        {"telephone": "+86 532 8000 0000"},
    )
    kerb = key_values(found["urn:ngsi-ld:OnStreetParking:kerb"])
    # The OnStreetParking schema has no opening hours, height, price or contact.
    assert not {"openingHours", "maximumAllowedHeight", "priceRatePerMinute", "contactPoint"} & set(kerb)
    assert kerb["category"] == ["forResidents", "feeCharged"]
