"""docs/operators.md against the code: its examples are the published documents' own, and its codec
and error-code tables list exactly what the hub knows."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from parking_hub.interfaces import asyncapi_document, registry_schema
from parking_hub.registry import CODECS
from tests.operators_guide import GUIDE, REJECTION_CODES, table_keys

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Rejection codes are string literals of these families in the ingest code (the ts checks' in rank.py).
CODE_LITERAL = re.compile(r'"((?:invalid|unknown|undecodable|payload|length|batch|berth|ts|no)_[a-z_]+)"')


def blocks(info: str) -> list[str]:
    return [body for found, body in BLOCK.findall(GUIDE.read_text()) if found.strip() == info]


def test_every_json_example_is_one_the_published_documents_carry() -> None:
    """The guide shows the examples that the schema and the AsyncAPI document carry, and that
    tests/unit/test_asyncapi.py feeds to the hub's decoders."""
    documented = registry_schema()["examples"] + [
        example["payload"]
        for message in asyncapi_document()["components"]["messages"].values()
        for example in message.get("examples", [])
    ]
    examples = [orjson.loads(body) for body in blocks("json")]
    assert len(examples) >= 8
    for example in examples:
        assert example in documented, example
    for body in blocks("json answer"):
        orjson.loads(body)


def test_the_codec_table_lists_every_codec() -> None:
    assert table_keys("#### Codecs") == set(CODECS)


def test_the_error_table_lists_every_rejection_code() -> None:
    sources = [*(ROOT / "parking_hub" / "ingest").rglob("*.py"), ROOT / "parking_hub" / "rank.py"]
    codes = {code for path in sources for code in CODE_LITERAL.findall(path.read_text())}
    assert len(codes) >= 15
    assert codes == REJECTION_CODES
