"""An entity's representations beyond the normalized one: projection (attrs, pick, omit), concise,
keyValues, system attributes, and GeoJSON features."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from parking_hub.api.ngsi.entities import Entity, key_values

CORE_MEMBERS = ("id", "type")


@dataclass(frozen=True, slots=True)
class Shape:
    form: str = "normalized"  # normalized, keyValues or concise
    sys_attrs: bool = False
    keep: frozenset[str] | None = None  # members kept (attrs, pick); None keeps all
    drop: frozenset[str] = frozenset()  # members left out (omit)

    @classmethod
    def of(
        cls,
        options: str | None,
        format_: str | None,
        attrs: str | None,
        pick: str | None,
        omit: str | None,
    ) -> Shape:
        named = set(options.split(",")) if options else set()
        form = format_ or next(
            (f for f in ("keyValues", "simplified", "concise") if f in named), "normalized"
        )
        keep = None
        if attrs is not None:
            keep = frozenset(attrs.split(",")) | frozenset(CORE_MEMBERS)
        if pick is not None:
            keep = frozenset(pick.split(",")) if keep is None else keep & frozenset(pick.split(","))
        return cls(
            form="keyValues" if form == "simplified" else form,
            sys_attrs="sysAttrs" in named,
            keep=keep,
            drop=frozenset(omit.split(",")) if omit else frozenset(),
        )

    def apply(self, entity: Entity) -> Entity:
        if self.sys_attrs:
            entity = with_sys_attrs(entity)
        if self.form == "keyValues":
            entity = key_values(entity)
        elif self.form == "concise":
            entity = concise(entity)
        return _project(entity, self.keep, self.drop)


def _project(entity: Entity, keep: Collection[str] | None, drop: Collection[str]) -> Entity:
    return {k: v for k, v in entity.items() if (keep is None or k in keep) and k not in drop}


def with_sys_attrs(entity: Entity) -> Entity:
    """modifiedAt on each observed attribute and on the entity (the newest): the hub keeps no creation
    time, so createdAt is not given."""
    shaped: Entity = {}
    newest = None
    for name, attribute in entity.items():
        shaped[name] = attribute
        if isinstance(attribute, dict) and "observedAt" in attribute:
            shaped[name] = attribute | {"modifiedAt": attribute["observedAt"]}
            newest = max(newest or attribute["observedAt"], attribute["observedAt"])
    return shaped if newest is None else shaped | {"modifiedAt": newest}


def concise(entity: Entity) -> Entity:
    """NGSI-LD's concise form: attribute types left out; a Property or GeoProperty with nothing but
    its value becomes the value."""
    shaped: Entity = {}
    for name, attribute in entity.items():
        if isinstance(attribute, dict) and attribute.get("type") in (
            "Property",
            "GeoProperty",
            "Relationship",
        ):
            rest = {k: v for k, v in attribute.items() if k != "type"}
            shaped[name] = rest["value"] if list(rest) == ["value"] else rest
        else:
            shaped[name] = attribute
    return shaped


def feature(entity: Entity, shaped: Entity) -> Entity:
    """A GeoJSON Feature: the entity's location as geometry, its other members as properties."""
    location = entity["location"]["value"]
    properties = {k: v for k, v in shaped.items() if k not in ("id", "@context")}
    return {"id": entity["id"], "type": "Feature", "geometry": location, "properties": properties}


def feature_collection(entities: list[Entity], shaped: list[Entity]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [feature(e, s) for e, s in zip(entities, shaped, strict=True)],
    }
