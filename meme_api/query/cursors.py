"""Opaque cursors for keyset pagination, and the WHERE clause that resumes after one.

A cursor carries the ordering, the signature of the filters and the last row's ordering-key
values. It is encrypted (its keys may include internal ids) and authenticated, both with keys
derived from SECRET_KEY: HMAC-SHA256 in counter mode as the keystream, then HMAC-SHA256 over
nonce and ciphertext (encrypt-then-MAC). Python's standard library offers no AEAD cipher, and
this construction needs nothing beyond `hmac` and `hashlib`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from .declarations import Field
from .portable import exact_text

NONCE_BYTES = 16
TAG_BYTES = 16
MAX_CURSOR_LENGTH = 1024
BLOCK = hashlib.sha256().digest_size

OrderKey = tuple[Field, bool]  # a field and whether it is descending


class CursorError(ValueError):
    """The cursor was not made by this service (tampered, truncated, or another secret)."""


@lru_cache(maxsize=16)
def _subkey(secret: str, purpose: bytes) -> bytes:
    return hmac.digest(secret.encode(), b"meme_api cursor " + purpose, "sha256")


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (hmac.digest(key, nonce + counter.to_bytes(4, "big"), "sha256")
              for counter in range(-(-length // BLOCK)))
    return b"".join(blocks)[:length]


def _xor(data: bytes, stream: bytes) -> bytes:
    if len(data) != len(stream):
        raise ValueError("the key stream must be as long as the data")
    # As one big integer: a byte-by-byte loop cost more than the rest of the cursor together.
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def seal(payload: dict, secret: str) -> str:
    """The payload as an opaque, URL-safe cursor."""
    plain = json.dumps(payload, separators=(",", ":")).encode()
    nonce = secrets.token_bytes(NONCE_BYTES)
    body = nonce + _xor(plain, _keystream(_subkey(secret, b"encrypt"), nonce, len(plain)))
    tag = hmac.digest(_subkey(secret, b"sign"), body, "sha256")[:TAG_BYTES]
    return base64.urlsafe_b64encode(body + tag).decode().rstrip("=")


def unseal(cursor: str, secret: str) -> dict:
    """The payload of a cursor this service made; CursorError for anything else."""
    if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        raise CursorError
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise CursorError from None
    body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    if len(body) <= NONCE_BYTES:
        raise CursorError
    expected = hmac.digest(_subkey(secret, b"sign"), body, "sha256")[:TAG_BYTES]
    if not hmac.compare_digest(tag, expected):
        raise CursorError
    nonce, ciphertext = body[:NONCE_BYTES], body[NONCE_BYTES:]
    plain = _xor(ciphertext, _keystream(_subkey(secret, b"encrypt"), nonce, len(ciphertext)))
    try:
        payload = json.loads(plain)
    except ValueError:
        raise CursorError from None
    if not isinstance(payload, dict):
        raise CursorError
    return payload


def make_cursor(ordering: tuple[str, ...], signature: str, keys: list[OrderKey],
                values: tuple[Any, ...], secret: str) -> str:
    """A cursor that resumes after the row whose ordering-key values are `values`."""
    dumped = [field.type.dump(value) for (field, _), value in zip(keys, values, strict=True)]
    return seal({"o": list(ordering), "s": signature, "k": dumped}, secret)


def read_cursor(cursor: str, ordering: tuple[str, ...], signature: str, keys: list[OrderKey],
                secret: str) -> list[Any]:
    """The last row's key values; ValueError with the reason when the cursor does not fit."""
    try:
        payload = unseal(cursor, secret)
    except CursorError:
        raise ValueError("is not a cursor this service issued (tampered or truncated)") from None
    if payload.get("o") != list(ordering):
        raise ValueError("was made for another ordering; start again with an empty cursor")
    if payload.get("s") != signature:
        raise ValueError("was made for other filters; start again with an empty cursor")
    dumped = payload.get("k")
    try:
        if not isinstance(dumped, list) or len(dumped) != len(keys):
            raise ValueError
        return [field.type.parse(str(value))
                for (field, _), value in zip(keys, dumped, strict=True)]
    except ValueError:
        raise ValueError("is not a cursor this service issued (tampered or truncated)") from None


def after(keys: list[OrderKey], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `keys` (all non-null).

    Written as `k1 >= v1 AND (k1 > v1 OR <the rest>)`, so that an index on the keys serves it as
    a range scan on every backend: each page costs the same however deep it is.
    """
    (field, descending), value = keys[0], values[0]
    column = exact_text(field.column) if field.type.text else field.column
    strictly = column < value if descending else column > value
    if len(keys) == 1:
        return strictly
    at_least = column <= value if descending else column >= value
    return and_(at_least, or_(strictly, after(keys[1:], values[1:])))
