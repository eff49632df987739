"""Secrets of the pages (issue 11): password hashes, session tokens, CSRF tokens, TOTP codes.

* Passwords are hashed with Argon2id (argon2-cffi) at OWASP's lower bound -- 19 MiB, two
  passes -- so a login costs a village PC a few tens of milliseconds and little memory.
* Session and personal tokens are 256 random bits; the database keeps only their sha256, so
  a copy of the database logs nobody in.
* TOTP (RFC 6238: HMAC-SHA1, 30-second steps, six digits) is written out here rather than
  pulled in: it is twenty lines, and any authenticator app reads the ``otpauth://`` URI.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import struct
import urllib.parse

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["MIN_PASSWORD", "compare", "hash_password", "new_token", "new_totp_secret",
           "password_problem", "token_hash", "totp_at", "totp_uri", "verify_password",
           "verify_totp"]

MIN_PASSWORD = 8
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@functools.cache
def _dummy() -> str:
    """Checked when the account does not exist, so that a missing name takes as long as a
    wrong password (no telling which names exist by the time a refusal takes)."""
    return _HASHER.hash("not a password of anybody")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str, name: str = "") -> str | None:
    """What is wrong with a new password, in Chinese, or None."""
    if len(password) < MIN_PASSWORD:
        return f"密码至少 {MIN_PASSWORD} 位"
    if name and password.strip().lower() == name.strip().lower():
        return "密码不能与账号相同"
    if len(set(password)) < 4:
        return "密码太简单：请混用字母、数字和符号"
    return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def compare(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


# -- TOTP (RFC 6238) ----------------------------------------------------------------------------

_STEP_S = 30
_DIGITS = 6


def new_totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.strip().upper() + "=" * (-len(secret.strip()) % 8)
    return base64.b32decode(padded)


def totp_at(secret: str, at: dt.datetime, *, step_offset: int = 0) -> str:
    counter = int(at.timestamp()) // _STEP_S + step_offset
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**_DIGITS).zfill(_DIGITS)


def verify_totp(secret: str, code: str, at: dt.datetime) -> bool:
    """The code of this step or of the one before or after (clocks drift by a few seconds)."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == _DIGITS):
        return False
    return any(compare(totp_at(secret, at, step_offset=o), code) for o in (-1, 0, 1))


def totp_uri(secret: str, account: str, issuer: str) -> str:
    label = urllib.parse.quote(f"{issuer}:{account}")
    query = urllib.parse.urlencode({"secret": secret, "issuer": issuer})
    return f"otpauth://totp/{label}?{query}"
