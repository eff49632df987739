"""The 18-character resident identity number (公民身份号码, GB 11643-1999). Pure.

Layout: 6-digit address code, 8-digit birth date (YYYYMMDD), 3-digit sequence, 1 check
character. The check character is ISO 7064 MOD 11-2 over the first 17 digits: ``X`` stands
for 10.
"""

from __future__ import annotations

import datetime as dt
import re

from node.kernel.errors import UsageError

__all__ = ["check_digit", "validate_resident_id"]

_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９ｘＸ", "0123456789xX")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_digit(first17: str) -> str:
    """The check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def validate_resident_id(value: str, *, today: dt.date | None = None) -> str:
    """The normalized id (upper-case ``X``), or ``UsageError`` saying what is wrong."""
    # Chinese input methods type full-width digits; read them as the digits they are.
    number = value.strip().translate(_FULL_WIDTH).upper()
    if len(number) != 18:
        raise UsageError(
            f"resident id {value!r} has {len(number)} characters; it must have 18",
            code="bad_resident_id",
        )
    if not _SHAPE.fullmatch(number):
        raise UsageError(
            f"resident id {value!r}: the first 17 characters must be digits and the last a "
            "digit or X",
            code="bad_resident_id",
        )
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise UsageError(
            f"resident id {value!r}: {number[6:14]} is not a valid birth date",
            code="bad_resident_id",
        ) from exc
    if born.year < 1880 or (today is not None and born > today):
        raise UsageError(f"resident id {value!r}: birth date {born} is not plausible",
                         code="bad_resident_id")
    expected = check_digit(number[:17])
    if number[17] != expected:
        raise UsageError(
            f"resident id {value!r}: check digit is {number[17]} but should be {expected}; "
            "the number was probably mistyped",
            code="bad_resident_id",
        )
    return number
