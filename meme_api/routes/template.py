"""Templates, the posts (contract §4): posting, browsing, the feed, and moderation."""

from flask import jsonify

from ..auth import app_token, current_user, token_required
from ..bodies import accepts, lists, read_body
from ..conditional import with_etag
from ..idempotency import IN_PROGRESS, MISMATCH, idempotent
from ..openapi.metadata import (
    COLLECTION_HEADERS,
    MESSAGE,
    STALE,
    ApiBlueprint,
    link,
    other_responses,
    response,
)
from ..query import respond
from ..templates import (
    APPROVED_OR_OWN,
    FEED,
    TEMPLATE,
    TEMPLATE_CREATE,
    TEMPLATE_REPLACE,
    TEMPLATE_UPDATE,
    TEMPLATES,
    change_template,
    delete_template,
    load_modifiable,
    post_template,
    read_changed,
    read_template,
    visibility,
)
from . import created

bp = ApiBlueprint("template", __name__, "Templates, the posts, and the feed",
                  path_parameters={"template_id": {"type": "integer", "minimum": 1}})

NOT_OWNER = ("not the caller's template (and the caller is no admin; a moderator may only set "
             "`approved`)")
DELETE_REFUSED = "not the caller's template (and the caller is no admin or moderator)"
APPROVING = "a caller who is no admin or moderator sent `approved`"
NEW_TEMPLATE = "$response.body#/template/id"
CHANGE_ERRORS = {403: f"{NOT_OWNER}, or {APPROVING}", 409: STALE, 412: None}


def changed(template_id: int):
    """The answer to an edit: the template as it is now, and its ETag."""
    representation = read_changed(template_id)
    return with_etag({"message": "Post Updated", "template": representation}, representation)


@bp.post("/template")
@app_token
@token_required
@idempotent
@accepts(TEMPLATE_CREATE)
@response("create_template", TEMPLATE.message, "Posted.", 201, headers=("Location",), links={
    "GetTemplate": link("get_template", "template_id", NEW_TEMPLATE, "the new post"),
    "ReplaceTemplate": link("replace_template", "template_id", NEW_TEMPLATE,
                            "replace the new post"),
    "UpdateTemplate": link("update_template", "template_id", NEW_TEMPLATE, "change the new post"),
    "DeleteTemplate": link("delete_template", "template_id", NEW_TEMPLATE, "delete the new post"),
})
@other_responses({403: APPROVING, 409: IN_PROGRESS, 422: MISMATCH})
def create():
    """Post a template; an admin's starts approved, anyone else's awaits moderation."""
    template_id = post_template(read_body(), current_user())
    return created({"message": "Post created", "template": read_changed(template_id)},
                   f"/template/{template_id}")


@bp.get("/template")
@app_token
@token_required
@lists(TEMPLATES)
@response("list_templates", TEMPLATE.page, "A page of the visible templates.",
          headers=COLLECTION_HEADERS)
def list_templates():
    """The templates the caller may see, as a collection."""
    user = current_user()
    return respond(TEMPLATES, visibility(user), viewer=user.id)


@bp.get("/")
@app_token
@token_required
@lists(FEED)
@response("get_feed", TEMPLATE.page, "A page of the feed.", headers=COLLECTION_HEADERS)
def feed():
    """The feed: approved templates and the caller's own, newest first."""
    return respond(FEED, APPROVED_OR_OWN, viewer=current_user().id)


@bp.get("/template/<int:template_id>")
@app_token
@token_required
@response("get_template", TEMPLATE.envelope, "The template.", headers=("ETag",), not_modified=True)
def get_one(template_id: int):
    """One template, if the caller may see it."""
    representation = read_template(template_id, current_user())
    return with_etag({"template": representation}, representation)


@bp.put("/template/<int:template_id>")
@app_token
@token_required
@accepts(TEMPLATE_REPLACE)
@response("replace_template", TEMPLATE.message, "Replaced.", headers=("ETag",))
@other_responses(CHANGE_ERRORS)
def replace(template_id: int):
    """Replace title, url and description (an omitted description becomes null)."""
    data = read_body()
    template = load_modifiable(template_id, current_user(), TEMPLATE_REPLACE.fields)
    return changed(change_template(template, {"description": None, **data}, current_user()))


@bp.patch("/template/<int:template_id>")
@app_token
@token_required
@accepts(TEMPLATE_UPDATE)
@response("update_template", TEMPLATE.message, "Changed.", headers=("ETag",))
@other_responses(CHANGE_ERRORS)
def update(template_id: int):
    """Change some of title, url, description (and, for admins and moderators, approved)."""
    data = read_body()
    template = load_modifiable(template_id, current_user(), data)
    return changed(change_template(template, data, current_user()))


@bp.delete("/template/<int:template_id>")
@app_token
@token_required
@response("delete_template", MESSAGE, "Deleted.")
@other_responses({403: DELETE_REFUSED, 409: STALE, 412: None})
def delete(template_id: int):
    """Delete a template (owner, admin or moderator)."""
    delete_template(load_modifiable(template_id, current_user()), current_user())
    return jsonify({"message": "The post has been deleted"})
