"""Logins of the pages (issue 11): Argon2id passwords, lockout, sessions that expire, CSRF
tokens per session, personal tokens, TOTP codes -- on a real database file, with a fixed
clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from node.enrolment import NODE_MIGRATIONS
from node.kernel.clock import FixedClock
from node.kernel.errors import UsageError
from node.store.db import Database, sqlite_url
from node.store.schema import NodeAccount, NodeWebSession, table_of
from node.web.accounts import AccountBook, LoginPolicy, LoginRefused
from node.web.security import totp_at, verify_totp

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
PASSWORD = "desk-pass-2026"


@pytest.fixture
def book(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = Database(sqlite_url(tmp_path / "node.db"), migrations=NODE_MIGRATIONS)
    db.upgrade()
    clock = FixedClock(NOW)
    found = AccountBook(db, accounts=table_of(NodeAccount), sessions=table_of(NodeWebSession),
                        clock=clock, policy=LoginPolicy(max_failures=3, lock_minutes=15,
                                                        idle_minutes=30, max_hours=12))
    found.add(name="wang", password=PASSWORD, display_name="王小红", role="agent")
    yield found, clock
    db.close()


def test_a_password_is_stored_as_an_argon2id_hash(book) -> None:  # type: ignore[no-untyped-def]
    accounts, _clock = book
    with accounts.db.read() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM accounts").scalar()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_weak_passwords_and_odd_names_are_refused(book) -> None:  # type: ignore[no-untyped-def]
    accounts, _clock = book
    with pytest.raises(UsageError, match="至少"):
        accounts.add(name="li", password="short")
    with pytest.raises(UsageError, match="no spaces"):
        accounts.add(name="li si", password=PASSWORD)
    with pytest.raises(UsageError, match="already"):
        accounts.add(name="wang", password=PASSWORD)


def test_repeated_wrong_passwords_lock_the_account_for_a_while(book) -> None:  # type: ignore[no-untyped-def]
    accounts, clock = book
    for left in (2, 1):
        with pytest.raises(LoginRefused, match=f"再错 {left} 次"):
            accounts.login("wang", "wrong-password")
    with pytest.raises(LoginRefused, match="锁定") as caught:
        accounts.login("wang", "wrong-password")
    assert caught.value.code == "locked"
    with pytest.raises(LoginRefused, match="锁定"):
        accounts.login("wang", PASSWORD)  # the right password does not open it now
    clock.advance(dt.timedelta(minutes=16))
    assert accounts.login("wang", PASSWORD).account.name == "wang"


def test_an_unknown_name_is_refused_as_a_wrong_password_is(book) -> None:  # type: ignore[no-untyped-def]
    accounts, _clock = book
    with pytest.raises(LoginRefused, match="账号或密码不对"):
        accounts.login("nobody", PASSWORD)


def test_a_session_ends_when_idle_and_at_its_limit(book) -> None:  # type: ignore[no-untyped-def]
    accounts, clock = book
    first = accounts.login("wang", PASSWORD)
    second = accounts.login("wang", PASSWORD)
    assert first.csrf != second.csrf  # each session its own CSRF token
    assert accounts.session(first.token) is not None
    clock.advance(dt.timedelta(minutes=31))
    assert accounts.session(first.token) is None
    third = accounts.login("wang", PASSWORD)
    opened = clock.now()
    for _ in range(30):  # used every half hour, it lasts until its twelve hours are up
        clock.advance(dt.timedelta(minutes=29, seconds=59))
        if accounts.session(third.token) is None:
            break
    assert dt.timedelta(hours=12) <= clock.now() - opened < dt.timedelta(hours=12, minutes=30)
    assert accounts.session("forged") is None


def test_disabling_or_a_new_password_ends_the_sessions(book) -> None:  # type: ignore[no-untyped-def]
    accounts, _clock = book
    session = accounts.login("wang", PASSWORD)
    accounts.set_password("wang", "another-pass-1")
    assert accounts.session(session.token) is None
    session = accounts.login("wang", "another-pass-1")
    accounts.set_active("wang", False)
    assert accounts.session(session.token) is None
    with pytest.raises(LoginRefused, match="停用"):
        accounts.login("wang", "another-pass-1")


def test_a_second_factor_is_owed_until_the_code_is_given(book) -> None:  # type: ignore[no-untyped-def]
    accounts, clock = book
    secret = accounts.enrol_totp("wang")
    session = accounts.login("wang", PASSWORD)
    assert not session.complete
    with pytest.raises(LoginRefused):
        accounts.second_factor(session.token, "000000" if totp_at(secret, clock.now())
                               != "000000" else "111111")
    done = accounts.second_factor(session.token, totp_at(secret, clock.now()))
    assert done.complete


def test_a_personal_token_names_its_holder_until_revoked(book) -> None:  # type: ignore[no-untyped-def]
    accounts, _clock = book
    token = accounts.issue_token("wang", days=30)
    assert accounts.token_holder(token).name == "wang"
    assert accounts.session(token) is None  # a token opens no page
    assert accounts.revoke_tokens("wang") == 1
    with pytest.raises(LoginRefused, match="not known"):
        accounts.token_holder(token)


def test_totp_codes_follow_rfc_6238() -> None:
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890", the RFC's key
    at = dt.datetime.fromtimestamp(59, dt.UTC)
    assert totp_at(secret, at) == "287082"  # the RFC's 94287082, six digits
    assert verify_totp(secret, "287 082", at + dt.timedelta(seconds=30))  # a step of drift
    assert not verify_totp(secret, "287082", at + dt.timedelta(seconds=120))
