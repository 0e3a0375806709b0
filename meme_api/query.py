"""Collections (contract §5): the one place that turns query parameters into a page of results.

Routes declare a `Collection` and hand over a statement that already applies visibility; this
module adds ordering and pagination, runs a fixed number of statements (a count and a page), and
renders `meta`, `Link` and `X-Total-Count`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import current_app, jsonify, request
from sqlalchemy import Select, func
from sqlalchemy.sql.elements import ColumnElement

from .errors import ValidationError
from .extensions import db

MAX_PAGE = 1_000_000_000
PAGINATION_PARAMS = ("page", "limit", "per_page")


@dataclass(frozen=True)
class Collection:
    """What a resource offers to the query language."""

    key: str  # the list's name in the response body ("templates")
    serialize: Callable[[Any], dict]
    orderings: Mapping[str, ColumnElement]
    default_ordering: tuple[str, ...]
    tie_breaker: ColumnElement


@dataclass(frozen=True)
class PageRequest:
    page: int
    limit: int


def _positive_int(name: str, raw: str, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValidationError({name: "must be a whole number"}) from None
    if value < 1:
        raise ValidationError({name: "must be at least 1"})
    if maximum is not None and value > maximum:
        raise ValidationError({name: f"must be at most {maximum}"})
    return value


def parse_page_request(args: Mapping[str, str]) -> PageRequest:
    """`page` and `limit` (alias `per_page`), defaulted, clamped and checked."""
    config = current_app.config
    page = _positive_int("page", args["page"], MAX_PAGE) if "page" in args else 1
    name = "limit" if "limit" in args else "per_page"
    limit = _positive_int(name, args[name]) if name in args else config["DEFAULT_PAGE_SIZE"]
    return PageRequest(page, min(limit, config["MAX_PAGE_SIZE"]))


def order_by_clauses(collection: Collection, names: tuple[str, ...]) -> list[ColumnElement]:
    """ORDER BY for the given names (`-` for descending), ended by the tie-breaker."""
    clauses = []
    for name in names:
        column = collection.orderings[name.lstrip("-")]
        clauses.append(column.desc() if name.startswith("-") else column.asc())
    first_descending = bool(names) and names[0].startswith("-")
    clauses.append(collection.tie_breaker.desc() if first_descending
                   else collection.tie_breaker.asc())
    return clauses


def page_link(page: int, limit: int) -> str:
    """A relative link to another page that keeps every other query parameter."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in PAGINATION_PARAMS]
    return request.path + "?" + urlencode([*kept, ("limit", limit), ("page", page)])


def page_meta(page: int, limit: int, total: int) -> dict:
    pages = max(1, math.ceil(total / limit))
    return {
        "page": page,
        "pages": pages,
        "per_page": limit,
        "total": total,
        "first": page_link(1, limit),
        "last": page_link(pages, limit),
        "prev": page_link(min(page - 1, pages), limit) if page > 1 else None,
        "next": page_link(page + 1, limit) if page < pages else None,
    }


def link_header(meta: dict) -> str:
    """RFC 8288 `Link` with the pagination relations that exist."""
    return ", ".join(f'<{meta[rel]}>; rel="{rel}"'
                     for rel in ("first", "prev", "next", "last") if meta.get(rel))


def respond(collection: Collection, visible: Select):
    """Order and paginate a statement of visible rows; answer `{key: [...], "meta": {...}}`."""
    page_request = parse_page_request(request.args)
    total = db.session.scalar(
        visible.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    )
    rows = db.session.scalars(
        visible.order_by(*order_by_clauses(collection, collection.default_ordering))
        .limit(page_request.limit)
        .offset((page_request.page - 1) * page_request.limit)
    ).unique().all()
    meta = page_meta(page_request.page, page_request.limit, total)
    response = jsonify({collection.key: [collection.serialize(row) for row in rows],
                        "meta": meta})
    response.headers["Link"] = link_header(meta)
    response.headers["X-Total-Count"] = str(total)
    return response
