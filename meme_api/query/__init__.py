"""Collections (contract §5): the one place that turns query parameters into a page of results.

Routes declare a `Collection` and a `Scope` (which rows the caller may see); `respond` adds
filters, search, ordering, sparse fields and page or cursor pagination, runs a fixed number of
statements (a total and a page, or just a page in cursor mode), and renders `meta`, `Link` and
`X-Total-Count`. The rules are written down in docs/query-language.md.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote_plus, urlencode

from flask import Response, current_app, jsonify, request

from ..errors import ValidationError
from ..extensions import db
from .cursors import OrderKey, make_cursor, read_cursor
from .declarations import Collection, Field, Scope
from .parameters import PAGINATION_PARAMS, QueryRequest, parse_query
from .statements import Statements, after_parameter, order_keys, statements_for
from .values import BOOLEAN, INTEGER, PUBLIC_ID, TEXT, TIMESTAMP

__all__ = ["BOOLEAN", "INTEGER", "PUBLIC_ID", "TEXT", "TIMESTAMP", "Collection", "Field", "Scope",
           "respond"]


def respond(collection: Collection, scope: Scope, **params: Any) -> Response:
    """Filter, order and paginate the rows of `scope`; answer `{key: [...], "meta"}`.

    `params` are the values of the scope's bound parameters (the viewer).
    """
    config = current_app.config
    query = parse_query(collection, request.args, request.path,
                        default_limit=config["DEFAULT_PAGE_SIZE"],
                        max_limit=config["MAX_PAGE_SIZE"])
    keys = order_keys(collection, query.ordering)
    statements = statements_for(collection, scope, query, keys)
    if query.cursor is None:
        return page_response(collection, scope, query, statements, params)
    return cursor_response(collection, query, keys, statements, params)


def page_response(collection: Collection, scope: Scope, query: QueryRequest,
                  statements: Statements, params: dict[str, Any]) -> Response:
    """Page mode: the total (kept by the database when unfiltered) and one page by LIMIT/OFFSET."""
    total = None
    if scope.total is not None and not query.filters and query.search is None:
        total = scope.total(params)
    if total is None:
        total = db.session.scalar(statements.count, params)
    rows = db.session.execute(
        statements.page,
        {**params, "limit": query.limit, "offset": (query.page - 1) * query.limit},
    ).all()
    meta = page_meta(query.page, query.limit, total)
    response = collection_json(collection, query, rows, meta)
    response.headers["Link"] = link_header(meta)
    response.headers["X-Total-Count"] = str(total)
    return response


def cursor_response(collection: Collection, query: QueryRequest, keys: list[OrderKey],
                    statements: Statements, params: dict[str, Any]) -> Response:
    """Cursor mode: one keyset query for `limit + 1` rows (the extra row means more follow)."""
    secret = current_app.config["SECRET_KEY"]
    params = {**params, "limit": query.limit + 1}
    if query.cursor:
        try:
            values = read_cursor(query.cursor, query.ordering, query.signature, keys, secret)
        except ValueError as error:
            raise ValidationError({"cursor": str(error)},
                                  "The query parameters are not valid") from None
        params.update((after_parameter(i), value) for i, value in enumerate(values))
    rows = db.session.execute(statements.page, params).all()
    next_cursor = None
    if len(rows) > query.limit:
        last = tuple(rows[query.limit - 1][-len(keys):])
        next_cursor = make_cursor(query.ordering, query.signature, keys, last, secret)
    meta = {"per_page": query.limit, "next_cursor": next_cursor,
            "next": (link(links_base(query.limit), "cursor", next_cursor)
                     if next_cursor else None)}
    response = collection_json(collection, query, rows[:query.limit], meta)
    if meta["next"]:
        response.headers["Link"] = link_header(meta)
    return response


def collection_json(collection: Collection, query: QueryRequest, rows: list,
                    meta: dict) -> Response:
    """The body: each row serialized (only the selected fields, if `fields=` was given)."""
    item = collection.resource.item
    items = [item(row) for row in rows]
    if query.fields is not None:
        wanted = {*query.fields, *collection.always_fields}
        items = [{name: value for name, value in item.items() if name in wanted}
                 for item in items]
    return jsonify({collection.key: items, "meta": meta})


def links_base(limit: int) -> str:
    """The start of every link to another page: the path, each other query parameter, `limit`.

    Encoded once per response; each link only appends its position.
    """
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in PAGINATION_PARAMS]
    return request.path + "?" + urlencode([*kept, ("limit", limit)])


def link(base: str, name: str, value: int | str) -> str:
    """A relative link to another page (`page` or `cursor`), after `links_base`."""
    return f"{base}&{name}={quote_plus(str(value))}"


def page_meta(page: int, limit: int, total: int) -> dict:
    pages = max(1, math.ceil(total / limit))
    base = links_base(limit)
    return {
        "page": page,
        "pages": pages,
        "per_page": limit,
        "total": total,
        "first": link(base, "page", 1),
        "last": link(base, "page", pages),
        "prev": link(base, "page", min(page - 1, pages)) if page > 1 else None,
        "next": link(base, "page", page + 1) if page < pages else None,
    }


def link_header(meta: dict) -> str:
    """RFC 8288 `Link` with the pagination relations that exist."""
    return ", ".join(f'<{meta[rel]}>; rel="{rel}"'
                     for rel in ("first", "prev", "next", "last") if meta.get(rel))
