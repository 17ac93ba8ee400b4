"""sensors-sim: traffic for parking-hub, speaking only the public contract (MQTT out, HTTP in)."""
