"""MQTT in: decode, validate, batch, apply."""
