"""GET /datex2/v3/parking-table and /datex2/v3/parking-status: the lots as DATEX II v3 parking
publications in XML. The table (ParkingTablePublication) holds each lot as a Place with its point,
capacity and the facts of contract 7.1 that DATEX has elements for; the status
(ParkingStatusPublication) gives each Place's live counts and opening status, and names the table
version it refers to. Element names and their order follow the DATEX II v3.6 Parking, Facilities,
Common and LocationReferencing schemas; docs/api.md maps each element."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from aiohttp import web
from lxml import etree

from parking_hub.api.app_state import current_state, live_key
from parking_hub.api.publications import LiveCounts, publications_key
from parking_hub.api.rendering import LIVE_CACHE, encoded_json_response, iso
from parking_hub.query.live import now_ms
from parking_hub.registry import Lot

NS = {
    "d2": "http://datex2.eu/schema/3/d2Payload",
    "com": "http://datex2.eu/schema/3/common",
    "fac": "http://datex2.eu/schema/3/facilities",
    "loc": "http://datex2.eu/schema/3/locationReferencing",
    "prk": "http://datex2.eu/schema/3/parking",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
XML = "application/xml"
LANG = "en"
TABLE_ID = "parking-hub"
# The publication's creator: DATEX asks for a two-letter country code, which the registry does not
# give; ZZ is a user-assigned ISO 3166 code, the one CLDR and UN/LOCODE use for an unknown country.
CREATOR_COUNTRY = "ZZ"
CREATOR = "parking-hub"
STRUCTURE = {"on_street": "onStreet", "off_street": "offStreetSurface"}
# Characters XML 1.0 cannot carry, which the registry's free text may hold: written as U+FFFD.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
OFFLINE_FAULT = "communicationsFailure"  # the lot's gateway said it is offline
NO_DATA_FAULT = "noParkingInformationAvailable"  # no berth has a fresh report


@functools.cache
def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _add(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    """A child element `prefix:local`; `xsi_type` sets xsi:type, the other keywords are attributes."""
    element = etree.SubElement(parent, _q(name))
    if text is not None:
        element.text = text
    for key, value in attrs.items():
        element.set(_q("xsi:type") if key == "xsi_type" else key, value)
    return element


def _free_text(text: str) -> str:
    return NOT_XML.sub("\ufffd", text)


def _text(parent: etree._Element, name: str, value: str) -> None:
    """A MultilingualString element holding one value."""
    _add(_add(_add(parent, name), "com:values"), "com:value", _free_text(value), lang=LANG)


def _payload(publication: str, published: str) -> etree._Element:
    root = etree.Element(_q("d2:payload"), nsmap=NS)
    root.set(_q("xsi:type"), publication)
    root.set("lang", LANG)
    root.set("modelBaseVersion", "3")
    _add(root, "com:publicationTime", published)
    creator = _add(root, "com:publicationCreator")
    _add(creator, "com:country", CREATOR_COUNTRY)
    _add(creator, "com:nationalIdentifier", CREATOR)
    return root


def _place(table: etree._Element, lot: Lot, version: str, loaded: str | None) -> None:
    """One lot as a Place: FacilityObject's elements first, then HierarchyElementGeneral's, then Place's."""
    facts = lot.facts
    place = _add(table, "prk:hierarchyElementGeneral", xsi_type="prk:Place", id=lot.id, version=version)
    _text(place, "fac:name", lot.name)
    _add(place, "fac:externalIdentifier", lot.id)
    if loaded is not None:
        _add(place, "fac:lastUpdated", loaded)
    if facts.url is not None:
        _add(_add(place, "fac:informationWebsite"), "com:urlLinkAddress", _free_text(facts.url))
    if facts.opening_hours in (None, "24/7"):  # contract 7.1: no hours given is always open
        _add(place, "fac:operatingHours", xsi_type="fac:OpenAllHours")
    point = _add(place, "fac:locationReference", xsi_type="loc:PointLocation")
    coordinates = _add(_add(point, "loc:pointByCoordinates"), "loc:pointCoordinates")
    _add(coordinates, "loc:latitude", repr(lot.lat))
    _add(coordinates, "loc:longitude", repr(lot.lon))
    if facts.max_height_m is not None:
        height = _add(_add(place, "fac:applicableForVehicles"), "com:heightCharacteristic")
        _add(height, "com:comparisonOperator", "lessThanOrEqualTo")
        _add(height, "com:vehicleHeight", repr(facts.max_height_m))
    _add(place, "prk:layer", "0")
    _add(place, "prk:type", "place")
    supply = _add(place, "prk:supply")
    _add(supply, "prk:quantity", str(lot.capacity))
    _add(supply, "prk:viewType", "spaceView")
    common = _add(place, "prk:commonComponents")
    characteristics = _add(common, "prk:characteristics")
    _add(characteristics, "prk:structureType", STRUCTURE[lot.kind])
    _add(characteristics, "prk:openToPublic", "true" if facts.access == "public" else "false")
    _add(characteristics, "prk:spacesTotal", str(lot.capacity))
    more = _add(common, "prk:additionalCharacteristics")
    _add(more, "prk:occupancyDetection", "spaceSensor")  # every berth reports on its own
    if facts.max_stay_min is not None:
        _add(_add(more, "prk:assignment"), "prk:maximumParkingDuration", str(facts.max_stay_min * 60))


