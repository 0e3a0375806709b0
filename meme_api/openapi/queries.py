"""Query parameters of a collection, generated from its `Collection` declaration (contract §5)."""

from __future__ import annotations

from ..query import BOOLEAN, INTEGER, PUBLIC_ID, TEXT, TIMESTAMP, Collection
from ..query.parameters import MAX_IN_VALUES, MAX_PAGE, MAX_VALUE_LENGTH
from ..query.values import INT32_MAX, INT32_MIN, ValueType

# The order operators are listed in; `eq` is also the bare field name.
OPERATOR_ORDER = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "is", "like", "ilike")
OPERATOR_PHRASES = {
    "eq": "equals", "ne": "differs from", "lt": "is less than", "lte": "is at most",
    "gt": "is greater than", "gte": "is at least", "in": "is one of (comma-separated)",
    "is": "is", "like": "matches the SQL pattern (% and _, case-sensitive)",
    "ilike": "matches the SQL pattern (% and _, case-insensitive)",
}
TEXT_VALUE = {"type": "string", "maxLength": MAX_VALUE_LENGTH}
# What each value type accepts in a query string (values are parsed by the field's type).
VALUE_SCHEMAS: dict[ValueType, dict] = {
    INTEGER: {"type": "integer", "minimum": INT32_MIN, "maximum": INT32_MAX},
    BOOLEAN: {"type": "string", "enum": ["true", "false", "1", "0"],
              "description": "any letter case"},
    TIMESTAMP: {"type": "string", "maxLength": 64, "examples": ["2026-11-21T19:05:00Z"],
                "description": "an ISO 8601 date or date-time; with an offset it is converted "
                               "to UTC, without one it is UTC"},
    TEXT: TEXT_VALUE,
    PUBLIC_ID: {"type": "string", "format": "uuid"},
}


def value_schema(value_type: ValueType, operator: str) -> dict:
    """The schema of one `field__operator` parameter."""
    if operator == "in":
        return {"type": "array", "items": VALUE_SCHEMAS[value_type], "minItems": 1,
                "maxItems": MAX_IN_VALUES}
    if operator == "is":
        return {"type": "string", "enum": list(value_type.is_words),
                "description": "any letter case"}
    if operator in ("like", "ilike"):
        return {**TEXT_VALUE, "description": "`%` any run, `_` one character, `\\` escapes"}
    return VALUE_SCHEMAS[value_type]


def query(name: str, schema: dict, description: str, *, explode: bool | None = None) -> dict:
    """An optional query parameter."""
    parameter = {"name": name, "in": "query", "required": False, "description": description,
                 "schema": schema}
    if explode is not None:
        parameter.update(style="form", explode=explode)
    return parameter


def name_list(names: list[str]) -> dict:
    """A comma-separated list of distinct names, as an array parameter."""
    return {"type": "array", "items": {"type": "string", "enum": names}, "minItems": 1,
            "uniqueItems": True}


def control_parameters(collection: Collection, default_limit: int, max_limit: int) -> list[dict]:
    """Pagination, ordering, fields and search."""
    count = {"type": "integer", "minimum": 1}
    orderings = [f"{sign}{name}" for name in collection.orderings for sign in ("", "-")]
    cursor_orderings = sorted({",".join(collection.default_ordering),
                               *collection.cursor_orderings})
    parameters = [
        # No default on `page` and `per_page`: a documentation page or a generated client sends
        # every default, and `page` excludes `cursor` as `per_page` excludes `limit` (400).
        query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
              "Page number (page mode), 1 when left out; a page past the end is empty. "
              "Excludes `cursor`: send one or the other, never both (400)."),
        query("limit", {**count, "default": default_limit},
              f"Items per page; values above {max_limit} (MAX_PAGE_SIZE) are clamped."),
        {**query("per_page", count,
                 "Deprecated alias of `limit`, kept for older clients; no default. Excludes "
                 "`limit`: send one or the other, never both (400)."), "deprecated": True},
        query("cursor", {**TEXT_VALUE, "examples": [""]},
              "Cursor mode: empty for the first page, then `meta.next_cursor`. Excludes "
              "`page`: send one or the other, never both (400). Works with the orderings "
              f"{', '.join(cursor_orderings)}; a tampered or stale cursor is 400."),
        query("ordering", name_list(orderings),
              "Comma-separated; `-` for descending. Default: "
              f"{','.join(collection.default_ordering)}.", explode=False),
        query("fields", name_list(list(collection.fields)),
              f"Only these fields (plus {', '.join(collection.always_fields)}).", explode=False),
    ]
    if collection.search:
        parameters.append(query("q", TEXT_VALUE, "Case-insensitive substring search."))
    return parameters


def filter_parameters(collection: Collection) -> list[dict]:
    """`field=value` and `field__op=value` for every field and each operator its type allows."""
    parameters = []
    for name, field in collection.filters.items():
        for operator in OPERATOR_ORDER:
            if operator not in field.type.operators:
                continue
            names = [name, f"{name}__eq"] if operator == "eq" else [f"{name}__{operator}"]
            for parameter_name in names:
                phrase = OPERATOR_PHRASES[operator]
                parameters.append(query(
                    parameter_name, value_schema(field.type, operator),
                    f"Only rows whose `{name}` {phrase} the value ({field.type.name}).",
                    explode=False if operator == "in" else None,
                ))
    return parameters


def collection_parameters(collection: Collection, default_limit: int,
                          max_limit: int) -> list[dict]:
    """Every query parameter the collection accepts; any other is 400."""
    return [*control_parameters(collection, default_limit, max_limit),
            *filter_parameters(collection)]
