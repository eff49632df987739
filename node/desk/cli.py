"""``bianmin node account ...``: the desk's local accounts (village agents, township clerks),
made at install by whoever runs the node. Thin: parse, call ``node.web.accounts``, print.

A password is asked for at the terminal (twice, hidden) or read from
``$BIANMIN_ACCOUNT_PASSWORD`` for scripted installs -- never from the command line, where
``ps`` would show it.
"""

from __future__ import annotations

from pathlib import Path

import click

from node.cli_support import Output, bianmin_command, clock
from node.desk.accounts import desk_book
from node.service import open_node

__all__ = ["account"]

PASSWORD = click.option("--password", prompt="密码 (password)", hide_input=True,
                        confirmation_prompt="再输一次 (again)",
                        envvar="BIANMIN_ACCOUNT_PASSWORD", show_envvar=True,
                        help="Asked for at the terminal; or $BIANMIN_ACCOUNT_PASSWORD.")


@click.group()
def account() -> None:
    """Logins to the desk's pages (village agents, township clerks)."""


@bianmin_command(account, "add")
@click.argument("name")
@click.option("--display-name", default="", help="The name shown on the pages, e.g. 王小红.")
@PASSWORD
def add(home: Path, out: Output, name: str, display_name: str, password: str) -> None:
    """Make an account for the desk."""
    with open_node(home, clock()) as service:
        role = "clerk" if service.config.tier == "township" else "agent"
        desk_book(service).add(name=name, password=password, display_name=display_name,
                               role=role)
    out.result({"name": name, "role": role}, f"account {name} made ({role})")


@bianmin_command(account, "passwd")
@click.argument("name")
@PASSWORD
def passwd(home: Path, out: Output, name: str, password: str) -> None:
    """Set a new password (it also unlocks the account and ends its sessions)."""
    with open_node(home, clock()) as service:
        desk_book(service).set_password(name, password)
    out.result({"name": name}, f"password of {name} changed")


@bianmin_command(account, "list")
def list_accounts(home: Path, out: Output) -> None:
    """The desk's accounts."""
    with open_node(home, clock()) as service:
        found = desk_book(service).list()
        now = service.clock.now()
    out.result({"accounts": [{**a.__dict__, "locked": a.locked(now)} for a in found]},
               [f"{a.name:<16} {a.label:<12} {a.role:<6} "
                f"{'active' if a.active else 'disabled'}"
                f"{' LOCKED' if a.locked(now) else ''}" for a in found] or ["no accounts"])


@bianmin_command(account, "disable")
@click.argument("name")
def disable(home: Path, out: Output, name: str) -> None:
    """Stop an account from logging in (its sessions end now)."""
    with open_node(home, clock()) as service:
        desk_book(service).set_active(name, False)
    out.result({"name": name, "active": False}, f"account {name} disabled")


@bianmin_command(account, "unlock")
@click.argument("name")
def unlock(home: Path, out: Output, name: str) -> None:
    """Lift a lockout after repeated wrong passwords."""
    with open_node(home, clock()) as service:
        desk_book(service).unlock(name)
    out.result({"name": name}, f"account {name} unlocked")
