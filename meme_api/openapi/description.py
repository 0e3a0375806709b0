"""The document's `info.description`: the rules every operation shares, and our readings."""

DESCRIPTION = """\
Users and their posts ("templates"), behind registered client applications. The full HTTP
contract is `docs/api.md` in the project's repository (the "§N" references below are its
sections); this document describes the same operations for tools and client generators.

**Credentials.** Every operation except the health checks and this documentation needs an
application token (`x-application-token`), unless the server runs with `REQUIRE_APP_TOKEN=false`
(this document then leaves it out). Most also need a user's access token, as `x-access-token` or
`Authorization: Bearer`; get one from `/login` with HTTP Basic (or a `username`/`password` body on
`POST /login`). Roles are read from the database on every request.

**Bodies** are JSON or form data (`application/x-www-form-urlencoded`, `multipart/form-data`),
validated by the same shape; in form data booleans are `true`/`false`/`1`/`0` and an empty
`description` is null. Unknown or read-only fields are 400 and nothing is assigned; so is
malformed JSON, JSON that is not an object, and malformed multipart data.

**Errors** are RFC 9457 problem documents (`application/problem+json`) with `type`, `title`,
`status`, `detail`, `message` (the same as `detail`) and, for invalid input, `errors` naming each
offending field or query parameter. Every error response is described by the one `Problem`
schema. Besides the statuses listed per operation, an unknown path is 404 and a method the path
does not offer is 405 with `Allow` (also `PUT /user/me`), both problem documents. A URL over 8,190
bytes is 414; request headers over the limits (a header line over 8,190 bytes, more than 100
fields, over 32,768 bytes in all) are 431 — problem documents too, never the HTTP server's page.

**Every response** carries `X-Request-ID`. `HEAD` works wherever `GET` does; CORS preflights
(`OPTIONS`, for origins in `CORS_ORIGINS`) need no tokens. Operations that take tokens are rate
limited when `RATELIMIT_ENABLED` (the default): they then carry `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset`, and 429 comes with `Retry-After`. While the
database is unreachable, operations that need it answer 503 with `Retry-After`.

**Collections** (`GET /user`, `GET /template`, `GET /`) take the query parameters listed on them
and no others (any other is 400): `page`/`limit` or `cursor`/`limit`, `ordering`, `fields`, `q`
(templates), and django-style filters `field=value` or `field__op=value`. A filter may be
repeated; the conditions are combined with AND. `page` and `cursor` exclude each other, and so do
`limit` and its deprecated alias `per_page`; neither `page` nor `per_page` has a default here, so
that a client sending every default sends a valid combination.

**Readings where the contract is silent or contradicts itself**

- `GET /readyz` answers 503 with its readiness object (contract §8), not a problem document
  (which §1 asks of every error): §8 is the more specific rule.
- `PUT /user/{public_id}` ignores its body (§3), but a body is still read under the rules of §1:
  malformed JSON is 400, another media type 415, an oversized one 413.
- With `fields=`, collection items hold only the selected properties (and `id` or `public_id`),
  so collection item schemas require only those.
- `POST /app` answers 201 without `Location`: there is no route that reads one application.
- A write without `If-Match` that loses a race with another writer of the same row answers 409
  (it may be retried); with `If-Match` the same race is 412.
- Boolean query values and the words of `__is` are accepted in any letter case.
- The documentation page's files are served under `/docs/`; like `/docs` and this document they
  need no tokens and are not rate limited.
- A `POST /login` body is validated even when HTTP Basic credentials are sent (which then win).
- The URL limit of §1 (8,190 bytes) counts the request target: the path and the query string.
"""
