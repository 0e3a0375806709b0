"""Input shapes: one declaration per request body, used to validate it and to describe it.

Each `Shape` turns a parsed JSON object or form into clean values (or a `ValidationError` naming
every offending field) and renders itself as JSON Schema for the OpenAPI document, so the two can
never disagree. Each resource module declares its own shapes with these (templates.py,
accounts.py, client_apps.py, sessions.py); output shapes are `resource.Resource`s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ValidationError

MISSING = object()
TRUE_WORDS = {"true": True, "1": True, "false": False, "0": False}
# TRUE_WORDS in any letter case, between any white space str.strip() removes.
FORM_BOOLEAN_PATTERN = (r"^[\s\x1c-\x1f\x85]*(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[01])"
                        r"[\s\x1c-\x1f\x85]*$")


def clean_text(value: str) -> str:
    """Refuse text no database stores faithfully: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


@dataclass(frozen=True)
class Field:
    """One field of a body: its type, limits and how it appears in the OpenAPI document."""

    kind: str  # "string" or "boolean"
    required: bool = False
    nullable: bool = False
    min_length: int | Callable[[], int] | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_hint: str = ""
    url: bool = False
    not_blank: bool = False
    write_only: bool = False
    description: str = ""
    choices: tuple[str, ...] = ()  # the only values a string may take, when given

    def _min_length(self) -> int | None:
        return self.min_length() if callable(self.min_length) else self.min_length

    def parse(self, value: Any, from_form: bool) -> Any:
        """The clean value, or ValueError with the reason it is refused."""
        if value is None or (from_form and value == "" and self.nullable):
            if self.nullable:
                return None
            raise ValueError("must not be null")
        if self.kind == "boolean":
            return self._parse_boolean(value, from_form)
        if not isinstance(value, str):
            raise ValueError("must be a string")
        value = clean_text(value)
        minimum = self._min_length()
        if minimum is not None and len(value) < minimum:
            raise ValueError(f"must be at least {minimum} characters long")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters long")
        if self.not_blank and not value.strip():
            raise ValueError("must not be blank")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ValueError(self.pattern_hint or "has an invalid format")
        if self.url:
            check_http_url(value)
        if self.choices and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}")
        return value

    @staticmethod
    def _parse_boolean(value: Any, from_form: bool) -> bool:
        if isinstance(value, bool):
            return value
        if from_form and isinstance(value, str) and value.strip().lower() in TRUE_WORDS:
            return TRUE_WORDS[value.strip().lower()]
        raise ValueError("must be true or false")

    def json_schema(self, form: bool = False) -> dict:
        """This field as JSON Schema; `form`: as a form value (booleans are words there)."""
        if form and self.kind == "boolean":
            return {"type": "string", "pattern": FORM_BOOLEAN_PATTERN,
                    "description": "true, false, 1 or 0 (any letter case)"}
        schema: dict[str, Any] = {"type": [self.kind, "null"] if self.nullable else self.kind}
        minimum = self._min_length()
        if minimum is not None:
            schema["minLength"] = minimum
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern:
            schema["pattern"] = f"^{self.pattern}$"
        if self.url:
            schema["format"] = "uri"
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.write_only:
            schema["writeOnly"] = True
        if self.description:
            schema["description"] = self.description
        return schema


def check_http_url(value: str) -> None:
    """An absolute http(s) URL with a host and no white space or control characters."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must be a URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError("must be an absolute http or https URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")


@dataclass(frozen=True)
class Shape:
    """A request body: its fields, the names it refuses as read-only, whether all are optional."""

    name: str
    fields: Mapping[str, Field]
    read_only: tuple[str, ...] = ()
    partial: bool = False
    description: str = ""

    def load(self, body: Mapping[str, Any], from_form: bool = False) -> dict[str, Any]:
        """Validate a body; return only the fields it carried (defaults are the caller's)."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name in body:
            if name in self.read_only:
                errors[name] = "is read-only"
            elif name not in self.fields:
                errors[name] = "is not a known field"
        for name, spec in self.fields.items():
            raw = body.get(name, MISSING)
            if raw is MISSING:
                if spec.required and not self.partial:
                    errors[name] = "is required"
                continue
            try:
                values[name] = spec.parse(raw, from_form)
            except ValueError as reason:
                errors[name] = str(reason)
        if errors:
            raise ValidationError(errors)
        return values

    def json_schema(self, form: bool = False) -> dict:
        """The body as JSON Schema; `form`: as form data."""
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: spec.json_schema(form) for name, spec in self.fields.items()},
            "additionalProperties": False,
        }
        required = [n for n, spec in self.fields.items() if spec.required and not self.partial]
        if required:
            schema["required"] = required
        if self.description:
            schema["description"] = self.description
        return schema
