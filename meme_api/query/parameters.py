"""Query parameters → a checked `QueryRequest`, or one 400 naming every offending parameter."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from ..errors import ValidationError
from .declarations import Collection, Field
from .portable import like_tokens
from .values import OPERATORS

MAX_PAGE = 1_000_000_000
MAX_VALUE_LENGTH = 4096
MAX_IN_VALUES = 100
PAGINATION_PARAMS = ("page", "limit", "per_page", "cursor")
CONTROL_PARAMS = (*PAGINATION_PARAMS, "ordering", "fields", "q")
WHOLE_NUMBER = re.compile(r"([+-]?)([0-9]+)")


@dataclass(frozen=True)
class Filter:
    """One `field__op=value` condition, its value already parsed."""

    field: Field
    operator: str
    value: Any  # a tuple for `in`, a word for `is`, a LIKE pattern for `like`/`ilike`


@dataclass(frozen=True)
class QueryRequest:
    filters: tuple[Filter, ...]
    search: str | None
    ordering: tuple[str, ...]
    fields: tuple[str, ...] | None
    limit: int
    page: int
    cursor: str | None  # None in page mode; "" for the first page in cursor mode
    signature: str | None  # cursor mode: identifies the path, filters and search


class Problems(dict):
    """Reasons by parameter name; the first reason for a name wins."""

    def add(self, name: str, reason: str) -> None:
        self.setdefault(name, reason)


def clean_value(value: str) -> str | None:
    """Why a raw value can never be a valid one, or None when it may be."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    if len(value) > MAX_VALUE_LENGTH:
        return f"must be at most {MAX_VALUE_LENGTH} characters long"
    return None


def parse_count(raw: str, maximum: int | None = None) -> int:
    """A whole number ≥ 1 (and ≤ maximum); ValueError with the reason otherwise."""
    match = WHOLE_NUMBER.fullmatch(raw.strip())
    if not match:
        raise ValueError("must be a whole number")
    sign, digits = match.groups()
    digits = digits.lstrip("0") or "0"
    # Numbers too long for int() to parse cheaply are simply too large.
    value = int(sign + digits) if len(digits) <= 18 else int(sign + "1" + "0" * 18)
    if value < 1:
        raise ValueError("must be at least 1")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}")
    return value


def resolve_filter(collection: Collection, name: str) -> tuple[Field, str]:
    """The field and operator a parameter name means; ValueError when it means none."""
    if name in collection.filters:
        return collection.filters[name], "eq"
    base, _, operator = name.rpartition("__")
    if base not in collection.filters:
        raise ValueError("is not a known field or parameter")
    field = collection.filters[base]
    if operator not in OPERATORS:
        known = ", ".join(sorted(OPERATORS))
        raise ValueError(f"unknown operator {operator!r}; the operators are {known}")
    if operator not in field.type.operators:
        raise ValueError(f"operator {operator!r} does not apply to {field.type.name} fields")
    return field, operator


def parse_filter_value(field: Field, operator: str, raw: str) -> Any:
    """The parsed value of one condition; ValueError with the reason otherwise."""
    if operator == "in":
        items = raw.split(",")
        if len(items) > MAX_IN_VALUES:
            raise ValueError(f"must list at most {MAX_IN_VALUES} values")
        return tuple(field.type.parse(item) for item in items)
    if operator == "is":
        word = raw.lower()
        if word not in field.type.is_words:
            raise ValueError(f"must be {' or '.join(field.type.is_words)}")
        return word
    if operator in ("like", "ilike"):
        if like_tokens(raw) is None:
            raise ValueError("must not end with an unescaped backslash")
        return raw
    return field.type.parse(raw)


def parse_names(raw: str, allowed: Mapping | tuple, kind: str) -> tuple[str, ...]:
    """Comma-separated names, each allowed (after an optional `-` when `kind` is ordering)."""
    names = tuple(name.strip() for name in raw.split(","))
    if any(not name for name in names):
        raise ValueError(f"must be a comma-separated list of {kind} names")
    bases = [name.removeprefix("-") if kind == "ordering" else name for name in names]
    unknown = [name for name in bases if name not in allowed]
    if unknown:
        raise ValueError(f"unknown {kind} name(s): {', '.join(unknown)}; "
                         f"allowed: {', '.join(allowed)}")
    if len(set(bases)) != len(bases):
        raise ValueError(f"names a {kind} more than once")
    return names


