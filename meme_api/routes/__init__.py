"""Blueprints, one per resource."""

from flask import jsonify
from werkzeug.routing import BaseConverter

# Fixed segments beside `/user/<public_id>`: they never match the parameter, so that a method
# they do not offer is 405 with `Allow` (contract §1: `PUT /user/me`), not a 404 for user "me".
# The regex, not `to_python`, excludes them: a rule refused after matching would add its
# methods to `Allow`. Werkzeug anchors each segment's pattern with \Z.
FIXED_USER_SEGMENTS = ("me",)


class PublicIdConverter(BaseConverter):
    """A user's public id in a path: any segment but the fixed ones."""

    regex = "".join(rf"(?!{segment}\Z)" for segment in FIXED_USER_SEGMENTS) + "[^/]+"


def no_store(response):
    """Mark a response carrying credentials as never to be cached."""
    response.headers["Cache-Control"] = "no-store"
    return response


def created(body: dict, location: str):
    """A 201 with a `Location` header."""
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response
