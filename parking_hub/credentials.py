"""API keys: a file of key ids and SHA-256 digests, and a constant-time check of a presented key.

The file holds one `KEY_ID:SHA256_HEX` per line (`#` starts a comment), never a key itself, so a
leaked file or backup opens nothing. Keys are random 256-bit tokens, so an unsalted digest is
enough: there is no dictionary to try. A presented key is digested and compared with every stored
digest by `hmac.compare_digest`, without stopping at a match, so the time taken says nothing about
which digest, or how much of one, matched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

# Every request compares against every digest, so the list is kept to what one city hands out.
MAX_API_KEYS = 1_000
MAX_KEY_FILE_BYTES = 1024 * 1024
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def digest(key: str) -> bytes:
    # aiohttp decodes header bytes that are not UTF-8 (0xFF) as surrogates: digest the bytes sent.
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """Key ids and digests; `identify` names the key a client presented, or None."""

    entries: tuple[tuple[str, bytes], ...] = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> ApiKeys:
        entries: list[tuple[str, bytes]] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            key_id, sep, hex_digest = line.partition(":")
            if not sep or not KEY_ID.match(key_id) or not _DIGEST.match(hex_digest.lower()):
                raise ValueError(f"line {number} is not KEY_ID:SHA256_HEX (key id of [A-Za-z0-9_.-], 1-64)")
            if any(key_id == known for known, _ in entries):
                raise ValueError(f"line {number} repeats key id {key_id!r}")
            entries.append((key_id, bytes.fromhex(hex_digest)))
        if not entries:
            raise ValueError("the file names no key")
        if len(entries) > MAX_API_KEYS:
            raise ValueError(f"{len(entries)} keys; at most {MAX_API_KEYS}")
        return cls(tuple(entries))

    @classmethod
    def read(cls, path: Path) -> ApiKeys:
        try:
            with path.open("rb") as file:
                data = file.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        if len(data) > MAX_KEY_FILE_BYTES:
            raise ValueError(f"{path} is larger than {MAX_KEY_FILE_BYTES} bytes")
        try:
            return cls.parse(data.decode())
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not UTF-8 text") from None
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def identify(self, presented: str) -> str | None:
        wanted = digest(presented)
        found: str | None = None
        for key_id, stored in self.entries:
            if hmac.compare_digest(wanted, stored):
                found = key_id
        return found


def new_key(key_id: str) -> tuple[str, str]:
    """A fresh random key, and the key-file line that admits it."""
    if not KEY_ID.match(key_id):
        raise ValueError(f"key id {key_id!r} must be 1-64 characters of [A-Za-z0-9_.-]")
    key = secrets.token_urlsafe(32)
    return key, f"{key_id}:{digest(key).hex()}"
