"""schemathesis hooks (SCHEMATHESIS_HOOKS=schemathesis_hooks): live credentials for every case.

The run covers the operations that destroy their caller's credentials too (logout, logout of
every session, a password change, revoking or rotating the application, demoting, deactivating,
renaming or deleting the admin). So before each case this provider checks, in the database the
server uses and with the project's own functions, that the admin, its login session and the
application token still work, and repairs whatever a previous case took away.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass

import schemathesis
from sqlalchemy import select

from meme_api import create_app
from meme_api.accounts import create_user
from meme_api.auth import decode_user_token
from meme_api.client_apps import register_app
from meme_api.extensions import db
from meme_api.models import AuthSession, ClientApp, User
from meme_api.security import hash_app_token
from meme_api.sessions import start_session

STATE_ENV = "MEME_SCHEMATHESIS_STATE"


@dataclass
class Credentials:
    app_token: str
    access_token: str
    username: str
    password: str


class Keeper:
    """Keeps one admin, one login session and one application token alive across the run."""

    def __init__(self, state_file: str):
        with open(state_file) as handle:
            self.state = json.load(handle)
        self.app = create_app(self.state["config"])

    def credentials(self) -> Credentials:
        """The admin's access token and the app token, repaired or renewed as needed."""
        with self.app.app_context():
            admin = self._admin()
            self._session(admin)
            self._client_app()
            return Credentials(self.state["app_token"], self.state["access_token"],
                               admin.username, self.state["password"])

    def _admin(self) -> User:
        state = self.state
        admin = db.session.scalar(select(User).where(User.public_id == state["admin_id"]))
        if admin is None:
            admin = create_user(f"st-admin-{uuid.uuid4().hex[:8]}", state["password"], "admin")
            state.update(admin_id=admin.public_id, password_hash=admin.password_hash,
                         session_id=None)
        elif (not admin.admin or not admin.active
              or admin.password_hash != state["password_hash"]):
            admin.role, admin.active, admin.password_hash = "admin", True, state["password_hash"]
            db.session.commit()
        return admin

    def _session(self, admin: User) -> None:
        state = self.state
        session = state["session_id"] and db.session.get(AuthSession, state["session_id"])
        if not session or session.revoked or session.user_id != admin.id:
            state["access_token"] = start_session(admin)["token"]
            claims = decode_user_token(state["access_token"], "access")
            state["session_id"] = claims["sid"]

    def _client_app(self) -> None:
        state = self.state
        client = db.session.scalar(select(ClientApp).where(ClientApp.name == state["app_name"]))
        if (client is None or client.revoked
                or client.token_hash != hash_app_token(state["app_token"])):
            state["app_name"] = f"st-app-{uuid.uuid4().hex[:8]}"
            state["app_token"] = register_app(state["app_name"])[1]


KEEPER = Keeper(os.environ[STATE_ENV]) if STATE_ENV in os.environ else None


@schemathesis.auth(refresh_interval=None)
class LiveCredentials:
    """The app token and the admin's access token on every case; Basic credentials on /login."""

    def get(self, case, context):
        """Credentials that work now, whatever the previous cases did."""
        return KEEPER.credentials()

    def set(self, case, data: Credentials, context):
        """Put them in the headers the security schemes name."""
        case.headers = case.headers or {}
        case.headers["x-application-token"] = data.app_token
        if case.operation.path == "/login":
            schemathesis.auths.apply_basic_auth(case, data.username, data.password)
        else:
            case.headers["x-access-token"] = data.access_token
