"""Accounts and sessions of a tier's pages, in the tier's own database (issue 11).

``AccountBook`` is the one writer of the ``accounts`` and ``web_sessions`` tables at every
tier (the node's SQLite file, the hub's SQLite or PostgreSQL): the county's console keeps its
sessions in the database so that any hub process serves any request (DESIGN §11).

* **Login**: a wrong password counts a failure; ``policy.max_failures`` failures in a row lock
  the account for ``policy.lock_minutes`` (an administrator may unlock it sooner). A name that
  does not exist is refused in the same words and the same time as a wrong password.
* **Second factor**: an account with a TOTP secret gets a session at stage ``totp`` that opens
  nothing but the code page, until the code is given.
* **Sessions** end after ``policy.idle_minutes`` without a request, and in any case
  ``policy.max_hours`` after login; each carries its own CSRF token. Only the token's sha256
  is stored.
* **Personal tokens** (``kind = "cli"``) let scripts act as one named person; they are
  sessions that never open a page and expire after ``days``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Table, delete, insert, select, update

from node.kernel.clock import Clock, from_ms, to_ms
from node.kernel.errors import NotFoundError, PeerError, UsageError
from node.store.db import Database
from node.web.security import (
    hash_password,
    new_token,
    new_totp_secret,
    password_problem,
    token_hash,
    verify_password,
    verify_totp,
)

__all__ = ["Account", "AccountBook", "LoginPolicy", "LoginRefused", "Session"]

_TOUCH_EVERY = dt.timedelta(minutes=1)  # a session's last_seen is written at most this often


class LoginRefused(PeerError):
    """A login or second factor refused; the message is what the person reads."""


@dataclass(frozen=True, kw_only=True)
class LoginPolicy:
    max_failures: int = 5
    lock_minutes: int = 15
    idle_minutes: int = 30
    max_hours: int = 12


@dataclass(frozen=True, kw_only=True)
class Account:
    name: str
    display_name: str
    role: str
    active: bool
    totp: bool
    failed_logins: int
    locked_until: dt.datetime | None
    last_login: dt.datetime | None

    @property
    def label(self) -> str:
        return self.display_name or self.name

    def locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True, kw_only=True)
class Session:
    token: str  # as the browser holds it (the database has only its hash)
    account: Account
    csrf: str
    stage: str  # "" (in) or "totp" (second factor owed)
    expires_at: dt.datetime

    @property
    def complete(self) -> bool:
        return self.stage == ""


def _account(row: object) -> Account:
    m = row._mapping  # type: ignore[attr-defined]
    return Account(name=m["name"], display_name=m["display_name"], role=m["role"],
                   active=bool(m["active"]), totp=bool(m["totp_secret"]),
                   failed_logins=m["failed_logins"],
                   locked_until=None if m["locked_until_ms"] is None
                   else from_ms(m["locked_until_ms"]),
                   last_login=None if m["last_login_ms"] is None
                   else from_ms(m["last_login_ms"]))


class AccountBook:
    def __init__(self, db: Database, *, accounts: Table, sessions: Table, clock: Clock,
                 policy: LoginPolicy | None = None) -> None:
        self.db, self.a, self.s, self.clock = db, accounts, sessions, clock
        self.policy = policy or LoginPolicy()

    # -- accounts -------------------------------------------------------------------------------

    def get(self, name: str) -> Account | None:
        with self.db.read() as conn:
            row = conn.execute(select(self.a).where(self.a.c.name == name)).first()
        return None if row is None else _account(row)

    def list(self) -> list[Account]:
        with self.db.read() as conn:
            return [_account(r) for r in conn.execute(select(self.a).order_by(self.a.c.name))]

    def add(self, *, name: str, password: str, display_name: str = "", role: str = "") -> None:
        name = name.strip()
        if not name or len(name) > 64 or any(not c.isprintable() or c.isspace() for c in name):
            raise UsageError(f"account name {name!r}: 1 to 64 characters, no spaces",
                             code="bad_account_name")
        problem = password_problem(password, name)
        if problem:
            raise UsageError(problem, code="weak_password")
        with self.db.write() as conn:
            if conn.execute(select(self.a.c.name).where(self.a.c.name == name)).first():
                raise UsageError(f"account {name} already exists", code="already_registered")
            conn.execute(insert(self.a).values(
                name=name, display_name=display_name.strip(), role=role,
                password_hash=hash_password(password), totp_secret="", failed_logins=0,
                active=True, created_at_ms=to_ms(self.clock.now())))

    def set_password(self, name: str, password: str) -> None:
        """A new password; it unlocks the account and ends its sessions."""
        problem = password_problem(password, name)
        if problem:
            raise UsageError(problem, code="weak_password")
        self._update(name, password_hash=hash_password(password), failed_logins=0,
                     locked_until_ms=None)
        self.end_sessions(name)

    def set_active(self, name: str, active: bool) -> None:
        self._update(name, active=active)
        if not active:
            self.end_sessions(name)

    def unlock(self, name: str) -> None:
        self._update(name, failed_logins=0, locked_until_ms=None)

    def enrol_totp(self, name: str) -> str:
        """A new TOTP secret for the account (shown once, to put in an authenticator app)."""
        secret = new_totp_secret()
        self._update(name, totp_secret=secret)
        return secret

    def drop_totp(self, name: str) -> None:
        self._update(name, totp_secret="")

    def _update(self, name: str, **values: object) -> None:
        with self.db.write() as conn:
            done = conn.execute(update(self.a).where(self.a.c.name == name).values(**values))
        if done.rowcount != 1:
            raise NotFoundError(f"account {name} does not exist", code="unknown_account")

    # -- logging in -----------------------------------------------------------------------------

    def login(self, name: str, password: str, *, remote: str = "") -> Session:
        """A session for ``name`` if the password is right (stage ``totp`` if a second factor
        is owed), or ``LoginRefused``; failures count towards the lockout."""
        now = self.clock.now()
        with self.db.read() as conn:
            row = conn.execute(select(self.a).where(self.a.c.name == name.strip())).first()
        stored = None if row is None else row.password_hash
        right = verify_password(stored, password)  # always hashed: same time for any name
        if row is None:
            raise LoginRefused("账号或密码不对", code="bad_login")
        account = _account(row)
        if account.locked(now):
            raise LoginRefused(f"连续输错密码次数过多，账号已锁定，请 "
                               f"{_minutes_left(account.locked_until, now)} 分钟后再试，或请管理员"
                               "解锁", code="locked")
        if not account.active:
            raise LoginRefused("账号已停用，请与管理员联系", code="disabled")
        if not right:
            self._failed(account, now)
        with self.db.write() as conn:
            conn.execute(update(self.a).where(self.a.c.name == account.name).values(
                failed_logins=0, locked_until_ms=None, last_login_ms=to_ms(now)))
        return self._open(account, stage="totp" if account.totp else "", remote=remote,
                          kind="web", lifetime=dt.timedelta(hours=self.policy.max_hours))

    def _failed(self, account: Account, now: dt.datetime) -> None:
        failures = account.failed_logins + 1
        lock = failures >= self.policy.max_failures
        with self.db.write() as conn:
            conn.execute(update(self.a).where(self.a.c.name == account.name).values(
                failed_logins=0 if lock else failures,
                locked_until_ms=to_ms(now + dt.timedelta(minutes=self.policy.lock_minutes))
                if lock else None))
        if lock:
            raise LoginRefused(f"连续 {failures} 次密码错误，账号已锁定 "
                               f"{self.policy.lock_minutes} 分钟", code="locked")
        left = self.policy.max_failures - failures
        raise LoginRefused(f"账号或密码不对（再错 {left} 次账号将被锁定）", code="bad_login")

    def second_factor(self, token: str, code: str) -> Session:
        """The session, complete, if ``code`` is the account's current TOTP code."""
        now = self.clock.now()
        found = self._row(token)
        if found is None or found[1] != "totp":
            raise LoginRefused("登录已过期，请重新登录", code="session_expired")
        account_name = found[0]
        with self.db.read() as conn:
            secret = conn.execute(select(self.a.c.totp_secret)
                                  .where(self.a.c.name == account_name)).scalar() or ""
        account = self.get(account_name)
        if account is None or account.locked(now) or not account.active:
            self.end(token)
            raise LoginRefused("账号已锁定或停用，请与管理员联系", code="locked")
        if not secret or not verify_totp(secret, code, now):
            self._failed(account, now)
        with self.db.write() as conn:
            conn.execute(update(self.s).where(self.s.c.token_hash == token_hash(token))
                         .values(stage="", last_seen_ms=to_ms(now)))
        session = self.session(token)
        assert session is not None
        return session

    def _open(self, account: Account, *, stage: str, remote: str, kind: str,
              lifetime: dt.timedelta) -> Session:
        now = self.clock.now()
        token, csrf = new_token(), new_token()
        with self.db.write() as conn:
            conn.execute(delete(self.s).where(self.s.c.expires_at_ms < to_ms(now)))
            conn.execute(insert(self.s).values(
                token_hash=token_hash(token), account=account.name, kind=kind, stage=stage,
                csrf=csrf, remote=remote[:64], created_at_ms=to_ms(now),
                last_seen_ms=to_ms(now), expires_at_ms=to_ms(now + lifetime)))
        return Session(token=token, account=account, csrf=csrf, stage=stage,
                       expires_at=now + lifetime)

    def _row(self, token: str) -> tuple[str, str] | None:
        now = self.clock.now()
        with self.db.read() as conn:
            row = conn.execute(select(self.s).where(self.s.c.token_hash == token_hash(token),
                                                    self.s.c.kind == "web")).first()
        if row is None or row.expires_at_ms <= to_ms(now):
            return None
        if now - from_ms(row.last_seen_ms) > dt.timedelta(minutes=self.policy.idle_minutes):
            return None
        return str(row.account), str(row.stage)

    def session(self, token: str) -> Session | None:
        """The live session of a browser's token, or None (expired, ended, unknown)."""
        if not token:
            return None
        now = self.clock.now()
        with self.db.read() as conn:
            row = conn.execute(select(self.s).where(self.s.c.token_hash == token_hash(token),
                                                    self.s.c.kind == "web")).first()
            if row is None or row.expires_at_ms <= to_ms(now):
                return None
            if now - from_ms(row.last_seen_ms) > dt.timedelta(minutes=self.policy.idle_minutes):
                return None
            account_row = conn.execute(select(self.a).where(self.a.c.name == row.account)
                                       ).first()
        if account_row is None or not account_row.active:
            return None
        if now - from_ms(row.last_seen_ms) > _TOUCH_EVERY:
            with self.db.write() as conn:
                conn.execute(update(self.s).where(self.s.c.token_hash == row.token_hash)
                             .values(last_seen_ms=to_ms(now)))
        return Session(token=token, account=_account(account_row), csrf=row.csrf,
                       stage=row.stage, expires_at=from_ms(row.expires_at_ms))

    def end(self, token: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(self.s).where(self.s.c.token_hash == token_hash(token)))

    def end_sessions(self, name: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(self.s).where(self.s.c.account == name,
                                              self.s.c.kind == "web"))

    # -- personal tokens for scripts ------------------------------------------------------------

    def issue_token(self, name: str, *, days: int = 365) -> str:
        account = self.get(name)
        if account is None:
            raise NotFoundError(f"account {name} does not exist; make it first",
                                code="unknown_account")
        session = self._open(account, stage="", remote="cli", kind="cli",
                             lifetime=dt.timedelta(days=days))
        return session.token

    def token_holder(self, token: str) -> Account:
        """The active account a personal token belongs to, or ``LoginRefused``."""
        now = self.clock.now()
        with self.db.read() as conn:
            row = conn.execute(select(self.s).where(self.s.c.token_hash == token_hash(token),
                                                    self.s.c.kind == "cli")).first()
            account = None if row is None else conn.execute(
                select(self.a).where(self.a.c.name == row.account)).first()
        if row is None or account is None:
            raise LoginRefused("the operator token is not known here (issue one with "
                               "'bianmin hub operator token NAME')", code="bad_token")
        if row.expires_at_ms <= to_ms(now):
            raise LoginRefused(f"the operator token of {row.account} expired on "
                               f"{from_ms(row.expires_at_ms).date()}; issue a new one",
                               code="token_expired")
        if not account.active:
            raise LoginRefused(f"account {row.account} is disabled", code="disabled")
        with self.db.write() as conn:
            conn.execute(update(self.s).where(self.s.c.token_hash == row.token_hash)
                         .values(last_seen_ms=to_ms(now)))
        return _account(account)

    def revoke_tokens(self, name: str) -> int:
        with self.db.write() as conn:
            done = conn.execute(delete(self.s).where(self.s.c.account == name,
                                                     self.s.c.kind == "cli"))
        return int(done.rowcount or 0)


def _minutes_left(until: dt.datetime | None, now: dt.datetime) -> int:
    if until is None:
        return 0
    return max(1, int((until - now).total_seconds() + 59) // 60)
