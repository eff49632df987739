"""The verification code printed on an applicant's result slip (issue 3)."""

from __future__ import annotations

import secrets

__all__ = ["verification_code"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def verification_code() -> str:
    """A short code for the result slip, e.g. ``7KQ2-M9XD`` (40 random bits); it is part of
    the signed decision, so anyone can ask the deciding tier to confirm it."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"
