"""`parking-hub lots acl`: the broker's access rules from the lot registry and the password file.

It writes the configuration of Mosquitto's dynamic-security plugin, the one way Mosquitto 2.0 checks
a SUBSCRIBE against rules (an `acl_file` only filters deliveries, so an operator could still join
the hub's shared subscription and take its share of the stream):

- a lot operator may publish its lots' events, berth reports and gateway status, and subscribe to
  and read its lots' errors and resync requests: nothing else;
- the hub's logins read everything they ingest, directly or through a `$share/<group>/` group,
  and the broker's count of dropped messages, and publish only errors and resync requests;
- network servers' logins publish uplinks only.

Logins come from a Mosquitto password file: `op-07` and `op-07/<anything>` (one login per gateway)
are operator op-07's. A login the rules do not name gets no rights at all.
"""

from __future__ import annotations

import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from parking_hub.broker_logins import Login, read_logins
from parking_hub.ingest.topics import BROKER_DROPPED
from parking_hub.registry import NO_OPERATOR, Lot, read_registries

# Broker user names: the registry's operators, the hub's and network servers' logins.
USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
DEFAULT_HUB_USER = "parking-hub"
GATEWAY_SEPARATOR = "/"  # op-07/gw-17 is one of operator op-07's logins
HUB_ROLE = "parking-hub"
NETWORK_SERVER_ROLE = "network-server"
UPLINKS = ("v3/+/devices/+/up", "application/+/device/+/event/up")  # The Things Stack, ChirpStack
# Whatever no rule allows is refused; unsubscribing harms nobody.
DEFAULT_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}

Rule = dict[str, Any]


class AclError(ValueError):
    """The registry or logins cannot be turned into access rules; the message says which and why."""


def operators(lots: Iterable[Lot]) -> tuple[dict[str, list[str]], list[str]]:
    """Lot ids by operator, and the ids of lots that name no operator (nobody may write them)."""
    owned: defaultdict[str, list[str]] = defaultdict(list)
    unowned: list[str] = []
    for lot in lots:
        if lot.operator == NO_OPERATOR:
            unowned.append(lot.id)
        elif not USER_NAME.match(lot.operator):
            raise AclError(
                f"lot {lot.id}: operator {lot.operator!r} cannot be a broker user name "
                "(1-64 characters of A-Z a-z 0-9 _ . @ -)"
            )
        else:
            owned[lot.operator].append(lot.id)
    return dict(owned), unowned


def _rule(kind: str, topic: str) -> Rule:
    return {"acltype": kind, "topic": topic, "allow": True}


def _reads(topic_filter: str) -> list[Rule]:
    """Subscribing to a filter, alone or in any shared group, and receiving what it matches."""
    return [
        _rule("subscribePattern", topic_filter),
        _rule("subscribePattern", f"$share/+/{topic_filter}"),
        _rule("publishClientReceive", topic_filter),
    ]


def hub_rules(prefix: str) -> list[Rule]:
    lots = f"{prefix}/v1/lots/+"
    reads = [rule for topic_filter in (f"{prefix}/v1/#", *UPLINKS) for rule in _reads(topic_filter)]
    writes = [f"{lots}/errors", f"{lots}/resync", f"{prefix}/v1/errors"]
    broker_drops = [_rule(kind, BROKER_DROPPED) for kind in ("subscribeLiteral", "publishClientReceive")]
    return reads + broker_drops + [_rule("publishClientSend", topic) for topic in writes]


def operator_rules(prefix: str, lot_ids: Iterable[str]) -> list[Rule]:
    rules: list[Rule] = []
    for lot_id in sorted(lot_ids):
        lot = f"{prefix}/v1/lots/{lot_id}"
        rules += [_rule("publishClientSend", f"{lot}/{sent}") for sent in ("events", "berths/+", "status")]
        for heard in ("errors", "resync"):
            rules += [
                _rule("subscribeLiteral", f"{lot}/{heard}"),
                _rule("publishClientReceive", f"{lot}/{heard}"),
            ]
    return rules


