"""`python -m bot staff …` and `python -m bot dashboard`: staff accounts and the dashboard on its own.

Accounts are made on the command line, not in the browser, so that whoever can
create a login is whoever can already reach the server and its database.
"""

from __future__ import annotations

import sys

import click
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings, configure_logging
from .errors import ReportingCommand, ReportingGroup
from .reports import LOCAL_TZ
from .staff_auth import ROLES, add_staff, list_staff, normalize_name, remove_staff, set_password
from .store import open_database

__all__ = ["dashboard", "staff"]


def _sessions() -> sessionmaker[Session]:
    """The database as `PlanService.start` opens it (the embedded SQLite file migrates itself)."""
    settings = Settings.from_env()
    return open_database(settings.database_url, migrate=settings.embedded_database)


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _read_password() -> str:
    """Asked twice, hidden, at a terminal; one line from stdin otherwise (for provisioning scripts)."""
    if stdin_is_terminal():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.ClickException("no password on stdin (pipe one line, or run at a terminal to be asked)")
    return line


@click.group(cls=ReportingGroup)
def staff() -> None:
    """Staff accounts for the dashboard at /staff/.

    Example: python -m bot staff add tanaka
    """


@staff.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="viewer",
    show_default=True,
    help="editor: resolve, edit, publish, roll back; viewer: read only.",
)
def staff_add(name: str, role: str) -> None:
    """Add an account; asks for the password twice (or reads one line from stdin).

    Example: python -m bot staff add tanaka --role editor
    """
    password = _read_password()
    with _sessions()() as session, session.begin():
        user = add_staff(session, name, password, role=role)
    click.echo(f"added staff account '{user.name}' ({user.role})")


@staff.command("list")
def staff_list() -> None:
    """List the accounts and when each was added (Japan time).

    Example: python -m bot staff list
    """
    with _sessions()() as session:
        users = list_staff(session)
    if not users:
        click.echo("no staff accounts (add one: python -m bot staff add NAME)")
    for user in users:
        click.echo(f"{user.name}\t{user.role}\t{user.created_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}")


@staff.command("passwd")
@click.argument("name")
def staff_passwd(name: str) -> None:
    """Give an account a new password; every browser signed in with it is signed out.

    Example: python -m bot staff passwd tanaka
    """
    password = _read_password()
    with _sessions()() as session, session.begin():
        user = set_password(session, name, password)
    click.echo(f"new password for staff account '{user.name}'; its sessions have ended")


@staff.command("remove")
@click.argument("name")
def staff_remove(name: str) -> None:
    """Remove an account; its sessions end at once.

    Example: python -m bot staff remove tanaka
    """
    with _sessions()() as session, session.begin():
        remove_staff(session, name)
    click.echo(f"removed staff account '{normalize_name(name)}'")


@click.command(cls=ReportingCommand)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port.")
def dashboard(host: str, port: int) -> None:
    """Serve only the staff dashboard, at http://HOST:PORT/staff/ (no Telegram token needed).

    Example: python -m bot dashboard --port 8080
    """
    settings = Settings.from_env()
    configure_logging()
    import uvicorn

    from .dashboard import create_standalone_app
    from .service import PlanService

    service = PlanService.start(settings)
    with service.sessions() as session:
        if not list_staff(session):
            click.echo("no staff accounts yet: add one with `python -m bot staff add NAME`", err=True)
    click.echo(f"staff dashboard: http://{host}:{port}/staff/", err=True)
    uvicorn.run(create_standalone_app(service), host=host, port=port, log_config=None)
