"""Opaque cursors for keyset pagination, and the WHERE clause that resumes after one.

A cursor carries the ordering, the signature of the filters and the last row's ordering-key
values. It is sealed with `cryptography`'s Fernet (AES-128-CBC with a random IV, then
HMAC-SHA256: encrypted and authenticated), under a key derived from SECRET_KEY with HKDF for
this one purpose. Encrypted, not just signed: the keys of the user list include the users'
internal ids, which no answer shows.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from .declarations import Field
from .portable import exact_text

MAX_CURSOR_LENGTH = 1024
PURPOSE = b"meme_api cursor"

OrderKey = tuple[Field, bool]  # a field and whether it is descending


class CursorError(ValueError):
    """The cursor was not made by this service (tampered, truncated, or another secret)."""


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    """The cursor cipher for this secret (derived once: HKDF is not free, cursors are hot)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(payload: dict, secret: str) -> str:
    """The payload as an opaque, URL-safe cursor."""
    plain = json.dumps(payload, separators=(",", ":")).encode()
    return _fernet(secret).encrypt(plain).decode().rstrip("=")


def unseal(cursor: str, secret: str) -> dict:
    """The payload of a cursor this service made; CursorError for anything else."""
    if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        raise CursorError
    try:
        plain = _fernet(secret).decrypt(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(plain)
    except (InvalidToken, ValueError):
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