def _reference(parent: etree._Element, name: str, target: str, ref_id: str, version: str) -> None:
    _add(parent, name, id=ref_id, version=version, targetClass=target)


def _place_status(status: etree._Element, lot: Lot, live: LiveCounts, i: int, version: str) -> None:
    """One lot's live state: FacilityObjectStatus's elements, ParkingStatusInformation's, PlaceStatus's."""
    free, known = live.free[i], live.known[i]
    info = _add(status, "prk:parkingStatusInformation", xsi_type="prk:PlaceStatus")
    _reference(info, "fac:reference", "fac:FacilityObject", lot.id, version)
    if updated := iso(live.updated_ms[i]):
        _add(info, "fac:lastUpdated", updated)
    _add(info, "fac:openingStatus", "open" if live.open_now[i] else "closed")
    if not live.online[i]:
        _add(info, "prk:parkingFault", OFFLINE_FAULT)
    if known == 0:
        _add(info, "prk:parkingFault", NO_DATA_FAULT)
    occupancy = _add(info, "prk:occupancy")
    _add(occupancy, "prk:numberOfVacantSpaces", str(free))
    _add(occupancy, "prk:numberOfOccupiedSpaces", str(known - free))
    # Full only when every berth is known and taken: unknown berths may be free.
    full = free == 0 and known == lot.capacity
    _add(info, "prk:status", "spacesAvailable" if free else "full" if full else "unknown")


def parking_table_xml(lots: Sequence[Lot], version: str, published: str, loaded: str | None) -> bytes:
    root = _payload("prk:ParkingTablePublication", published)
    table = _add(root, "prk:parkingTable", id=TABLE_ID, version=version)
    _add(table, "prk:versionTime", loaded or published)
    for lot in lots:
        _place(table, lot, version, loaded)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def parking_status_xml(lots: Sequence[Lot], live: LiveCounts, version: str, published: str) -> bytes:
    root = _payload("prk:ParkingStatusPublication", published)
    _reference(root, "prk:parkingTableReference", "prk:ParkingTable", TABLE_ID, version)
    for i, lot in enumerate(lots):
        _place_status(root, lot, live, i, version)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _version(request: web.Request) -> tuple[int, str, str | None]:
    """The registry's load time in ms, which versions the table (a reload gives a new one)."""
    loaded_ms = request.app[live_key].registry_loaded_ms
    return loaded_ms, str(loaded_ms), iso(loaded_ms)


async def parking_table(request: web.Request) -> web.Response:
    state = current_state(request)
    loaded_ms, version, loaded = _version(request)
    lots = state.index.lots

    def build() -> bytes:
        return parking_table_xml(lots, version, iso(now_ms()) or "", loaded)

    body = await request.app[publications_key].get("table", state.index, loaded_ms, lambda: build)
    return encoded_json_response(request, body, cache=LIVE_CACHE, content_type=XML)


async def parking_status(request: web.Request) -> web.Response:
    state = current_state(request)
    _, version, _ = _version(request)
    t_ms = now_ms()

    def prepare() -> Callable[[], bytes]:
        lots, live = state.index.lots, LiveCounts.of(state)
        return lambda: parking_status_xml(lots, live, version, iso(t_ms) or "")

    body = await request.app[publications_key].get("status", state.index, t_ms // 1000, prepare)
    return encoded_json_response(request, body, cache=LIVE_CACHE, content_type=XML)
