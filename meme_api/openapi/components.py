"""Reusable parts of the OpenAPI document: schemas, responses, headers, security schemes."""

from __future__ import annotations

from ..resource import nullable, object_schema


def ref(kind: str, name: str) -> dict:
    """A `$ref` to `#/components/<kind>/<name>`."""
    return {"$ref": f"#/components/{kind}/{name}"}


LINK = {"type": "string", "format": "uri-reference", "examples": ["/template?limit=20&page=2"]}
PAGE_META = object_schema({
    "page": {"type": "integer", "minimum": 1},
    "pages": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1},
    "total": {"type": "integer", "minimum": 0},
    "first": LINK,
    "last": LINK,
    "prev": nullable(LINK),
    "next": nullable(LINK),
}, "Page mode (the default). Links are relative and keep the other query parameters.")
CURSOR_META = object_schema({
    "per_page": {"type": "integer", "minimum": 1},
    "next_cursor": {**nullable({"type": "string"}),
                    "description": "opaque; pass it as `cursor` for the next page"},
    "next": nullable(LINK),
}, "Cursor mode (`cursor` was given): no total.")

PROBLEM = {
    "type": "object",
    "description": "An RFC 9457 problem document (media type application/problem+json). "
                   "`message` repeats `detail`: it is what the original clients read.",
    "properties": {
        "type": {"type": "string", "format": "uri-reference", "examples": ["about:blank"]},
        "title": {"type": "string", "examples": ["Not Found"]},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "message": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "validation errors: each offending field or query parameter "
                                  "and the reason"},
    },
    "required": ["type", "title", "status", "detail", "message"],
    "additionalProperties": False,
}
# The schemas every document has; each view's bodies bring their own (`@response`).
SCHEMAS = {
    "Problem": PROBLEM,
    "PageMeta": PAGE_META,
    "CursorMeta": CURSOR_META,
    "CollectionMeta": {"oneOf": [ref("schemas", "PageMeta"), ref("schemas", "CursorMeta")]},
}

INTEGER_HEADER = {"schema": {"type": "integer", "minimum": 0}}
HEADERS = {
    "X-Request-ID": {"required": True, "schema": {"type": "string",
                                                  "pattern": "^[A-Za-z0-9._-]{1,128}$"},
                     "description": "the request's X-Request-ID when it was sane, else a new one"},
    "X-RateLimit-Limit": {**INTEGER_HEADER, "description": "requests allowed in the window "
                                                           "(when RATELIMIT_ENABLED)"},
    "X-RateLimit-Remaining": {**INTEGER_HEADER, "description": "requests left in the window"},
    "X-RateLimit-Reset": {**INTEGER_HEADER, "description": "when the window resets (Unix time)"},
    "Retry-After": {**INTEGER_HEADER, "description": "seconds to wait before trying again"},
    "ETag": {"schema": {"type": "string"},
             "description": "strong entity tag of the representation"},
    "Location": {"required": True, "schema": {"type": "string", "format": "uri-reference"},
                 "description": "where the new resource is"},
    "Link": {"schema": {"type": "string"},
             "description": "RFC 8288 links: first, prev, next, last (the ones that exist)"},
    "X-Total-Count": {**INTEGER_HEADER, "description": "total matching rows (page mode only)"},
    "Cache-Control": {"schema": {"type": "string", "const": "no-store"},
                      "description": "answers carrying credentials must not be stored"},
    "Idempotent-Replayed": {"schema": {"type": "string", "const": "true"},
                            "description": "this is the kept answer of an earlier request with "
                                           "the same Idempotency-Key; nothing changed"},
    "WWW-Authenticate": {"schema": {"type": "string"},
                         "description": 'Bearer realm="meme_api" for user tokens, '
                                        'Basic realm="Login Required" for /login'},
}
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

