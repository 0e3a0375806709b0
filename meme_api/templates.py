"""Templates, the posts (contract §4): their representation, input shapes, and rules.

Who sees what, who may change what, and what an edit does to moderation live here; the views
in routes/template.py only parse, call these and answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Integer, Row, Select, bindparam, or_
from sqlalchemy.orm import raiseload

from .audit import record
from .auth import Caller
from .conditional import check_if_match
from .counts import template_total
from .errors import ApiError
from .extensions import db
from .models import Template, User
from .query import BOOLEAN, INTEGER, PUBLIC_ID, TEXT, TIMESTAMP, Collection, Scope
from .query import Field as QueryField
from .query.portable import iso_utc
from .resource import PUBLIC_ID_SCHEMA, TIMESTAMP_SCHEMA, Output, Resource, nullable
from .shapes import Field, Shape

MAX_ID = 2**31 - 1  # the largest id every backend's INTEGER holds
CONTENT_FIELDS = ("title", "url", "description")

# --- the representation --------------------------------------------------------------------------

T = Template.__table__.c
OWNER = User.__table__.alias("template_owner").c
TEMPLATE = Resource(
    name="Template", key="template", plural="templates",
    description="A template (a post); user_id and username are null once the owner is deleted.",
    source=Template.__table__.outerjoin(OWNER.id.table, T.owner_id == OWNER.id),
    fields={
        "id": Output(T.id, {"type": "integer", "examples": [27]}),
        "title": Output(T.title, {"type": "string", "examples": ["Test thing"]}),
        "url": Output(T.url, {"type": "string", "examples": ["https://i.imgur.com/yYGxFJX.jpeg"]}),
        "description": Output(T.description, nullable({"type": "string"})),
        "approved": Output(T.approved, {"type": "boolean"}),
        "posted": Output(iso_utc(T.posted), TIMESTAMP_SCHEMA),
        "updated": Output(iso_utc(T.updated), TIMESTAMP_SCHEMA),
        "user_id": Output(OWNER.public_id, {**nullable(PUBLIC_ID_SCHEMA),
                                            "description": "the owner's public_id"}),
        "username": Output(OWNER.username, {**nullable({"type": "string"}),
                                            "description": "the owner's username"}),
    },
    identity=("id",),
)

# --- input shapes ---------------------------------------------------------------------------------

TITLE = Field("string", required=True, min_length=1, max_length=200, not_blank=True)
URL = Field("string", required=True, max_length=2048, url=True,
            description="an absolute http or https URL")
DESCRIPTION = Field("string", nullable=True, max_length=2000)
APPROVED = Field("boolean", description="admins and moderators only; anyone else sending it "
                                        "gets 403")
READ_ONLY = ("id", "posted", "updated", "user_id", "username")
INPUT_FIELDS = {"title": TITLE, "url": URL, "description": DESCRIPTION, "approved": APPROVED}
TEMPLATE_CREATE = Shape("TemplateCreate", INPUT_FIELDS, read_only=READ_ONLY)
TEMPLATE_REPLACE = Shape("TemplateReplace", INPUT_FIELDS, read_only=READ_ONLY,
                         description="full replacement; an omitted description becomes null")
TEMPLATE_UPDATE = Shape("TemplateUpdate", INPUT_FIELDS, read_only=READ_ONLY, partial=True)

# --- the collection and who sees what -------------------------------------------------------------

FILTERS = {
    "id": QueryField(T.id, INTEGER),
    "title": QueryField(T.title, TEXT),
    "url": QueryField(T.url, TEXT),
    "description": QueryField(T.description, TEXT, nullable=True),
    "approved": QueryField(T.approved, BOOLEAN),
    "posted": QueryField(T.posted, TIMESTAMP),
    "updated": QueryField(T.updated, TIMESTAMP),
    "user": QueryField(OWNER.public_id, PUBLIC_ID, nullable=True),
    "user__username": QueryField(OWNER.username, TEXT, nullable=True),
    "user__public_id": QueryField(OWNER.public_id, PUBLIC_ID, nullable=True),
}
TEMPLATES = Collection(
    resource=TEMPLATE,
    filters=FILTERS,
    orderings={**{name: FILTERS[name] for name in ("id", "title", "posted", "updated", "approved")},
               "user__username": QueryField(OWNER.username_key, TEXT, nullable=True)},
    default_ordering=("id",),
    cursor_orderings=("id", "-id", "posted", "-posted"),
    tie_breaker=T.id,
    search=(T.title, T.description),
)
FEED = TEMPLATES.ordered_by("-posted")
# Who sees what (contract §4): admins and moderators every template; anyone else, and everyone
# in the feed, the approved ones and their own. Their unfiltered totals are counters the
# database keeps (counts.py), not COUNTs.
EVERY_TEMPLATE = Scope("every template", total=lambda params: template_total(None))
APPROVED_OR_OWN = Scope(
    "approved or own",
    or_(T.approved.is_(True), T.owner_id == bindparam("viewer", type_=Integer)),
    total=lambda params: template_total(params["viewer"]),
)


def visibility(caller: Caller) -> Scope:
    """Admins and moderators see every template; anyone else the approved ones and their own."""
    return EVERY_TEMPLATE if caller.moderates else APPROVED_OR_OWN


def where_visible(statement: Select, scope: Scope) -> Select:
    """`statement` narrowed to one visible template (bound: `template_id`, `viewer`)."""
    conditions = [T.id == bindparam("template_id", type_=Integer)]
    if scope.condition is not None:
        conditions.append(scope.condition)
    return statement.where(*conditions)


SCOPES = (EVERY_TEMPLATE, APPROVED_OR_OWN)
# One template as a row (what the single read answers), per scope; and as the ORM object a
# change loads, with its representation (what If-Match is checked against). The owner comes
# with the row, so the relationship's own join is not wanted.
READ_ONE = {scope.name: where_visible(TEMPLATE.rows, scope) for scope in SCOPES}
LOAD_ONE = {scope.name: where_visible(TEMPLATE.loading(Template), scope)
            .options(raiseload(Template.owner)) for scope in SCOPES}

# --- the rules ------------------------------------------------------------------------------------


def not_found() -> ApiError:
    return ApiError(404, "No post found")


def visible_row(statements: dict[str, Select], template_id: int, caller: Caller) -> Row | None:
    """The caller's statement of `statements` for one template id: its row, or None."""
    if template_id > MAX_ID:  # no backend's INTEGER holds it
        return None
    return db.session.execute(statements[visibility(caller).name],
                              {"template_id": template_id, "viewer": caller.id}).first()


