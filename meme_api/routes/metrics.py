"""`GET /metrics` (contract §8): Prometheus text, with no app or user token."""

import hmac

from flask import current_app, request

from ..errors import ApiError
from ..metrics import exposition
from ..openapi.metadata import ApiBlueprint, other_responses, response

bp = ApiBlueprint("metrics", __name__, "Prometheus metrics")

UNAUTHORIZED = ("METRICS_TOKEN is set and `Authorization: Bearer <METRICS_TOKEN>` is missing "
                "or wrong")


@bp.get("/metrics")
@response("get_metrics", None, "The instance's figures, summed over its worker processes.",
          uses_database=False,
          content={"text/plain": {"schema": {"type": "string"}}})
@other_responses({401: UNAUTHORIZED, 404: "METRICS_ENABLED is false"})
def metrics():
    """Prometheus text exposition; with METRICS_TOKEN set, only for its bearer."""
    config = current_app.config
    if not config["METRICS_ENABLED"]:
        raise ApiError(404)
    token = config["METRICS_TOKEN"]
    if token:
        presented = request.headers.get("Authorization", "")
        if not hmac.compare_digest(presented.encode(), f"Bearer {token}".encode()):
            raise ApiError(401, "A valid metrics token is required",
                           headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body, content_type = exposition()
    return current_app.response_class(body, mimetype=None, content_type=content_type)