# Each error status: its response's name, and why it happens whatever the route.
ERROR_NAMES = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
    412: "PreconditionFailed", 413: "ContentTooLarge", 414: "UriTooLong",
    415: "UnsupportedMediaType", 422: "UnprocessableContent", 429: "TooManyRequests",
    431: "RequestHeaderFieldsTooLarge",
    503: "ServiceUnavailable",
}
ERROR_REASONS = {
    400: "The input is not valid: `errors` names each offending field or query parameter. "
         "Also malformed JSON, or JSON that is not an object.",
    401: "A credential is missing or not valid (see the security requirements).",
    403: "The caller may not do this.",
    404: "Not found, or not visible to the caller.",
    409: "The request conflicts with the current state of the resource.",
    412: "If-Match does not match the current ETag; nothing changed.",
    413: "The body is larger than MAX_CONTENT_LENGTH.",
    414: "The URL (path and query) is longer than 8,190 bytes.",
    415: "The body is neither JSON nor form data.",
    422: "The Idempotency-Key was used before with another method, path or body.",
    429: "Over the rate limit (RATELIMIT_DEFAULT, or RATELIMIT_LOGIN on /login).",
    431: "The request headers are too large: a header line over 8,190 bytes, more than 100 "
         "header fields, or over 32,768 bytes in all.",
    503: "The database is unreachable; the service recovers by itself.",
}
ERROR_HEADERS = {
    401: ("WWW-Authenticate",),
    429: ("Retry-After", *RATE_LIMIT_HEADERS),
    503: ("Retry-After",),
}


def header_refs(names) -> dict:
    """Header objects for a response, X-Request-ID always among them."""
    return {name: ref("headers", name) for name in ("X-Request-ID", *names)}


# Every error response has this one content, a plain reference to `Problem`: client generators
# turn it into one type (an `allOf` that pins `status` per response is what they cannot merge).
PROBLEM_CONTENT = {"application/problem+json": {"schema": ref("schemas", "Problem")}}


RESPONSES = {
    ERROR_NAMES[status]: {
        "description": reason,
        "headers": header_refs(ERROR_HEADERS.get(status, ())),
        "content": PROBLEM_CONTENT,
    }
    for status, reason in ERROR_REASONS.items()
}
RESPONSES["NotModified"] = {
    "description": "If-None-Match names the current ETag: no body.",
    "headers": header_refs(("ETag",)),
}

SECURITY_SCHEMES = {
    "appToken": {"type": "apiKey", "in": "header", "name": "x-application-token",
                 "description": "A registered client application's token (`mapp_…`), issued "
                                "by `flask --app meme_api apps register NAME` or POST /app. "
                                "Not needed when the server runs with REQUIRE_APP_TOKEN=false."},
    "accessToken": {"type": "apiKey", "in": "header", "name": "x-access-token",
                    "description": "A user's access token (JWT) from /login."},
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "The same access token as `Authorization: Bearer <jwt>`."},
    "basicAuth": {"type": "http", "scheme": "basic",
                  "description": "Username and password, on /login only."},
}

PARAMETERS = {
    "X-Request-ID": {
        "name": "X-Request-ID", "in": "header", "required": False,
        "description": "Echoed back when it is 1-128 of [A-Za-z0-9._-]; otherwise the answer "
                       "carries a new one.",
        "schema": {"type": "string"},
    },
    "If-None-Match": {
        "name": "If-None-Match", "in": "header", "required": False,
        "description": "An ETag from an earlier answer: 304 with no body while it is current.",
        "schema": {"type": "string"},
    },
    "Idempotency-Key": {
        "name": "Idempotency-Key", "in": "header", "required": False,
        "description": "1-255 visible ASCII characters. A retry with the same key, path and "
                       "body gets the first success again (`Idempotent-Replayed: true`) for "
                       "IDEMPOTENCY_TTL seconds; the same key with another body is 422, and "
                       "while the first is in progress 409. Failures keep nothing.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                   "pattern": "^[!-~]+$"},
    },
    "If-Match": {
        "name": "If-Match", "in": "header", "required": False,
        "description": "Change only if the resource still has this ETag (`*`: if it exists); "
                       "412 otherwise.",
        "schema": {"type": "string"},
    },
}


def components(schemas: dict) -> dict:
    """The document's `components`, with the schemas the views' bodies brought."""
    return {"schemas": {**SCHEMAS, **schemas}, "responses": RESPONSES, "headers": HEADERS,
            "parameters": PARAMETERS, "securitySchemes": SECURITY_SCHEMES}
