"""A checked `QueryRequest` → SQLAlchemy Core: WHERE conditions, ORDER BY, LIMIT, keyset."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, FromClause, Select, bindparam, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.util import find_tables

from .cursors import OrderKey, after
from .declarations import Collection, Scope
from .parameters import Filter, QueryRequest
from .portable import ESCAPE, exact_text, ilike_match, like_match


def comparable(field) -> ColumnElement:
    """The field's column as compared and ordered: text by code point on every backend."""
    return exact_text(field.column) if field.type.text else field.column


def condition(item: Filter) -> ColumnElement[bool]:
    """The SQL for one filter."""
    column, value = comparable(item.field), item.value
    match item.operator:
        case "eq":
            return column == value
        case "ne":
            return column != value
        case "lt":
            return column < value
        case "lte":
            return column <= value
        case "gt":
            return column > value
        case "gte":
            return column >= value
        case "in":
            return column.in_(value)
        case "is":
            return item.field.column.is_({"null": None, "true": True, "false": False}[value])
        case "like":
            return like_match(item.field.column, value)
        case "ilike":
            return ilike_match(item.field.column, value)
    raise AssertionError(item.operator)


def literal_pattern(text: str) -> str:
    """A LIKE pattern that matches `text` literally."""
    for special in (ESCAPE, "%", "_"):
        text = text.replace(special, ESCAPE + special)
    return text


def search_condition(collection: Collection, text: str) -> ColumnElement[bool]:
    """`q`: a case-insensitive substring of any of the searched columns."""
    pattern = f"%{literal_pattern(text)}%"
    return or_(*(ilike_match(column, pattern) for column in collection.search))


def order_keys(collection: Collection, ordering: tuple[str, ...]) -> list[OrderKey]:
    """The ordering's fields and directions, ended by the tie-breaker unless it is among them."""
    keys = [(collection.orderings[name.removeprefix("-")], name.startswith("-"))
            for name in ordering]
    if not any(field.column is collection.tie_breaker for field, _ in keys):
        keys.append((collection.tie_breaker_field, bool(keys) and keys[0][1]))
    return keys


def order_by_clauses(keys: list[OrderKey]) -> list[ColumnElement]:
    """ORDER BY for the keys; NULL sorts after every value (first when descending)."""
    clauses = []
    for field, descending in keys:
        if field.nullable:
            is_null = field.column.is_(None)
            clauses.append(is_null.desc() if descending else is_null.asc())
        column = comparable(field)
        clauses.append(column.desc() if descending else column.asc())
    return clauses


@dataclass(frozen=True)
class Statements:
    """What one request shape runs: its page, and in page mode the count of its rows."""

    page: Select
    count: Select | None


# Statements for requests without filters or search, by shape; bounded so that odd orderings
# cannot grow it without end (past the bound, statements are built per request, as filtered ones).
_REUSED: dict[tuple, Statements] = {}
MAX_REUSED = 512
# BIGINT: the deepest page (1,000,000,000 × 100 rows) is far past a 32-bit offset.
LIMIT = bindparam("limit", type_=BigInteger)
OFFSET = bindparam("offset", type_=BigInteger)


def after_parameter(position: int) -> str:
    """The name of the bound parameter holding a cursor's key value at `position`."""
    return f"after_{position}"


def statements_for(collection: Collection, scope: Scope, query: QueryRequest,
                   keys: list[OrderKey]) -> Statements:
    """The statements of a request; reused when only bound values (viewer, page) differ.

    Building a statement and computing its cache key costs more than SQLite takes to run it, so
    requests without filters or search, which are most of them, share prebuilt statements.
    """
    if query.filters or query.search is not None:
        return build(collection, scope, query, keys)
    shape = (collection.key, collection.default_ordering, scope.name, query.ordering,
             query.cursor is None, bool(query.cursor))
    statements = _REUSED.get(shape)
    if statements is None:
        statements = build(collection, scope, query, keys)
        if len(_REUSED) < MAX_REUSED:
            _REUSED[shape] = statements
    return statements


def counted_from(collection: Collection, query: QueryRequest) -> FromClause:
    """What to count over: the collection's own table, unless a filter needs the joined ones.

    The joins only add fields to each row (outer joins, at most one row each), so they cannot
    change the count, but the database would still perform them for every row it counts.
    """
    if all(getattr(item.field.column, "table", None) is collection.table
           or find_tables(item.field.column, check_columns=True) == [collection.table]
           for item in query.filters):
        return collection.table
    return collection.rows.get_final_froms()[0]


def build(collection: Collection, scope: Scope, query: QueryRequest,
          keys: list[OrderKey]) -> Statements:
    """The visible rows narrowed by every filter (ANDed, after visibility) and by `q`.

    Values that vary per request without changing the shape (the viewer, limit, offset, a
    cursor's position) are bound parameters; filter values are part of the statement.
    """
    conditions = [] if scope.condition is None else [scope.condition]
    conditions += [condition(item) for item in query.filters]
    if query.search is not None:
        conditions.append(search_condition(collection, query.search))
    statement = collection.rows.where(*conditions) if conditions else collection.rows
    page = statement.order_by(*order_by_clauses(keys))
    if query.cursor is None:
        count = select(func.count()).select_from(counted_from(collection, query))
        return Statements(page.limit(LIMIT).offset(OFFSET), count.where(*conditions))
    if query.cursor:
        positions = [bindparam(after_parameter(i), type_=field.column.type)
                     for i, (field, _) in enumerate(keys)]
        page = page.where(after(keys, positions))
    # The keys ride along after the fields, to make the next cursor from the last row.
    return Statements(page.add_columns(*(field.column for field, _ in keys)).limit(LIMIT), None)
