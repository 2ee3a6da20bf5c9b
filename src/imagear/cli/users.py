"""`imagear users add | list | passwd | remove`: the web console's accounts.

A password is asked for twice on the terminal (never echoed), or read from the first line of
standard input with ``--password-stdin`` (scripts, provisioning). Changing a password or removing
a user ends every session of that user. The services (:mod:`imagear.accounts`) are imported
inside each command, so ``import imagear.cli`` stays fast."""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
import sys
from typing import Annotated

import typer

from imagear.cli._common import console, get_app, handle_errors, print_json
from imagear.cli._text import text
from imagear.limits import MAX_ID

app = typer.Typer(help="Accounts of the web console (curators and admins).", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The user's sign-in name.")]
StdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _audit(ctx: typer.Context, action: str, name: str) -> None:
    from imagear import auditlog

    app_ = get_app(ctx)
    auditlog.record(app_, app_.config.user, "cli", "users", None, f"{action} {name}")


@app.command("add")
def add(
    ctx: typer.Context,
    name: NameArg,
    role: Annotated[
        str, typer.Option("--role", metavar="ROLE", help="curator or admin.")
    ] = "curator",
    heratio_user_id: Annotated[
        int | None,
        typer.Option(
            "--heratio-user-id",
            metavar="ID",
            min=1,
            max=MAX_ID,
            help="Heratio user id written to created_by for this user's clips (Heratio database).",
        ),
    ] = None,
    password_stdin: StdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a user who signs in to `imagear web` with NAME and a password.

    A curator generates, approves and rejects clips; an admin also deletes clips and changes
    the settings.
    """
    from imagear import accounts

    with handle_errors(as_json):
        accounts.check_name(name)
        accounts.check_role(role)
        password = _password(password_stdin)
        user = accounts.add_user(get_app(ctx), name, password, role, heratio_user_id)
        _audit(ctx, "add", name)
    if as_json:
        print_json(user)
        return
    console.print(text(f"Added {user.name} ({user.role})."), soft_wrap=True)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The users, their roles and Heratio user ids."""
    from imagear import accounts

    with handle_errors(as_json):
        users = accounts.list_users(get_app(ctx, read_only=True))
    if as_json:
        print_json({"users": users})
        return
    from rich.table import Table

    table = Table(caption=f"{len(users)} user(s)")
    for column in ("name", "role", "heratio user id", "created"):
        table.add_column(column, overflow="fold")
    for u in users:
        table.add_row(
            text(u.name),
            u.role,
            "" if u.heratio_user_id is None else str(u.heratio_user_id),
            u.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@app.command("passwd")
def passwd(
    ctx: typer.Context, name: NameArg, password_stdin: StdinOpt = False, as_json: JsonOpt = False
) -> None:
    """Give NAME a new password; every session of NAME ends."""
    from imagear import accounts

    with handle_errors(as_json):
        app_ = get_app(ctx)
        accounts.get_user(app_, name)  # NotFound before any prompt
        accounts.set_password(app_, name, _password(password_stdin))
        _audit(ctx, "passwd", name)
    if as_json:
        print_json({"name": name, "password_changed": True})
        return
    console.print(text(f"Changed the password of {name}; its sessions ended."), soft_wrap=True)


@app.command("remove", short_help="Remove NAME and end its sessions.")
def remove(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """Remove NAME and end its sessions; its actions stay in the audit trail."""
    from imagear import accounts

    with handle_errors(as_json):
        accounts.remove_user(get_app(ctx), name)
        _audit(ctx, "remove", name)
    if as_json:
        print_json({"name": name, "removed": True})
        return
    console.print(text(f"Removed {name}."), soft_wrap=True)
