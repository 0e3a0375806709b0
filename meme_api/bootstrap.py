"""`bootstrap`: the first admin and, optionally, an application, in one command (contract §9).

`flask --app meme_api bootstrap ADMIN --app NAME` is the quick start's first step; the image's
boot.sh runs `bootstrap "$BOOTSTRAP_ADMIN" --if-no-admin` on every start, which makes the admin on
the first boot and does nothing once an admin exists.
"""

from __future__ import annotations

import click
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from .accounts import PASSWORD, USERNAME, password_hash
from .audit import record
from .cli import check_field, expected_failures
from .client_apps import APP_NAME
from .config import secret_from_environment
from .extensions import db
from .models import ClientApp, User, new_public_id
from .security import hash_app_token, new_app_token

NOTHING_TO_DO = "An admin exists already; nothing to bootstrap."


def admin_exists() -> bool:
    return bool(db.session.scalar(select(exists().where(User.role == "admin"))))


def bootstrap_password(non_interactive: bool) -> str:
    """BOOTSTRAP_ADMIN_PASSWORD (or its _FILE); else asked for twice, unless nobody can answer."""
    password = secret_from_environment("BOOTSTRAP_ADMIN_PASSWORD")
    if password is None:
        if non_interactive:
            raise click.ClickException(
                "BOOTSTRAP_ADMIN_PASSWORD (or BOOTSTRAP_ADMIN_PASSWORD_FILE) is not set")
        # On stderr, so that `bootstrap … | tail -n 1` shows the prompt and keeps only the token.
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return check_field(PASSWORD, "password", password)


@click.command("bootstrap")
@click.argument("name")
@click.option("--app", "app_name", metavar="APP",
              help="Also register application APP and print its token (the last line).")
@click.option("--if-no-admin", is_flag=True,
              help="Succeed without doing anything when an admin exists (for the container's "
                   "boot); the password must then come from the environment.")
@expected_failures
def bootstrap(name: str, app_name: str | None, if_no_admin: bool) -> None:
    """Make the first admin NAME; refused once any admin exists.

    The password is BOOTSTRAP_ADMIN_PASSWORD (or the file BOOTSTRAP_ADMIN_PASSWORD_FILE names),
    else it is prompted for.
    """
    check_field(USERNAME, "username", name)
    if app_name is not None:
        check_field(APP_NAME, "name", app_name)
    if admin_exists():
        if if_no_admin:
            click.echo(NOTHING_TO_DO)
            return
        raise click.ClickException(
            "an admin exists already: bootstrap makes only the first one (see create-admin)")
    password = bootstrap_password(non_interactive=if_no_admin)

    # The admin and the application are committed together: a taken name leaves neither.
    admin = User(public_id=new_public_id(), username=name,
                 password_hash=password_hash(password), role="admin", active=True)
    db.session.add(admin)
    record("user.created", "user", admin.public_id, {"username": name, "role": "admin"})
    token = None
    if app_name is not None:
        token = new_app_token()
        db.session.add(ClientApp(name=app_name, token_hash=hash_app_token(token), revoked=False))
        record("app.registered", "app", app_name)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if if_no_admin and admin_exists():  # another replica booting at the same time won
            click.echo(NOTHING_TO_DO)
            return
        taken = "username" if app_name is None else "username or application name"
        raise click.ClickException(f"the {taken} is already taken") from None

    click.echo(f"Created admin {admin.username} ({admin.public_id})")
    if token is not None:
        click.echo(f"Registered application {app_name}. Its token is shown only once:")
        click.echo(token)
