"""Request parameters checked against their pydantic model; a failure names the parameter and why."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from annotated_types import Ge, Gt, Le, Lt
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from parking_hub.api.errors import ApiError, invalid
from parking_hub.api.schemas import NoParams

Model = TypeVar("Model", bound=BaseModel)

_BOUND_ERRORS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}
_FIXED_REASONS = {
    "missing": "is required",
    "extra_forbidden": "is not a parameter of this endpoint",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a number",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
}


def parse(model: type[Model], values: MultiMapping[str] | Mapping[str, str]) -> Model:
    single: dict[str, str] = {}
    for name, value in values.items():
        if name in single:
            raise invalid(name, f"{name} is given more than once")
        single[name] = value
    try:
        return model.model_validate(single)
    except ValidationError as exc:
        raise _first_error(model, exc) from None


def refusing_parameters(handler: Handler) -> Handler:
    """The handler of an endpoint that takes no query parameters: a request that sends any gets 400."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        parse(NoParams, request.query)
        return await handler(request)

    return checked


def _first_error(model: type[BaseModel], exc: ValidationError) -> ApiError:
    # Report the first failing parameter in the model's own order, so the answer is stable.
    order = [f.alias or n for n, f in model.model_fields.items()]
    errors = sorted(exc.errors(), key=lambda e: order.index(_name(e)) if _name(e) in order else len(order))
    error = errors[0]
    name = _name(error)
    return invalid(name, f"{name} {_reason(model, name, error)}")


def _name(error: ErrorDetails) -> str:
    return str(error["loc"][0]) if error["loc"] else "query"


def _reason(model: type[BaseModel], name: str, error: ErrorDetails) -> str:
    kind = error["type"]
    # A parameter named by a Python keyword (`from`) is its field's alias.
    field = next((f for n, f in model.model_fields.items() if name in (n, f.alias)), None)
    if kind in _FIXED_REASONS or field is None:
        return _FIXED_REASONS.get(kind, _FIXED_REASONS["extra_forbidden"])
    context = error.get("ctx", {})
    if kind in _BOUND_ERRORS:
        return _bounds(field.metadata)
    if kind == "literal_error":
        return f"must be one of {context.get('expected', '')}".replace("'", "")
    if kind == "value_error":
        return str(context.get("error", "is not valid"))
    return f"is not valid: {field.description}"


def _bounds(metadata: list[Any]) -> str:
    low = next((m.ge if isinstance(m, Ge) else m.gt for m in metadata if isinstance(m, Ge | Gt)), None)
    high = next((m.le if isinstance(m, Le) else m.lt for m in metadata if isinstance(m, Le | Lt)), None)
    if low is not None and high is not None:
        return f"must be between {_fmt(low)} and {_fmt(high)}"
    return f"must be at least {_fmt(low)}" if low is not None else f"must be at most {_fmt(high)}"


def _fmt(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
