"""LoRaWAN network servers as input: envelope parsing, vendor payloads, the registry's devices.

Pure functions, no I/O. The ingest loop calls `decode_uplinks` with a batch's messages on
`SUBSCRIPTIONS`; `decode_uplink` decodes one.
"""

from parking_hub.ingest.lorawan.bulk import Uplinks, decode_uplinks
from parking_hub.ingest.lorawan.decode import decode_uplink
from parking_hub.ingest.lorawan.devices import DeviceEntry, DeviceIndex
from parking_hub.ingest.lorawan.envelopes import parse_topic

# The Things Stack v3 (with or without a tenant in the application id) and ChirpStack v4 uplinks.
SUBSCRIPTIONS = ("v3/+/devices/+/up", "application/+/device/+/event/up")

__all__ = [
    "SUBSCRIPTIONS",
    "DeviceEntry",
    "DeviceIndex",
    "Uplinks",
    "decode_uplink",
    "decode_uplinks",
    "parse_topic",
]
