"""`audit prune` and `audit export` (contract §9, §11)."""

from __future__ import annotations

from datetime import datetime

import click
import orjson
from flask.cli import AppGroup

from .audit import export, prune
from .cli import expected_failures
from .query.values import parse_timestamp

audit_group = AppGroup("audit", help="Keep and read the audit trail.")


@audit_group.command("prune")
@expected_failures
def prune_command() -> None:
    """Delete audit events older than AUDIT_RETENTION_DAYS."""
    click.echo(f"Deleted {prune()} audit events.")


def since_option(_context, _parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as reason:
        raise click.BadParameter(str(reason)) from None


@audit_group.command("export")
@click.option("--since", callback=since_option,
              help="Only events at or after this ISO 8601 time (e.g. 2026-11-21T00:00:00Z).")
@expected_failures
def export_command(since: datetime | None) -> None:
    """Audit events as JSON lines on stdout, oldest first."""
    for event in export(since):
        click.echo(orjson.dumps(event).decode())
