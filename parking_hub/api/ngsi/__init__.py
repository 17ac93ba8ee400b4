"""Open data as NGSI-LD entities of the FIWARE Smart Data Models: OffStreetParking, OnStreetParking
and ParkingSpot, built from the same live state as /v1."""
