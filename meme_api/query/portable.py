"""SQL that behaves the same on SQLite, PostgreSQL and MariaDB/MySQL.

- `exact_text(column)` compares and orders text by code point, with no padding: PostgreSQL's
  database collation may be locale-aware, and MariaDB's `utf8mb4_bin` ignores trailing spaces.
- `iso_utc(column)` renders a stored (naive UTC) timestamp as the API shows it,
  `2026-11-21T19:05:00Z`, in the database: lists then neither parse nor format timestamps in Python.
- `like_match(column, pattern)` and `ilike_match(column, pattern)` are SQL LIKE with `%`, `_`
  and `\\` as the escape character, case-sensitive and case-insensitive. SQLite's own LIKE
  ignores ASCII case, so there a small Python function registered on each connection matches.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache

from sqlalchemy import Boolean, Engine, String, event, func, literal, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

ESCAPE = "\\"
ANY_ONE = object()
ANY_RUN = object()
SQLITE_LIKE_FUNCTION = "meme_api_like"


# Lower-case class names, as SQLAlchemy names its SQL function constructs.
class exact_text(FunctionElement):
    """A text column compared and ordered by code point, with trailing spaces significant."""

    inherit_cache = True

    def __init__(self, column):
        super().__init__(column)
        self.type = column.type


@compiles(exact_text)
def _exact_text_default(element, compiler, **kw) -> str:
    # SQLite's default BINARY collation already compares UTF-8 bytes, i.e. code points.
    return compiler.process(element.clauses, **kw)


@compiles(exact_text, "postgresql")
def _exact_text_postgresql(element, compiler, **kw) -> str:
    return f'({compiler.process(element.clauses, **kw)} COLLATE "C")'


@compiles(exact_text, "mysql")
@compiles(exact_text, "mariadb")
def _exact_text_mysql(element, compiler, **kw) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS BINARY)"


class iso_utc(FunctionElement):
    """A timestamp column as ISO 8601 text to the second with a `Z` (what clients see).

    Stored timestamps are naive UTC, kept to the second (`models.utcnow`).
    """

    inherit_cache = True
    type = String()


def _formatted(compiler, function, column, pattern: str, **kw) -> str:
    # A literal column, so that dialects whose parameters are `%s` escape the pattern's `%`.
    return compiler.process(function(column, literal_column(f"'{pattern}'")), **kw)


@compiles(iso_utc)
def _iso_utc_sqlite(element, compiler, **kw) -> str:
    column = element.clauses.clauses[0]
    return compiler.process(func.strftime(literal_column("'%Y-%m-%dT%H:%M:%SZ'"), column), **kw)


@compiles(iso_utc, "postgresql")
def _iso_utc_postgresql(element, compiler, **kw) -> str:
    return _formatted(compiler, func.to_char, element.clauses.clauses[0],
                      'YYYY-MM-DD"T"HH24:MI:SS"Z"', **kw)


@compiles(iso_utc, "mysql")
@compiles(iso_utc, "mariadb")
def _iso_utc_mysql(element, compiler, **kw) -> str:
    return _formatted(compiler, func.date_format, element.clauses.clauses[0],
                      "%Y-%m-%dT%H:%i:%sZ", **kw)


class like_match(FunctionElement):
    """`column LIKE pattern ESCAPE '\\'`: case-sensitive here, case-insensitive in `ilike_match`."""

    inherit_cache = True
    type = Boolean()
    fold_case = False

    def __init__(self, column, pattern: str):
        super().__init__(column, literal(pattern))


class ilike_match(like_match):
    """`lower(column) LIKE lower(pattern) ESCAPE '\\'`."""

    inherit_cache = True
    fold_case = True


def _operands(element, compiler, **kw) -> tuple[str, str]:
    column, pattern = element.clauses.clauses
    if element.fold_case:
        return (f"lower({compiler.process(column, **kw)})",
                f"lower({compiler.process(pattern, **kw)})")
    return compiler.process(column, **kw), compiler.process(pattern, **kw)


@compiles(like_match)
def _like_default(element, compiler, **kw) -> str:
    column, pattern = _operands(element, compiler, **kw)
    return f"({column} LIKE {pattern} ESCAPE '\\')"


@compiles(like_match, "mysql")
@compiles(like_match, "mariadb")
def _like_mysql(element, compiler, **kw) -> str:
    # The tables use utf8mb4_bin: LIKE on the column is case-sensitive and `_` is one character.
    # MySQL string literals treat the backslash as an escape, hence it is doubled.
    column, pattern = _operands(element, compiler, **kw)
    return f"({column} LIKE {pattern} ESCAPE '\\\\')"


@compiles(like_match, "sqlite")
def _like_sqlite(element, compiler, **kw) -> str:
    column, pattern = element.clauses.clauses
    return (f"{SQLITE_LIKE_FUNCTION}({compiler.process(column, **kw)}, "
            f"{compiler.process(pattern, **kw)}, {int(element.fold_case)})")


def like_tokens(pattern: str) -> tuple | None:
    """A LIKE pattern as literal characters, ANY_ONE and ANY_RUN; None when it ends in `\\`."""
    tokens: list = []
    characters = iter(pattern)
    for character in characters:
        if character == ESCAPE:
            escaped = next(characters, None)
            if escaped is None:
                return None
            tokens.append(escaped)
        elif character == "%":
            if not tokens or tokens[-1] is not ANY_RUN:
                tokens.append(ANY_RUN)
        elif character == "_":
            tokens.append(ANY_ONE)
        else:
            tokens.append(character)
    return tuple(tokens)


def like_matches(text: str, tokens: tuple) -> bool:
    """Wildcard matching with one backtracking point: O(len(text) * len(tokens)), no regex."""
    t = p = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(tokens) and tokens[p] is not ANY_RUN and (
                tokens[p] is ANY_ONE or tokens[p] == text[t]):
            t, p = t + 1, p + 1
        elif p < len(tokens) and tokens[p] is ANY_RUN:
            star, mark, p = p, t, p + 1
        elif star >= 0:
            mark += 1
            t, p = mark, star + 1
        else:
            return False
    while p < len(tokens) and tokens[p] is ANY_RUN:
        p += 1
    return p == len(tokens)


@lru_cache(maxsize=256)
def _cached_tokens(pattern: str) -> tuple | None:
    return like_tokens(pattern)


def sqlite_like(value: str | None, pattern: str | None, fold_case: int) -> int | None:
    """The SQLite implementation of `like_match` (NULL in, NULL out, like SQL's LIKE)."""
    if value is None or pattern is None:
        return None
    if fold_case:
        value, pattern = value.lower(), pattern.lower()
    tokens = _cached_tokens(pattern)
    return int(tokens is not None and like_matches(value, tokens))


@event.listens_for(Engine, "connect")
def _register_sqlite_like(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function(SQLITE_LIKE_FUNCTION, 3, sqlite_like, deterministic=True)
