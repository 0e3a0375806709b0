"""Blueprints, one per resource."""

from flask import jsonify


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
