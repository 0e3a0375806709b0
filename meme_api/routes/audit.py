"""The audit trail (contract §11): admins list and read events; nothing changes them."""

from ..audit import EVENT, EVENTS, EVERY_EVENT, read_event
from ..auth import admin_required, app_token, token_required
from ..bodies import lists
from ..conditional import with_etag
from ..openapi.metadata import COLLECTION_HEADERS, ApiBlueprint, response
from ..query import respond

bp = ApiBlueprint("audit", __name__, "The audit trail (admins only; append-only)",
                  path_parameters={"event_id": {"type": "integer", "minimum": 1}})


@bp.get("")
@app_token
@token_required
@admin_required
@lists(EVENTS)
@response("list_audit_events", EVENT.page, "A page of audit events.", headers=COLLECTION_HEADERS)
def list_events():
    """Audit events, newest first by default, as a collection (cursor mode included)."""
    return respond(EVENTS, EVERY_EVENT)


@bp.get("/<int:event_id>")
@app_token
@token_required
@admin_required
@response("get_audit_event", EVENT.envelope, "The event.", headers=("ETag",), not_modified=True)
def get_one(event_id: int):
    """One audit event."""
    representation = read_event(event_id)
    return with_etag({"event": representation}, representation)
