"""NGSI-LD's query language (`q`), parsed into a tree that the entity columns evaluate.

Grammar (ETSI GS CIM 009, 4.9): terms joined by `;` (and, binding tighter) and `|` (or), with
parentheses. A term is an attribute name alone (the attribute exists) or `name op value`, where op
is ==, !=, >, >=, <, <= or ~= (a regular expression), and value is a number, a "quoted string",
true or false, a comma list of those (any of them), or a range low..high. Text must be quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_Q_LENGTH = 1000
MAX_DEPTH = 8  # parentheses nested deeper than this are refused

Value = float | str | bool


@dataclass(frozen=True, slots=True)
class Range:
    low: Value
    high: Value


@dataclass(frozen=True, slots=True)
class Term:
    attribute: str
    op: str | None = None  # None: the attribute exists
    values: tuple[Value, ...] = ()
    range: Range | None = None


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # ";" (and) or "|" (or)
    parts: tuple[Query, ...]


Query = Term | Logical


class QueryError(ValueError):
    pass


_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>==|!=|>=|<=|~=|>|<)|(?P<punct>[;|(),])'
    r"|(?P<word>[^\s;|(),=!<>~\"]+))"
)
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_:/.#-]{0,255}")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def parse(text: str) -> Query:
    if len(text) > MAX_Q_LENGTH:
        raise QueryError(f"is {len(text)} characters; at most {MAX_Q_LENGTH}")
    parser = _Parser(_tokens(text))
    query = parser.disjunction(0)
    if parser.peek() is not None:
        raise QueryError(f"has {parser.peek()!r} where the expression should end")
    return query


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, i = [], 0
    while i < len(text):
        if text[i:].isspace():
            break
        match = _TOKEN.match(text, i)
        if match is None or match.lastgroup is None:
            raise QueryError(f"cannot be read at {text[i : i + 20]!r}")
        tokens.append((match.lastgroup, match[match.lastgroup]))
        i = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.at = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise QueryError("ends too early")
        self.at += 1
        return self.tokens[self.at - 1]

    def disjunction(self, depth: int) -> Query:
        parts = [self.conjunction(depth)]
        while self.peek() == "|":
            self.take()
            parts.append(self.conjunction(depth))
        return parts[0] if len(parts) == 1 else Logical("|", tuple(parts))

    def conjunction(self, depth: int) -> Query:
        parts = [self.operand(depth)]
        while self.peek() == ";":
            self.take()
            parts.append(self.operand(depth))
        return parts[0] if len(parts) == 1 else Logical(";", tuple(parts))

    def operand(self, depth: int) -> Query:
        if self.peek() == "(":
            if depth >= MAX_DEPTH:
                raise QueryError(f"nests parentheses deeper than {MAX_DEPTH}")
            self.take()
            inner = self.disjunction(depth + 1)
            if self.peek() != ")":
                raise QueryError("has an unclosed parenthesis")
            self.take()
            return inner
        kind, name = self.take()
        if kind != "word" or not _ATTRIBUTE.fullmatch(name):
            raise QueryError(f"has {name!r} where an attribute name should be")
        if self.at >= len(self.tokens) or self.tokens[self.at][0] != "op":
            return Term(name)
        op = self.take()[1]
        kind, text = self.take()
        if kind not in ("word", "string"):
            raise QueryError(f"has {text!r} where a value should be")
        if op == "~=":
            if kind != "string":
                raise QueryError(f"{name}~= takes a quoted regular expression")
            return Term(name, op, (_unquote(text),))
        if kind == "word" and ".." in text and op in ("==", "!="):
            low, _, high = text.partition("..")
            return Term(name, op, range=Range(_value(low), _value(high)))
        items = [text]
        while self.peek() == ",":
            self.take()
            items.append(self.take()[1])
        if len(items) > 1 and op not in ("==", "!="):
            raise QueryError(f"{name}{op} takes one value, not a list")
        return Term(name, op, tuple(_value(item) for item in items))


def _value(text: str) -> Value:
    if text.startswith('"'):
        return _unquote(text)
    if text in ("true", "false"):
        return text == "true"
    if _NUMBER.fullmatch(text):
        return float(text)
    raise QueryError(f'has {text!r} as a value: quote text, as in status=="free"')


def _unquote(text: str) -> str:
    if len(text) < 2 or not text.endswith('"'):
        raise QueryError(f"has an unterminated string {text!r}")
    return re.sub(r"\\(.)", r"\1", text[1:-1])
