"""Redis: the only state shared between hub processes."""
