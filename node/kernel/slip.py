"""The codes printed on an applicant's slips (issue 3, issue 11).

* The **verification code** of a result slip is random and part of the signed decision, so
  anyone can ask the deciding tier to confirm it.
* The **receipt code** of a receipt (受理回执) is read from the signature of the case's signed
  submission: the desk and the county hold the same bytes, so both compute the same code with
  no new field on the wire, and nobody without the node's key can compute it. With the case
  number it opens the public status lookup (办件查询) before any decision exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["codes_match", "normalized", "receipt_code", "verification_code"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def verification_code() -> str:
    """A short code for the result slip, e.g. ``7KQ2-M9XD`` (40 random bits); it is part of
    the signed decision, so anyone can ask the deciding tier to confirm it."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def receipt_code(submission_signature: bytes) -> str:
    """The receipt's code, 40 bits of the submission's signature, e.g. ``3F7Q-K2MD``."""
    number = int.from_bytes(hashlib.sha256(b"bianmin receipt code\x00" + submission_signature)
                            .digest()[:5], "big")
    chars = "".join(_ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(8)))
    return f"{chars[:4]}-{chars[4:]}"


def normalized(code: str) -> str:
    """As typed: lower case, spaces, a missing dash, and the letters people confuse with digits
    (O, I, L) are read the Crockford way."""
    text = code.strip().upper().replace(" ", "").replace("-", "")
    text = text.translate(str.maketrans("OIL", "011"))
    return f"{text[:4]}-{text[4:]}" if len(text) == 8 else text


def codes_match(typed: str, *expected: str) -> bool:
    """``typed`` is one of the ``expected`` codes (compared in constant time)."""
    want = normalized(typed).encode()
    found = False
    for code in expected:
        if code:
            found |= hmac.compare_digest(want, normalized(code).encode())
    return found
