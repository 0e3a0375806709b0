"""What a resource declares once: each output field, as the SQL that renders it and its schema.

A `Resource` is an allowlist of what clients see (a new column is never exposed by accident).
From it come the labelled SELECT that lists and single reads both run, the representation of
one of its rows (which is also what an ETag digests), the JSON Schema of that representation,
and the response bodies the OpenAPI document describes. Writes change ORM objects and answer by
reading the row again through the same SELECT, so there is one output path per resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, select

TIMESTAMP_SCHEMA = {"type": "string", "format": "date-time", "examples": ["2026-11-21T19:05:00Z"],
                    "description": "ISO 8601 in UTC with a Z suffix"}
PUBLIC_ID_SCHEMA = {"type": "string", "format": "uuid",
                    "examples": ["e9572ee6-4b5e-45e4-a840-58a33b04b8a7"]}
STRING_SCHEMA = {"type": "string"}


def nullable(schema: dict) -> dict:
    """The same schema, also allowing null."""
    return {**schema, "type": [schema["type"], "null"]}


def object_schema(properties: dict, description: str = "") -> dict:
    """A closed object whose properties are all present."""
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    return {**schema, "description": description} if description else schema


def schema_ref(name: str) -> dict:
    """A `$ref` to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass(frozen=True)
class Body:
    """A JSON response body as the OpenAPI document names it, with every schema it refers to."""

    name: str  # its component schema
    schemas: Mapping[str, dict]  # name -> schema: itself and each component it refers to

    def wrapping(self, name: str, properties: dict, description: str = "") -> Body:
        """Another body, made of this one's schemas and a new object of `properties`."""
        return Body(name, {**self.schemas, name: object_schema(properties, description)})


@dataclass(frozen=True)
class Output:
    """One field of a representation: the SQL that renders it, JSON-ready, and its schema."""

    sql: ColumnElement
    schema: dict


@dataclass(frozen=True, eq=False)
class Resource:
    """A resource's representation, declared once."""

    name: str  # the schema's name in the OpenAPI document ("Template")
    key: str  # the key of one item in an answer ("template")
    plural: str  # the key of a list of them ("templates")
    description: str
    source: FromClause  # where the fields come from, joins included
    fields: Mapping[str, Output]  # in the order clients see them
    identity: tuple[str, ...]  # the fields that name an item, present whatever `fields=` says

    @cached_property
    def rows(self) -> Select:
        """SELECT of every field, labelled with its output name; rows are read as plain tuples."""
        return select(*(output.sql.label(name) for name, output in self.fields.items())) \
            .select_from(self.source)

    def item(self, row: Sequence[Any]) -> dict[str, Any]:
        """A row of `rows` as its representation (columns past the fields, e.g. keys, ignored)."""
        return dict(zip(self.fields, row))  # noqa: B905 - rows may carry extra trailing columns

    def loading(self, entity: Any) -> Select:
        """The ORM object to change with its current representation, in one statement.

        Rows are `(entity, *fields)`: `item(row[1:])` is what an `If-Match` is checked against.
        """
        return select(entity, *self.rows.selected_columns).select_from(self.source)

    @cached_property
    def schema(self) -> dict:
        """The JSON Schema of one representation."""
        return object_schema({name: output.schema for name, output in self.fields.items()},
                             self.description)

    @cached_property
    def item_schema(self) -> dict:
        """The JSON Schema of one item of a collection, which `fields=` may trim."""
        return {**self.schema, "required": list(self.identity),
                "description": f"{self.description} In collections `fields=` may select fewer "
                               f"properties; {', '.join(self.identity)} is always present."}

    def body(self, name: str, properties: dict, description: str = "") -> Body:
        """A response body of `properties`, which may refer to this resource's schemas."""
        return Body(self.name, {self.name: self.schema}).wrapping(name, properties, description)

    @cached_property
    def envelope(self) -> Body:
        """`{"template": {…}}`: a single read."""
        return self.body(f"{self.name}Envelope", {self.key: schema_ref(self.name)})

    @cached_property
    def message(self) -> Body:
        """`{"message": "…", "template": {…}}`: the answer to a write."""
        return self.body(f"{self.name}Message",
                         {"message": STRING_SCHEMA, self.key: schema_ref(self.name)})

    @cached_property
    def listing(self) -> Body:
        """`{"apps": [{…}, …]}`: every item, with no query language."""
        return self.body(f"{self.name}List", {self.plural: {"type": "array",
                                                            "items": schema_ref(self.name)}})

    @cached_property
    def page(self) -> Body:
        """`{"templates": [{…}], "meta": {…}}`: a collection, its items maybe sparse.

        `CollectionMeta` is one of the document's shared schemas (the query language's).
        """
        item = f"{self.name}Item"
        items = {"type": "array", "items": schema_ref(item)}
        return Body(item, {self.name: self.schema, item: self.item_schema}).wrapping(
            f"{self.name}List", {self.plural: items, "meta": schema_ref("CollectionMeta")})