def _operator_role(operator: str) -> str:
    return f"operator:{operator}"


def _check_names(
    owned: dict[str, list[str]], hub_users: Sequence[str], network_servers: Sequence[str]
) -> None:
    for kind, names in (("hub user", hub_users), ("network server", network_servers)):
        for name in names:
            if not USER_NAME.match(name):
                raise AclError(f"{kind} {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . @ -")
            if name in owned:
                raise AclError(f"{kind} {name!r} is also a lot operator; give it a name of its own")
    if shared := set(hub_users) & set(network_servers):
        raise AclError(f"{min(shared)!r} is named both as a hub user and as a network server")


def _role_of(
    login: str, owned: dict[str, list[str]], hub_users: Sequence[str], network_servers: Sequence[str]
) -> str | None:
    if login in hub_users:
        return HUB_ROLE
    if login in network_servers:
        return NETWORK_SERVER_ROLE
    operator = login.partition(GATEWAY_SEPARATOR)[0]
    return _operator_role(operator) if operator in owned else None


def render_config(
    lots: Iterable[Lot],
    logins: Iterable[Login],
    prefix: str,
    hub_users: Sequence[str] = (DEFAULT_HUB_USER,),
    network_servers: Sequence[str] = (),
) -> tuple[dict[str, Any], list[str]]:
    """The plugin's configuration, and the logins it gives no rights (to tell whoever runs it)."""
    owned, _ = operators(lots)
    _check_names(owned, hub_users, network_servers)
    logins = sorted(logins, key=lambda login: login.username)
    if missing := sorted(set(hub_users) - {login.username for login in logins}):
        raise AclError(
            f"hub user {missing[0]!r} has no login in the password file; add it with mosquitto_passwd"
        )
    clients: list[dict[str, Any]] = []
    idle: list[str] = []
    for login in logins:
        role = _role_of(login.username, owned, hub_users, network_servers)
        if role is None:
            idle.append(login.username)
        clients.append(
            {
                "username": login.username,
                "password": login.password_hash,
                "salt": login.salt,
                "iterations": login.iterations,
                "roles": [] if role is None else [{"rolename": role}],
            }
        )
    roles = [
        {"rolename": HUB_ROLE, "acls": hub_rules(prefix)},
        {"rolename": NETWORK_SERVER_ROLE, "acls": [_rule("publishClientSend", uplink) for uplink in UPLINKS]},
    ] + [{"rolename": _operator_role(op), "acls": operator_rules(prefix, owned[op])} for op in sorted(owned)]
    config = {"clients": clients, "roles": roles, "groups": [], "defaultACLAccess": DEFAULT_ACCESS}
    return config, idle


def _listed(names: list[str]) -> str:
    return ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")


def write_acl(
    files: Sequence[Path],
    passwd: Path,
    *,
    prefix: str,
    hub_users: Sequence[str],
    network_servers: Sequence[str],
    output: Path | None,
) -> None:
    """Reads the registries (all of them, as one city) and the password file, and writes the
    plugin's configuration to `output` (readable by its owner only: it holds password hashes) or
    stdout."""
    lots = [lot for _, registry in read_registries(files) for lot in registry]
    config, idle = render_config(lots, read_logins(passwd), prefix, hub_users, network_servers)
    _, unowned = operators(lots)
    if unowned:
        shown = _listed(unowned)
        print(
            f"parking-hub: {len(unowned)} lots name no operator; nobody may publish to them: {shown}",
            file=sys.stderr,
        )
    if idle:
        print(f"parking-hub: {len(idle)} logins get no rights: {_listed(idle)}", file=sys.stderr)
    text = orjson.dumps(config, option=orjson.OPT_INDENT_2) + b"\n"
    if output is None:
        sys.stdout.buffer.write(text)
    else:
        with os.fdopen(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
            file.write(text)
