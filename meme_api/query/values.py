"""Value types of the query language: how a parameter's text becomes a value, and its operators."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
BOOLEAN_WORDS = {"true": True, "1": True, "false": False, "0": False}
INTEGER_SHAPE = re.compile(r"[+-]?[0-9]{1,20}")
PUBLIC_ID_SHAPE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_TIMESTAMP_LENGTH = 64

ORDERED = frozenset({"eq", "ne", "lt", "lte", "gt", "gte", "in", "is"})
UNORDERED = frozenset({"eq", "ne", "in", "is"})
PATTERNS = frozenset({"like", "ilike"})
OPERATORS = ORDERED | PATTERNS


@dataclass(frozen=True)
class ValueType:
    """A field type: a parser (raising ValueError with a reason) and the operators it allows."""

    name: str
    parse: Callable[[str], Any]
    dump: Callable[[Any], str]
    operators: frozenset[str]
    is_words: tuple[str, ...] = ("null",)
    # Text compares by code point on every backend (see `portable.exact_text`).
    text: bool = False


def parse_integer(raw: str) -> int:
    """A whole number that fits the 32-bit INTEGER columns of every backend."""
    if not INTEGER_SHAPE.fullmatch(raw):
        raise ValueError("must be a whole number")
    value = int(raw)
    if not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"must be between {INT32_MIN} and {INT32_MAX}")
    return value


def parse_boolean(raw: str) -> bool:
    """`true`/`false`/`1`/`0`, in any letter case."""
    try:
        return BOOLEAN_WORDS[raw.lower()]
    except KeyError:
        raise ValueError("must be true, false, 1 or 0") from None


def parse_timestamp(raw: str) -> datetime:
    """An ISO 8601 date or date-time; with an offset it is converted to UTC, without it is UTC."""
    reason = "must be an ISO 8601 timestamp such as 2026-11-21T19:05:00Z"
    if len(raw) > MAX_TIMESTAMP_LENGTH or not raw.isascii():
        raise ValueError(reason)
    try:
        value = datetime.fromisoformat(raw)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise ValueError(reason) from None
    return value


def parse_public_id(raw: str) -> str:
    """A public id: a UUID in its canonical 36-character form (letter case ignored)."""
    value = raw.lower()
    if not PUBLIC_ID_SHAPE.fullmatch(value):
        raise ValueError("must be a public id, a UUID like 3f2c9a1e-0b7d-4c55-9e0a-1d2b3c4d5e6f")
    return value


def dump_timestamp(value: datetime) -> str:
    return value.isoformat()


INTEGER = ValueType("integer", parse_integer, str, ORDERED)
BOOLEAN = ValueType("boolean", parse_boolean, lambda v: "true" if v else "false", UNORDERED,
                    is_words=("null", "true", "false"))
TIMESTAMP = ValueType("timestamp", parse_timestamp, dump_timestamp, ORDERED)
TEXT = ValueType("text", str, str, ORDERED | PATTERNS, text=True)
PUBLIC_ID = ValueType("public id", parse_public_id, str, UNORDERED)