def signature(path: str, conditions: list[tuple[str, str]]) -> str:
    """A short hash of what selects the rows, so a cursor cannot wander to other filters."""
    canonical = json.dumps([path, sorted(conditions)], ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def split_parameters(collection: Collection, args: MultiDict, problems: Problems,
                     ) -> tuple[dict[str, str], list[Filter], list[tuple[str, str]]]:
    """Control parameters (once each), parsed filters (repeatable), and the raw conditions."""
    single: dict[str, str] = {}
    filters: list[Filter] = []
    conditions: list[tuple[str, str]] = []
    for name, values in args.lists():
        reasons = [reason for reason in map(clean_value, values) if reason]
        if reasons:
            problems.add(name, reasons[0])
        elif name in CONTROL_PARAMS:
            if len(values) > 1:
                problems.add(name, "must be given at most once")
            single[name] = values[0]
        else:
            try:
                field, operator = resolve_filter(collection, name)
                filters += [Filter(field, operator, parse_filter_value(field, operator, value))
                            for value in values]
                conditions += [(name, value) for value in values]
            except ValueError as error:
                problems.add(name, str(error))
    return single, filters, conditions


def read_names(single: dict[str, str], name: str, allowed: Mapping | tuple, kind: str,
               problems: Problems) -> tuple[str, ...] | None:
    """`ordering` or `fields` when given and valid, else None."""
    if name not in single:
        return None
    try:
        return parse_names(single[name], allowed, kind)
    except ValueError as error:
        problems.add(name, str(error))
        return None


def read_pagination(single: dict[str, str], default_limit: int,
                    problems: Problems) -> tuple[int, int]:
    """`page` and `limit` (alias `per_page`, not both), defaulted and checked (not clamped)."""
    page, limit = 1, default_limit
    if "limit" in single and "per_page" in single:
        problems.add("per_page", "cannot be combined with limit (its alias)")
    limit_name = "per_page" if "per_page" in single else "limit"
    if "page" in single:
        try:
            page = parse_count(single["page"], MAX_PAGE)
        except ValueError as error:
            problems.add("page", str(error))
    if limit_name in single:
        try:
            limit = parse_count(single[limit_name])
        except ValueError as error:
            problems.add(limit_name, str(error))
    return page, limit


def check_cursor(collection: Collection, single: dict[str, str], ordering: tuple[str, ...],
                 problems: Problems) -> None:
    """Cursor mode takes no `page` and only the orderings keyset pagination supports."""
    if "cursor" not in single:
        return
    if "page" in single:
        problems.add("page", "cannot be combined with cursor")
    if not collection.allows_cursor(ordering) and "ordering" not in problems:
        allowed = sorted({*collection.cursor_orderings, ",".join(collection.default_ordering)})
        problems.add("ordering", f"cursor pagination supports only: {', '.join(allowed)}")


def parse_query(collection: Collection, args: MultiDict, path: str, *, default_limit: int,
                max_limit: int) -> QueryRequest:
    """Every parameter checked; one ValidationError naming each offending one."""
    problems = Problems()
    single, filters, conditions = split_parameters(collection, args, problems)
    search = single.get("q")
    if search is not None:
        conditions.append(("q", search))
        if not collection.search:
            problems.add("q", "search is not offered on this collection")
    ordering = (read_names(single, "ordering", collection.orderings, "ordering", problems)
                or collection.default_ordering)
    fields = read_names(single, "fields", collection.fields, "field", problems)
    page, limit = read_pagination(single, default_limit, problems)
    check_cursor(collection, single, ordering, problems)
    if problems:
        raise ValidationError(dict(problems), "The query parameters are not valid")
    return QueryRequest(tuple(filters), search, ordering, fields, min(limit, max_limit), page,
                        single.get("cursor"),
                        None if "cursor" not in single else signature(path, conditions))
