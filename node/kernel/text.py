"""What text a record may hold, and what a typed field must look like (issue 12). Pure.

Every string of every record is bounded in length and holds no control characters: no ESC
(a name that rewrites an operator's terminal), no NUL, no bidirectional overrides (a name that
reads backwards on screen) -- only a reason or a note may span lines. The bound is the field's
own (``BOUNDS``) or ``SINGLE_LINE`` / ``MULTI_LINE``. The wire applies them to every record it
encodes (the writer gets a ``UsageError`` naming the field) and decodes (a record that breaks
them is ``malformed_body``); intake applies them before anything is saved, with the typed
fields' patterns: a phone number, a plain finite number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

__all__ = ["BOUNDS", "MULTI_LINE", "SINGLE_LINE", "bound_of", "clean_name", "control_finder",
           "parse_number", "phone_problem", "text_problem"]

SINGLE_LINE = 200  # characters, for a string field not named below
MULTI_LINE = 4000  # a reason, a note, a form field's value
_MULTI_LINE_FIELDS = frozenset({"reason", "note"})

# (value class, field) -> at most this many characters
BOUNDS: dict[tuple[str, str], int] = {
    ("Applicant", "name"): 50,
    ("Applicant", "id_number"): 18,
    ("Applicant", "phone"): 20,
    ("MaterialRef", "filename"): 255,
}

# C0 and C1 controls (a line feed and a tab are allowed where text may span lines), the
# bidirectional embeddings, overrides and isolates, and the byte order mark
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_CONTROL_MULTI = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                            "\ufeff]")

# a mainland mobile (11 digits from 1), or a landline with its area code (0 and 2-3 digits,
# then 7-8), optionally with an extension; spaces and dashes between groups are allowed
_PHONE = re.compile(r"(?:\+?86[ -]?)?(?:1[3-9]\d{9}|0\d{2,3}[ -]?\d{7,8}(?:[ -]?\d{1,6})?)")
_PLAIN_NUMBER = re.compile(r"[-+]?\d{1,15}(?:\.\d{1,6})?")


def bound_of(owner: str, field: str) -> tuple[int, bool]:
    """The length bound of ``owner.field`` and whether it may span lines."""
    multi = field in _MULTI_LINE_FIELDS or (owner, field) == ("CaseSubmitted", "fields")
    return BOUNDS.get((owner, field), MULTI_LINE if multi else SINGLE_LINE), multi


def control_finder(multiline: bool) -> Callable[[str], re.Match[str] | None]:
    """The search for the first character no record's text may hold (``text_problem``'s own;
    the wire's compiled decoders call it directly, the cheap test before the full one)."""
    return (_CONTROL_MULTI if multiline else _CONTROL).search


def text_problem(value: str, *, max_length: int, multiline: bool = False) -> str | None:
    """What is wrong with ``value`` as the text of a record (None: nothing)."""
    if len(value) > max_length:
        return f"has {len(value)} characters, at most {max_length} are allowed"
    found = (_CONTROL_MULTI if multiline else _CONTROL).search(value)
    if found is not None:
        char = found.group()
        what = ("a line break" if char in "\r\n" else "a tab" if char == "\t"
                else unicodedata.name(char, "a control character").lower())
        return (f"holds {what} (U+{ord(char):04X}) at character {found.start() + 1}, which "
                "no record may hold; retype it")
    return None


def clean_name(value: str, *, what: str, max_length: int = 50) -> str:
    """A person's name as a record keeps it: NFC, trimmed, bounded, on one line. Raises
    ``ValueError`` with what is wrong."""
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ValueError(f"{what} is empty")
    problem = text_problem(name, max_length=max_length)
    if problem is not None:
        raise ValueError(f"{what} {problem}")
    return name


def phone_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a phone number (None: nothing; empty is allowed)."""
    if not value or _PHONE.fullmatch(value.strip()):
        return None
    return (f"{value[:40]!r} is not a phone number: give a mobile of 11 digits (13800138000) "
            "or a landline with its area code (0791-86123456)")


def parse_number(value: str, *, integer: bool) -> Decimal:
    """A form's number written plainly: digits, an optional minus and, unless ``integer``,
    up to six decimals -- no exponents (``1e400``), no ``NaN`` or ``Infinity``, at most 15
    digits before the point. Raises ``ValueError`` with what is wrong."""
    text = value.strip()
    if not _PLAIN_NUMBER.fullmatch(text) or (integer and "." in text):
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{value[:40]!r} is not {kind} written plainly (digits, an optional sign"
                         + ("" if integer else ", at most six after the point")
                         + "; no exponent, at most 15 digits)")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover -- the pattern allows only numbers
        raise ValueError(f"{value!r} is not a number") from exc
