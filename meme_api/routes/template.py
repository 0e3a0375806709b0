"""Templates, the posts (contract §4): posting, browsing, the feed, and moderation."""

from flask import Blueprint, jsonify
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import aliased

from ..auth import app_token, current_user, token_required
from ..bodies import accepts, lists, read_body
from ..conditional import check_if_match, with_etag
from ..errors import ApiError
from ..extensions import db
from ..models import Template, User
from ..query import BOOLEAN, INTEGER, PUBLIC_ID, TEXT, TIMESTAMP, Collection, Field, Join, respond
from ..representations import template_json
from ..schemas import TEMPLATE_CREATE, TEMPLATE_REPLACE, TEMPLATE_UPDATE
from . import created

bp = Blueprint("template", __name__)

CONTENT_FIELDS = ("title", "url", "description")
MAX_ID = 2**31 - 1  # the largest id every backend's INTEGER holds

OWNER = aliased(User, name="template_owner")
BY_OWNER = Join(OWNER, Template.owner_id == OWNER.id, fills=Template.owner)
TEMPLATE_FILTERS = {
    "id": Field(Template.id, INTEGER),
    "title": Field(Template.title, TEXT),
    "url": Field(Template.url, TEXT),
    "description": Field(Template.description, TEXT, nullable=True),
    "approved": Field(Template.approved, BOOLEAN),
    "posted": Field(Template.posted, TIMESTAMP),
    "updated": Field(Template.updated, TIMESTAMP),
    "user": Field(OWNER.public_id, PUBLIC_ID, BY_OWNER, nullable=True),
    "user__username": Field(OWNER.username, TEXT, BY_OWNER, nullable=True),
    "user__public_id": Field(OWNER.public_id, PUBLIC_ID, BY_OWNER, nullable=True),
}
TEMPLATES = Collection(
    key="templates",
    serialize=template_json,
    filters=TEMPLATE_FILTERS,
    orderings={**{name: TEMPLATE_FILTERS[name]
                  for name in ("id", "title", "posted", "updated", "approved")},
               "user__username": Field(OWNER.username_key, TEXT, BY_OWNER, nullable=True)},
    default_ordering=("id",),
    cursor_orderings=("id", "-id", "posted", "-posted"),
    tie_breaker=Template.id,
    fields=("id", "title", "url", "description", "approved", "posted", "updated", "user_id",
            "username"),
    always_fields=("id",),
    search=(Template.title, Template.description),
)
FEED = TEMPLATES.ordered_by("-posted")


def visible_templates(user: User) -> Select:
    """Admins see every template; anyone else the approved ones and their own."""
    statement = select(Template)
    if not user.admin:
        statement = statement.where(or_(Template.approved.is_(True), Template.owner_id == user.id))
    return statement


def feed_templates(user: User) -> Select:
    """The public feed: approved templates plus the caller's own, for admins too."""
    return select(Template).where(or_(Template.approved.is_(True), Template.owner_id == user.id))


def get_visible_or_404(template_id: int) -> Template:
    template = None
    if template_id <= MAX_ID:
        template = db.session.scalar(
            visible_templates(current_user()).where(Template.id == template_id)
        )
    if template is None:
        raise ApiError(404, "No post found")
    return template


def get_modifiable_or_404(template_id: int) -> Template:
    """A visible template the caller owns (or any, for an admin); 404, 403 or 412 otherwise."""
    template = get_visible_or_404(template_id)
    user = current_user()
    if not user.admin and template.owner_id != user.id:
        raise ApiError(403, "Cannot perform that function!")
    check_if_match(template_json(template))
    return template


def check_approval_rights(data: dict) -> None:
    if "approved" in data and not current_user().admin:
        raise ApiError(403, "Only an admin may approve templates",
                       errors={"approved": "may only be set by an admin"})


def apply_changes(template: Template, data: dict) -> None:
    """Assign the given fields; a non-admin's edit sends an approved template back to moderation."""
    user = current_user()
    changed = any(getattr(template, name) != data[name] for name in CONTENT_FIELDS if name in data)
    for name in (*CONTENT_FIELDS, "approved"):
        if name in data:
            setattr(template, name, data[name])
    if changed and not user.admin:
        template.approved = False


def saved(template: Template):
    """Commit an edit and answer with the new representation and its ETag."""
    db.session.commit()
    representation = template_json(template)
    return with_etag({"message": "Post Updated", "template": representation}, representation)


@bp.post("/template")
@app_token
@token_required
@accepts(TEMPLATE_CREATE)
def create():
    """Post a template; an admin's starts approved, anyone else's awaits moderation."""
    data = read_body()
    check_approval_rights(data)
    user = current_user()
    template = Template(title=data["title"], url=data["url"],
                        description=data.get("description"),
                        approved=data.get("approved", user.admin), owner=user)
    db.session.add(template)
    db.session.commit()
    return created({"message": "Post created", "template": template_json(template)},
                   f"/template/{template.id}")


@bp.get("/template")
@app_token
@token_required
@lists(TEMPLATES)
def list_templates():
    """The templates the caller may see, as a collection."""
    return respond(TEMPLATES, visible_templates(current_user()))


@bp.get("/")
@app_token
@token_required
@lists(FEED)
def feed():
    """The feed: approved templates and the caller's own, newest first."""
    return respond(FEED, feed_templates(current_user()))


@bp.get("/template/<int:template_id>")
@app_token
@token_required
def get_one(template_id: int):
    """One template, if the caller may see it."""
    representation = template_json(get_visible_or_404(template_id))
    return with_etag({"template": representation}, representation)


@bp.put("/template/<int:template_id>")
@app_token
@token_required
@accepts(TEMPLATE_REPLACE)
def replace(template_id: int):
    """Replace title, url and description (an omitted description becomes null)."""
    template = get_modifiable_or_404(template_id)
    data = read_body()
    check_approval_rights(data)
    apply_changes(template, {"description": None, **data})
    return saved(template)


@bp.patch("/template/<int:template_id>")
@app_token
@token_required
@accepts(TEMPLATE_UPDATE)
def update(template_id: int):
    """Change some of title, url, description (and, for admins, approved)."""
    template = get_modifiable_or_404(template_id)
    data = read_body()
    check_approval_rights(data)
    apply_changes(template, data)
    return saved(template)


@bp.delete("/template/<int:template_id>")
@app_token
@token_required
def delete(template_id: int):
    """Delete a template (owner or admin)."""
    db.session.delete(get_modifiable_or_404(template_id))
    db.session.commit()
    return jsonify({"message": "The post has been deleted"})
