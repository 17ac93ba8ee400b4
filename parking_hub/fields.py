"""Field-by-field validation of registry input: an error names the field and the reason."""

from __future__ import annotations


class FieldError(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field_name = field_name


def require(cond: bool, field_name: str, reason: str) -> None:
    if not cond:
        raise FieldError(field_name, reason)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
