"""Conditional requests (contract §6): strong ETags, 304 on If-None-Match, 412 on If-Match.

The ETag is a digest of the representation a client sees. An `If-Match` is compared with the row
as loaded; the `UPDATE`/`DELETE` then repeats the row's version in its `WHERE` (SQLAlchemy's
`version_id_col`), so a writer that lost a race finds no row and answers 412 — atomically, on
every worker and instance.
"""

from __future__ import annotations

import hashlib
import json

from flask import Response, jsonify, request

from .errors import ApiError


def etag_of(representation: dict) -> str:
    """A strong entity tag for a representation (quoted, as it goes in the header)."""
    canonical = json.dumps(representation, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def check_if_match(representation: dict) -> None:
    """412 unless `If-Match` is absent, `*`, or names the current ETag (strong comparison)."""
    if "If-Match" not in request.headers:
        return
    if_match = request.if_match
    if if_match.star_tag or if_match.contains(etag_of(representation).strip('"')):
        return
    raise ApiError(412, "The resource has changed since it was fetched (If-Match)")


def with_etag(body: dict, representation: dict) -> Response:
    """A JSON answer carrying the representation's ETag; 304 if the client has it already."""
    etag = etag_of(representation)
    if request.method in ("GET", "HEAD") and request.if_none_match.contains_weak(etag.strip('"')):
        response = Response(status=304)
    else:
        response = jsonify(body)
    response.headers["ETag"] = etag
    return response