def read_template(template_id: int, caller: Caller) -> dict:
    """A template's representation, if `caller` may see it (404 otherwise)."""
    row = visible_row(READ_ONE, template_id, caller)
    if row is None:
        raise not_found()
    return TEMPLATE.item(row)


def load_modifiable(template_id: int, caller: Caller,
                    fields: Iterable[str] | None = None) -> Template:
    """A visible template `caller` may change `fields` of (None: delete); 404, 403 or 412 else.

    Owners and admins change anything; a moderator deletes any template and sets `approved`
    alone on any (contract §4).
    """
    row = visible_row(LOAD_ONE, template_id, caller)
    if row is None:
        raise not_found()
    template = row[0]
    moderating = caller.moderates and (fields is None or set(fields) <= {"approved"})
    if not (caller.admin or moderating or template.owner_id == caller.id):
        raise ApiError(403)
    check_if_match(TEMPLATE.item(row[1:]))
    return template


def check_approval_rights(data: dict, caller: Caller) -> None:
    """Only an admin or a moderator may set `approved`."""
    if "approved" in data and not caller.moderates:
        raise ApiError(403, "Only an admin or a moderator may approve templates",
                       errors={"approved": "may only be set by an admin or a moderator"})


def post_template(data: dict, caller: Caller) -> int:
    """Insert and commit a template; an admin's or moderator's starts approved. Its id."""
    check_approval_rights(data, caller)
    template = Template(title=data["title"], url=data["url"],
                        description=data.get("description"),
                        approved=data.get("approved", caller.moderates), owner_id=caller.id)
    db.session.add(template)
    db.session.flush()
    template_id = template.id  # read before the commit expires it
    db.session.commit()
    return template_id


def change_template(template: Template, data: dict, caller: Caller) -> int:
    """Assign and commit the given fields; a non-admin's edit sends it back to moderation."""
    check_approval_rights(data, caller)
    changed = any(getattr(template, name) != data[name] for name in CONTENT_FIELDS if name in data)
    was_approved = template.approved
    for name in (*CONTENT_FIELDS, "approved"):
        if name in data:
            setattr(template, name, data[name])
    # A moderator's own `approved` in the same body stands: they may set it.
    if changed and not caller.admin and "approved" not in data:
        template.approved = False
    template_id = template.id
    if template.approved != was_approved:
        record("template.approved" if template.approved else "template.unapproved",
               "template", template_id, {"approved": template.approved})
    db.session.commit()
    return template_id


def delete_template(template: Template, caller: Caller) -> None:
    """Delete and commit; recorded when someone other than the owner deletes it."""
    if template.owner_id != caller.id:
        record("template.deleted", "template", template.id, {"title": template.title})
    db.session.delete(template)
    db.session.commit()


def read_changed(template_id: int) -> dict:
    """A template's representation just after the caller changed it (no visibility check)."""
    row = db.session.execute(READ_ONE[EVERY_TEMPLATE.name],
                             {"template_id": template_id, "viewer": None}).first()
    if row is None:  # deleted by another request since our commit
        raise not_found()
    return TEMPLATE.item(row)
