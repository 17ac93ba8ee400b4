"""Which entities of a selection pass a query's filters (idPattern, q, attrs), decided before a page is cut.

A filter is judged on an entity's key-values form. Sites are judged one by one; spots by class, since
every spot of one lot in one state (free, occupied, unknown) answers every filter alike: one built
representative per class decides for all its members. Only ids differ, so idPattern is judged per id.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import re2

from parking_hub.api.ngsi import qlang
from parking_hub.api.ngsi.entities import Entity, build, key_values
from parking_hub.api.ngsi.selection import SPOT, Run, owners, site_id, spot_id, total
from parking_hub.arrays import BoolArray, IntArray
from parking_hub.query.availability import Availability

Predicate = Callable[[Entity], bool]
# idPattern as FiLiP sends it by default: it matches every id, so no id is tried.
MATCH_ALL = ".*"
_ORDER = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


_QUIET = re2.Options()
_QUIET.log_errors = False  # a client's bad pattern is answered, not logged


# Work one query may do, as it runs on the event loop: ids tried against an idPattern (about 3 us
# each), and entities built to judge q or attrs (about 12 us each; spots are judged by class).
MAX_PATTERN_IDS = 250_000
MAX_JUDGED = 50_000


class FilterError(ValueError):
    pass


class TooComplexQuery(ValueError):
    """More work than one query may do: NGSI-LD's TooComplexQuery."""


@functools.lru_cache(maxsize=64)
def compile_pattern(pattern: str) -> Any:
    """A regular expression in RE2's syntax, whose matching time is linear in the text."""
    try:
        return re2.compile(pattern, _QUIET)
    except re2.error:
        raise FilterError("is not a regular expression in RE2's syntax") from None


def keep(
    runs: Sequence[Run], state: Availability, predicate: Predicate | None, id_pattern: str | None
) -> list[Run]:
    if predicate is None and id_pattern in (None, MATCH_ALL):
        return list(runs)  # a whole-city range stays a range: a page is cut without listing the city
    if id_pattern not in (None, MATCH_ALL) and total(runs) > MAX_PATTERN_IDS:
        raise TooComplexQuery(
            f"idPattern would be tried on {total(runs)} ids, more than {MAX_PATTERN_IDS}: "
            "narrow the query by type, id or a geo-query"
        )
    kept = []
    for run in runs:
        items = np.asarray(run.items, dtype=np.int64)
        if id_pattern is not None and id_pattern != MATCH_ALL:
            items = items[_ids_matching(state, run.type, items, compile_pattern(id_pattern))]
        if predicate is not None and len(items):
            items = items[_passing(state, run.type, items, predicate)]
        kept.append(Run(run.type, items))
    return kept


def _ids_matching(state: Availability, entity_type: str, items: IntArray, pattern: Any) -> BoolArray:
    lots = state.index.lots
    if entity_type == SPOT:
        owner, berth = owners(state.index, items)
        ids = (spot_id(lots[i].id, b) for i, b in zip(owner.tolist(), berth.tolist(), strict=True))
    else:
        ids = (site_id(entity_type, lots[i].id) for i in items.tolist())
    return np.fromiter((pattern.search(i) is not None for i in ids), dtype=bool, count=len(items))


def _passing(state: Availability, entity_type: str, items: IntArray, predicate: Predicate) -> BoolArray:
    if entity_type != SPOT:
        _judging(len(items))
        built = build(state, [Run(entity_type, items)])
        return np.fromiter((predicate(key_values(e)) for e in built), dtype=bool, count=len(items))
    owner, _ = owners(state.index, items)
    klass = owner * 3 + state.known[items] * (1 + state.free[items])
    classes, first, members = np.unique(klass, return_index=True, return_inverse=True)
    _judging(len(classes))
    representatives = build(state, [Run(SPOT, items[first])])
    verdicts = np.fromiter(
        (predicate(key_values(e)) for e in representatives), dtype=bool, count=len(classes)
    )
    passing: BoolArray = verdicts[members]
    return passing


def _judging(count: int) -> None:
    if count > MAX_JUDGED:
        raise TooComplexQuery(
            f"q or attrs would judge {count} entities (spots count once per lot and state), more than "
            f"{MAX_JUDGED}: narrow the query by type, id, idPattern or a geo-query"
        )


def q_predicate(query: qlang.Query) -> Predicate:
    if isinstance(query, qlang.Logical):
        parts = [q_predicate(part) for part in query.parts]
        if query.op == ";":
            return lambda entity: all(part(entity) for part in parts)
        return lambda entity: any(part(entity) for part in parts)
    return lambda entity: _term(query, entity)


def having_any(attributes: Sequence[str]) -> Predicate:
    """NGSI-LD's attrs: an entity matches when it has at least one of the attributes."""
    return lambda entity: any(name in entity for name in attributes)


def _term(term: qlang.Term, entity: Entity) -> bool:
    if term.attribute not in entity or term.attribute in ("id", "type", "@context"):
        return False
    if term.op is None:
        return True
    value = entity[term.attribute]
    elements = value if isinstance(value, list) else [value]
    if term.op == "!=":
        return not any(_equal_or_within(term, element) for element in elements)
    return any(_compare(term, element) for element in elements)


def _compare(term: qlang.Term, value: Any) -> bool:
    if term.op == "==":
        return _equal_or_within(term, value)
    if term.op == "~=":
        return isinstance(value, str) and compile_pattern(str(term.values[0])).search(value) is not None
    wanted = term.values[0]
    return _comparable(wanted, value) and bool(_ORDER[str(term.op)](value, wanted))


def _equal_or_within(term: qlang.Term, value: Any) -> bool:
    if term.range is not None:
        low, high = term.range.low, term.range.high
        return _comparable(low, value) and _comparable(high, value) and bool(low <= value <= high)
    return any(_comparable(wanted, value) and wanted == value for wanted in term.values)


def _comparable(wanted: qlang.Value, value: Any) -> bool:
    """Numbers with numbers, text with text, booleans with booleans; nothing else compares."""
    if isinstance(wanted, bool) or isinstance(value, bool):
        return isinstance(wanted, bool) and isinstance(value, bool)
    if isinstance(wanted, float):
        return isinstance(value, int | float)
    return isinstance(value, str)


def check_patterns(query: qlang.Query) -> None:
    """Every ~= pattern of a query compiles, so a bad one is refused before any entity is judged."""
    if isinstance(query, qlang.Logical):
        for part in query.parts:
            check_patterns(part)
    elif query.op == "~=":
        compile_pattern(str(query.values[0]))
