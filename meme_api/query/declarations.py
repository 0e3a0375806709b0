"""What a resource declares for the query language: its filters, orderings, scopes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from sqlalchemy import Select

from ..resource import Resource
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
    """What the query language may do with a resource; `respond(collection, scope)` does it.

    The items are the resource's own rows (`Resource.rows`): a Core SELECT of every field,
    labelled with its output name, joins included, each as JSON-ready as the database can make
    it, read as plain tuples, so no ORM objects are built for a page.
    """

    resource: Resource
    filters: Mapping[str, Field]
    orderings: Mapping[str, Field]
    default_ordering: tuple[str, ...]
    tie_breaker: Any  # a unique, non-null column (an integer unless told) that ends every ordering
    search: tuple[Any, ...] = ()  # text columns `q` searches; none means no `q`
    cursor_orderings: tuple[str, ...] = ()  # keyset-paginable, besides the default ordering
    tie_breaker_type: ValueType = INTEGER  # how cursors carry it (TEXT for opaque string ids)

    @property
    def key(self) -> str:
        """The list's name in the response body ("templates")."""
        return self.resource.plural

    @property
    def rows(self) -> Select:
        return self.resource.rows

    @property
    def always_fields(self) -> tuple[str, ...]:
        """Returned whatever `fields=` says."""
        return self.resource.identity

    def __post_init__(self) -> None:
        for name in (*self.cursor_orderings, *self.default_ordering):
            if self.orderings[name.removeprefix("-")].nullable:
                raise ValueError(f"cursor ordering {name!r} must not be nullable")

    def ordered_by(self, *default_ordering: str) -> Collection:
        """The same collection with another default ordering (the feed: newest first)."""
        return replace(self, default_ordering=default_ordering)

    @property
    def fields(self) -> tuple[str, ...]:
        """The output fields, in order (what `fields=` selects)."""
        return tuple(self.resource.fields)

    @property
    def table(self) -> Any:
        """The collection's own table (the tie-breaker's), whose rows are the items."""
        return self.tie_breaker.table

    @cached_property
    def tie_breaker_field(self) -> Field:
        return Field(self.tie_breaker, self.tie_breaker_type)

    def allows_cursor(self, ordering: tuple[str, ...]) -> bool:
        """Keyset pagination needs non-null keys: the default or a declared cursor ordering."""
        return ordering == self.default_ordering or (
            len(ordering) == 1 and ordering[0] in self.cursor_orderings)
