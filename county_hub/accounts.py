"""Who acts at the county (issue 11): operators log in to the console, or authenticate at the
CLI with a personal token; nobody acts under a typed name.

* An **account** (``accounts``, the same ``node.web.accounts.AccountBook`` as the desk's) is
  the login of a registered operator (``operators``: department and role). Roles: ``clerk``
  and ``head`` act on their department's cases; ``supervisor`` sees every case and acts on
  none; ``admin`` (county IT) manages accounts and nodes and decides nothing.
* **The CLI** authenticates an operator action by a personal token
  (``bianmin hub operator token NAME``; the script passes it in ``$BIANMIN_OPERATOR_TOKEN`` or
  ``--token-file``) -- the trail says ``token``. Without one, ``--local-admin`` (or
  ``$BIANMIN_LOCAL_ADMIN=1``) acts as ``--operator`` from the hub's own shell, trusted because
  that shell can read the database anyway -- and the trail says ``local-admin``, so an auditor
  sees which actions no credential proved. Anything else is refused.
* Every change to an account is a line of the trail, naming who made it and how.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from county_hub.hub import Hub
from county_hub.schema import HubAccount, HubWebSession
from county_hub.store import OperatorRow
from node.kernel.errors import NotFoundError, PeerError, UsageError
from node.store.schema import table_of
from node.web.accounts import Account, AccountBook, LoginPolicy, LoginRefused

__all__ = ["Actor", "account_change", "cli_actor", "hub_book", "make_account", "operator_of",
           "read_token"]

TOKEN_ENV = "BIANMIN_OPERATOR_TOKEN"  # noqa: S105 -- the name of a variable, not a secret


@dataclass(frozen=True, kw_only=True)
class Actor:
    """An authenticated person at the county, and how they were authenticated."""

    name: str
    via: str  # console | token | local-admin
    role: str = ""
    department: str = ""


def hub_book(hub: Hub) -> AccountBook:
    web = hub.config.web
    return AccountBook(hub.store.db, accounts=table_of(HubAccount),
                       sessions=table_of(HubWebSession), clock=hub.clock,
                       policy=LoginPolicy(max_failures=web.max_failures,
                                          lock_minutes=web.lock_minutes,
                                          idle_minutes=web.idle_minutes,
                                          max_hours=web.max_hours))


def operator_of(hub: Hub, name: str) -> OperatorRow:
    with hub.store.reading() as r:
        found = r.operator(name)
    if found is None:
        raise NotFoundError(f"{name} is not a registered operator; register them first with "
                            "'bianmin hub operator add'", code="unknown_operator")
    return found


def account_change(hub: Hub, *, kind: str, name: str, by: Actor, detail: str) -> None:
    """A line of the trail for a change to an account (made, password, unlock, ...)."""
    with hub.store.transaction() as tx:
        tx.add_trail(kind="AccountChanged", operator=by.name, via=by.via,
                     detail=f"{kind} {name}" + (f": {detail}" if detail else ""))


def make_account(hub: Hub, *, name: str, password: str, by: Actor) -> Account:
    """A console login for a registered operator (role and department are the operator's)."""
    operator = operator_of(hub, name)
    book = hub_book(hub)
    book.add(name=name, password=password, display_name=name, role=operator.role)
    account_change(hub, kind="account made for", name=name, by=by,
                   detail=f"{operator.department}, {operator.role}")
    found = book.get(name)
    assert found is not None
    return found


def cli_actor(hub: Hub, *, operator: str | None, token: str | None,
              local_admin: bool, registered: bool = True) -> Actor:
    """The person a CLI operator command acts as (see the module docstring). ``registered``:
    the operator must be registered even in local-admin mode (case actions; the IT team's
    commands -- revocations, alarms, delegations -- take the name as the shell gives it, and
    the trail says local-admin)."""
    if token:
        try:
            account = hub_book(hub).token_holder(token.strip())
        except LoginRefused as exc:
            raise PeerError(str(exc), code=exc.code) from exc
        if operator and operator.strip() != account.name:
            raise PeerError(f"the token is {account.name}'s, not {operator}'s: an operator "
                            "acts only under their own token", code="not_your_token")
        found = operator_of(hub, account.name)
        return Actor(name=found.name, via="token", role=found.role,
                     department=found.department)
    if local_admin:
        if not operator or not operator.strip():
            raise UsageError("--local-admin acts as the operator named by --operator; name one")
        if not registered:
            return Actor(name=operator.strip(), via="local-admin")
        found = operator_of(hub, operator.strip())
        return Actor(name=found.name, via="local-admin", role=found.role,
                     department=found.department)
    raise PeerError(
        "operator actions need the operator's own credential: pass your personal token "
        f"(${TOKEN_ENV} or --token-file; an administrator issues it with 'bianmin hub operator "
        "token NAME'), or --local-admin to act as --operator from the hub's own shell -- "
        "the trail then says so", code="not_authenticated")


def read_token(token_file: Path | None, env_token: str | None) -> str | None:
    if token_file is not None:
        try:
            return token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read the token file {token_file}: {exc.strerror}") from exc
    return env_token or None
