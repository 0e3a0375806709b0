"""What a route declares about its collection: its rows, filters, orderings, selectable fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from sqlalchemy import Select

from .values import INTEGER, ValueType


@dataclass(frozen=True)
class Field:
    """A column the query language may filter or order by, parsed and compared as `type`."""

    column: Any
    type: ValueType
    nullable: bool = False


@dataclass(frozen=True)
class Scope:
    """The rows a caller may see: a condition on bound parameters, and optionally a kept total.

    Scopes are declared once per route module; the values of their parameters (the viewer) come
    with each request, so the statements built for a scope can be reused across requests.
    """

    name: str  # identifies the scope among the statements kept for reuse
    condition: Any = None  # None: every row
    # The exact number of rows in the scope before any filter, without counting them (counters
    # the database keeps), given the request's parameters. None, or a None result, means count.
    total: Callable[[Mapping[str, Any]], int | None] | None = None


@dataclass(frozen=True, eq=False)
class Collection:
    """A resource's declaration; `respond(collection, scope)` does the rest."""

    key: str  # the list's name in the response body ("templates")
    # Core SELECT of every item's fields, labelled with their output names, joins included, each
    # as JSON-ready as the database can make it. Rows are read as plain tuples: no ORM objects
    # are built for a page.
    rows: Select
    filters: Mapping[str, Field]
    orderings: Mapping[str, Field]
    default_ordering: tuple[str, ...]
    tie_breaker: Any  # a unique, non-null integer column that ends every ordering
    always_fields: tuple[str, ...] = ()  # returned whatever `fields=` says
    search: tuple[Any, ...] = ()  # text columns `q` searches; none means no `q`
    cursor_orderings: tuple[str, ...] = ()  # keyset-paginable, besides the default ordering

    def __post_init__(self) -> None:
        for name in (*self.cursor_orderings, *self.default_ordering):
            if self.orderings[name.removeprefix("-")].nullable:
                raise ValueError(f"cursor ordering {name!r} must not be nullable")

    def ordered_by(self, *default_ordering: str) -> Collection:
        """The same collection with another default ordering (the feed: newest first)."""
        return replace(self, default_ordering=default_ordering)

    @cached_property
    def fields(self) -> tuple[str, ...]:
        """The output fields, in order: the labels of `rows`' columns (what `fields=` selects)."""
        return tuple(column.key for column in self.rows.selected_columns)

    @property
    def table(self) -> Any:
        """The collection's own table (the tie-breaker's), whose rows are the items."""
        return self.tie_breaker.table

    @cached_property
    def tie_breaker_field(self) -> Field:
        return Field(self.tie_breaker, INTEGER)

    def item(self, row: tuple) -> dict[str, Any]:
        """One row as its representation (columns past the fields, e.g. cursor keys, ignored)."""
        return dict(zip(self.fields, row))  # noqa: B905 - rows may carry extra trailing columns

    def allows_cursor(self, ordering: tuple[str, ...]) -> bool:
        """Keyset pagination needs non-null keys: the default or a declared cursor ordering."""
        return ordering == self.default_ordering or (
            len(ordering) == 1 and ordering[0] in self.cursor_orderings)
