"""Templates, the posts (contract §4): posting, browsing, the feed, and moderation."""

from flask import Blueprint, jsonify
from sqlalchemy import Integer, Result, Select, bindparam, or_, select

from ..auth import Caller, app_token, current_user, token_required
from ..bodies import accepts, lists, read_body
from ..conditional import check_if_match, with_etag
from ..counts import template_total
from ..errors import ApiError
from ..extensions import db
from ..models import Template, User
from ..query import BOOLEAN, INTEGER, PUBLIC_ID, TEXT, TIMESTAMP, Collection, Field, Scope, respond
from ..query.portable import iso_utc
from ..representations import template_json
from ..schemas import TEMPLATE_CREATE, TEMPLATE_REPLACE, TEMPLATE_UPDATE
from . import created

bp = Blueprint("template", __name__)

CONTENT_FIELDS = ("title", "url", "description")
MAX_ID = 2**31 - 1  # the largest id every backend's INTEGER holds

# Lists read Core rows of these columns: a page builds no ORM objects.
TEMPLATE = Template.__table__.c
OWNER = User.__table__.alias("template_owner").c
TEMPLATE_ROWS = select(
    TEMPLATE.id, TEMPLATE.title, TEMPLATE.url, TEMPLATE.description, TEMPLATE.approved,
    iso_utc(TEMPLATE.posted).label("posted"), iso_utc(TEMPLATE.updated).label("updated"),
    OWNER.public_id.label("user_id"), OWNER.username.label("username"),
).select_from(Template.__table__.outerjoin(OWNER.id.table, TEMPLATE.owner_id == OWNER.id))
TEMPLATE_FILTERS = {
    "id": Field(TEMPLATE.id, INTEGER),
    "title": Field(TEMPLATE.title, TEXT),
    "url": Field(TEMPLATE.url, TEXT),
    "description": Field(TEMPLATE.description, TEXT, nullable=True),
    "approved": Field(TEMPLATE.approved, BOOLEAN),
    "posted": Field(TEMPLATE.posted, TIMESTAMP),
    "updated": Field(TEMPLATE.updated, TIMESTAMP),
    "user": Field(OWNER.public_id, PUBLIC_ID, nullable=True),
    "user__username": Field(OWNER.username, TEXT, nullable=True),
    "user__public_id": Field(OWNER.public_id, PUBLIC_ID, nullable=True),
}
TEMPLATES = Collection(
    key="templates",
    rows=TEMPLATE_ROWS,
    filters=TEMPLATE_FILTERS,
    orderings={**{name: TEMPLATE_FILTERS[name]
                  for name in ("id", "title", "posted", "updated", "approved")},
               "user__username": Field(OWNER.username_key, TEXT, nullable=True)},
    default_ordering=("id",),
    cursor_orderings=("id", "-id", "posted", "-posted"),
    tie_breaker=TEMPLATE.id,
    always_fields=("id",),
    search=(TEMPLATE.title, TEMPLATE.description),
)
FEED = TEMPLATES.ordered_by("-posted")
# Who sees what (contract §4): admins every template; anyone else, and everyone in the feed,
# the approved ones and their own.
# Their unfiltered totals are counters the database keeps (counts.py), not COUNTs.
EVERY_TEMPLATE = Scope("every template", total=lambda params: template_total(None))
APPROVED_OR_OWN = Scope(
    "approved or own",
    or_(TEMPLATE.approved.is_(True), TEMPLATE.owner_id == bindparam("viewer", type_=Integer)),
    total=lambda params: template_total(params["viewer"]),
)


ONE_TEMPLATE = bindparam("template_id", type_=Integer)


def visibility(user: Caller) -> Scope:
    """Admins see every template; anyone else the approved ones and their own."""
    return EVERY_TEMPLATE if user.admin else APPROVED_OR_OWN


def where_visible(statement: Select, scope: Scope) -> Select:
    """`statement` narrowed to one visible template (bound: `template_id`, `viewer`)."""
    conditions = [TEMPLATE.id == ONE_TEMPLATE]
    if scope.condition is not None:
        conditions.append(scope.condition)
    return statement.where(*conditions)


# A single read, as rows like the lists; the changes load the ORM object they change.
READ_ONE = {scope.name: where_visible(TEMPLATE_ROWS, scope)
            for scope in (EVERY_TEMPLATE, APPROVED_OR_OWN)}
LOAD_ONE = {scope.name: where_visible(select(Template), scope)
            for scope in (EVERY_TEMPLATE, APPROVED_OR_OWN)}


def not_found() -> ApiError:
    return ApiError(404, "No post found")


def visible_one(statements: dict[str, Select], template_id: int) -> Result:
    """Run the caller's statement of `statements` for one template id."""
    if template_id > MAX_ID:  # no backend's INTEGER holds it
        raise not_found()
    user = current_user()
    return db.session.execute(statements[visibility(user).name],
                              {"template_id": template_id, "viewer": user.id})


def get_visible_or_404(template_id: int) -> Template:
    template = visible_one(LOAD_ONE, template_id).scalar()
    if template is None:
        raise not_found()
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
                        approved=data.get("approved", user.admin), owner_id=user.id)
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
    user = current_user()
    return respond(TEMPLATES, visibility(user), viewer=user.id)


@bp.get("/")
@app_token
@token_required
@lists(FEED)
def feed():
    """The feed: approved templates and the caller's own, newest first."""
    return respond(FEED, APPROVED_OR_OWN, viewer=current_user().id)


@bp.get("/template/<int:template_id>")
@app_token
@token_required
def get_one(template_id: int):
    """One template, if the caller may see it."""
    row = visible_one(READ_ONE, template_id).first()
    if row is None:
        raise not_found()
    representation = TEMPLATES.item(row)
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
