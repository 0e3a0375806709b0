"""A checked `QueryRequest` → SQLAlchemy: joins, WHERE conditions and ORDER BY."""

from __future__ import annotations

from sqlalchemy import Select, or_
from sqlalchemy.sql.elements import ColumnElement

from .cursors import OrderKey
from .declarations import Collection, Join
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


def joins_needed(query: QueryRequest, keys: list[OrderKey]) -> list[Join]:
    """The joins the filters and ordering use, each once, in a stable order."""
    fields = [item.field for item in query.filters] + [field for field, _ in keys]
    joins: list[Join] = []
    for field in fields:
        if field.join is not None and field.join not in joins:
            joins.append(field.join)
    return joins


def filtered(collection: Collection, visible: Select, query: QueryRequest,
             joins: list[Join]) -> Select:
    """The visible rows narrowed by every filter (ANDed, after visibility) and by `q`."""
    statement = visible
    for join in joins:
        statement = statement.outerjoin(join.target, join.onclause)
    conditions = [condition(item) for item in query.filters]
    if query.search is not None:
        conditions.append(search_condition(collection, query.search))
    return statement.where(*conditions) if conditions else statement
