"""HTTP API: JSON answers from the in-memory mirror, never a Redis round trip per request."""
