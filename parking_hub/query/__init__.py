"""Queries: the city index, the availability mirror and the nearest search."""
