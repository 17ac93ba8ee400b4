"""Broker logins from a Mosquitto password file, as the dynamic-security plugin stores them.

`mosquitto_passwd` (Mosquitto 2) writes `name:$7$ITERATIONS$SALT$HASH`, PBKDF2-SHA512 with base64
salt and hash: the same hash, salt and iteration count the dynamic-security plugin keeps per client,
so a password file turns into the plugin's clients without anyone's password being known here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PBKDF2_SHA512 = "7"


class LoginError(ValueError):
    """The password file cannot be used; the message names the line and why."""


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    salt: str  # base64, as the password file and the plugin both keep it
    password_hash: str  # base64 PBKDF2-SHA512
    iterations: int


def parse_logins(text: str, source: str) -> list[Login]:
    logins: list[Login] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        username, _, hashed = line.partition(":")
        fields = hashed.split("$")
        if len(fields) != 5 or fields[0] or fields[1] != PBKDF2_SHA512 or not fields[2].isdigit():
            raise LoginError(
                f"{source} line {number}: {username!r} has no Mosquitto 2 PBKDF2-SHA512 hash "
                "($7$...); set its password again with mosquitto_passwd 2.x"
            )
        logins.append(Login(username, fields[3], fields[4], int(fields[2])))
    return logins


def read_logins(path: Path) -> list[Login]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise LoginError(f"{path}: {exc.strerror}") from exc
    return parse_logins(text, str(path))
