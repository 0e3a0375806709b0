"""What a route declares about its collection: filters, joins, orderings, selectable fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import contains_eager

from .values import INTEGER, ValueType


@dataclass(frozen=True)
class Join:
    """An outer join to `target` (an aliased entity), filling `fills` (a relationship) if given."""

    target: Any
    onclause: Any
    fills: Any = None

    def load(self, statement: Select) -> Select:
        """Fill the relationship from this join instead of from an eager load's own join."""
        if self.fills is None:
            return statement
        return statement.options(contains_eager(self.fills.of_type(self.target)))


@dataclass(frozen=True)
class Field:
    """A column the query language may filter or order by, parsed and compared as `type`."""

    column: Any
    type: ValueType
    join: Join | None = None
    nullable: bool = False


@dataclass(frozen=True)
class Collection:
    """A resource's declaration; `respond(collection, statement)` does the rest."""

    key: str  # the list's name in the response body ("templates")
    serialize: Callable[[Any], dict]
    filters: Mapping[str, Field]
    orderings: Mapping[str, Field]
    default_ordering: tuple[str, ...]
    tie_breaker: Any  # a unique, non-null integer column that ends every ordering
    fields: tuple[str, ...]  # the names of `serialize`'s output that `fields=` may select
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

    @property
    def tie_breaker_field(self) -> Field:
        return Field(self.tie_breaker, INTEGER)

    def allows_cursor(self, ordering: tuple[str, ...]) -> bool:
        """Keyset pagination needs non-null keys: the default or a declared cursor ordering."""
        return ordering == self.default_ordering or (
            len(ordering) == 1 and ordering[0] in self.cursor_orderings)
