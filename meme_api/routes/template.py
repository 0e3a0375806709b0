"""Templates, the posts (contract §4): posting, browsing, the feed, and moderation."""

from flask import Blueprint, jsonify
from sqlalchemy import Select, or_, select

from ..auth import app_token, current_user, token_required
from ..bodies import read_body
from ..errors import ApiError
from ..extensions import db
from ..models import Template, User
from ..query import Collection, respond
from ..representations import template_json
from ..schemas import TEMPLATE_CREATE, TEMPLATE_REPLACE, TEMPLATE_UPDATE
from . import created

bp = Blueprint("template", __name__)

CONTENT_FIELDS = ("title", "url", "description")
MAX_ID = 2**31 - 1  # the largest id every backend's INTEGER holds

TEMPLATES = Collection(
    key="templates",
    serialize=template_json,
    orderings={"id": Template.id, "title": Template.title, "posted": Template.posted,
               "updated": Template.updated, "approved": Template.approved},
    default_ordering=("id",),
    tie_breaker=Template.id,
)
FEED = Collection(
    key="templates",
    serialize=template_json,
    orderings=TEMPLATES.orderings,
    default_ordering=("-posted",),
    tie_breaker=Template.id,
)


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
    """A visible template the caller owns (or any, for an admin); 404 or 403 otherwise."""
    template = get_visible_or_404(template_id)
    user = current_user()
    if not user.admin and template.owner_id != user.id:
        raise ApiError(403, "Cannot perform that function!")
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


@bp.post("/template")
@app_token
@token_required
def create():
    """Post a template; an admin's starts approved, anyone else's awaits moderation."""
    data = read_body(TEMPLATE_CREATE)
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
def list_templates():
    """The templates the caller may see, as a collection."""
    return respond(TEMPLATES, visible_templates(current_user()))


@bp.get("/")
@app_token
@token_required
def feed():
    """The feed: approved templates and the caller's own, newest first."""
    return respond(FEED, feed_templates(current_user()))


@bp.get("/template/<int:template_id>")
@app_token
@token_required
def get_one(template_id: int):
    """One template, if the caller may see it."""
    return jsonify({"template": template_json(get_visible_or_404(template_id))})


@bp.put("/template/<int:template_id>")
@app_token
@token_required
def replace(template_id: int):
    """Replace title, url and description (an omitted description becomes null)."""
    template = get_modifiable_or_404(template_id)
    data = read_body(TEMPLATE_REPLACE)
    check_approval_rights(data)
    apply_changes(template, {"description": None, **data})
    db.session.commit()
    return jsonify({"message": "Post Updated", "template": template_json(template)})


@bp.patch("/template/<int:template_id>")
@app_token
@token_required
def update(template_id: int):
    """Change some of title, url, description (and, for admins, approved)."""
    template = get_modifiable_or_404(template_id)
    data = read_body(TEMPLATE_UPDATE)
    check_approval_rights(data)
    apply_changes(template, data)
    db.session.commit()
    return jsonify({"message": "Post Updated", "template": template_json(template)})


@bp.delete("/template/<int:template_id>")
@app_token
@token_required
def delete(template_id: int):
    """Delete a template (owner or admin)."""
    db.session.delete(get_modifiable_or_404(template_id))
    db.session.commit()
    return jsonify({"message": "The post has been deleted"})
