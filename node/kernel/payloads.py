"""What a record says: the payloads of DESIGN §3 as frozen values.

Each payload has exactly one writer (DESIGN §6): case submissions and pre-reviews are written by
the node that took the case, decisions by the deciding tier, catalog versions by the catalog key.
The protobuf form of these values lives in ``node.kernel.wire`` and nowhere else (STYLE §5).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from node.kernel.catalog import Catalog
from node.kernel.deadlines import Calendar

__all__ = [
    "Accepted",
    "ActionRefused",
    "Applicant",
    "CalendarPublished",
    "CasePayload",
    "CaseSubmitted",
    "CatalogPublished",
    "Concluded",
    "Decision",
    "DecisionConfirmed",
    "Delegation",
    "DelegationWithdrawn",
    "Heartbeat",
    "KeyReplaced",
    "KeyRotated",
    "MaterialRef",
    "NodeRevoked",
    "NotAccepted",
    "Opinion",
    "Outcome",
    "Payload",
    "PreReviewed",
    "SupplementRequested",
    "Supplemented",
    "Withdrawn",
    "audience_of",
    "referenced_blobs",
]


class Outcome(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True, kw_only=True)
class Applicant:
    name: str
    id_number: str
    phone: str = ""


@dataclass(frozen=True, kw_only=True)
class MaterialRef:
    """A material presented at the desk; ``sha256`` names the stored scan, if any."""

    code: str
    sha256: bytes = b""
    size: int = 0
    filename: str = ""

    @property
    def scanned(self) -> bool:
        return bool(self.sha256)


@dataclass(frozen=True, kw_only=True)
class CaseSubmitted:
    case_id: str
    item_code: str
    applicant: Applicant
    materials: tuple[MaterialRef, ...]
    fields: tuple[tuple[str, str], ...]
    catalog_version: int
    catalog_hash: bytes


@dataclass(frozen=True, kw_only=True)
class PreReviewed:
    case_id: str
    complete: bool
    missing: tuple[str, ...]
    catalog_version: int
    catalog_hash: bytes


@dataclass(frozen=True, kw_only=True)
class Supplemented:
    case_id: str
    materials: tuple[MaterialRef, ...]
    complete: bool
    missing: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Withdrawn:
    case_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Concluded:
    case_id: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Accepted:
    case_id: str
    operator: str
    department: str


@dataclass(frozen=True, kw_only=True)
class NotAccepted:
    case_id: str
    reason: str
    operator: str
    department: str


@dataclass(frozen=True, kw_only=True)
class SupplementRequested:
    case_id: str
    materials: tuple[str, ...]
    reason: str
    operator: str
    department: str


@dataclass(frozen=True, kw_only=True)
class Opinion:
    case_id: str
    department: str
    favourable: bool
    reason: str
    operator: str


@dataclass(frozen=True, kw_only=True)
class ActionRefused:
    case_id: str
    refused_log_id: str
    refused_seq: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class Decision:
    case_id: str
    outcome: Outcome
    reason: str
    operator: str
    department: str = ""
    verification_code: str = ""
    delegation: bytes = b""  # a township's decision cites the delegation record's hash


@dataclass(frozen=True, kw_only=True)
class DecisionConfirmed:
    """The county confirms a township's decision on a delegated item (below the county it was
    provisional until now)."""

    case_id: str
    decision_log_id: str
    decision_seq: int
    decision_hash: bytes


@dataclass(frozen=True, kw_only=True)
class Delegation:
    """The county lets a township decide these items (下放事项), for a time."""

    township: str
    items: tuple[str, ...]
    valid_from: dt.datetime
    valid_until: dt.datetime
    catalog_version: int
    operator: str


@dataclass(frozen=True, kw_only=True)
class DelegationWithdrawn:
    township: str
    reason: str
    operator: str


@dataclass(frozen=True, kw_only=True)
class NodeRevoked:
    node_id: str
    from_seq: int
    reason: str
    operator: str


@dataclass(frozen=True, kw_only=True)
class KeyRotated:
    new_certificate: bytes  # DER


@dataclass(frozen=True, kw_only=True)
class KeyReplaced:
    """The log continues under a new key after the old one was lost: signed by the *new* key,
    with the county's authorization for this very place in the log (records.proto)."""

    new_certificate: bytes  # DER
    authorization: bytes  # the hub's records key's signature (identity.key_replacement_message)
    hub_key_id: bytes
    reason: str


@dataclass(frozen=True, kw_only=True)
class Heartbeat:
    """Not a record payload: a node's signed statement of its log head (see records.proto)."""

    node_id: str
    head_seq: int
    head_hash: bytes
    sent_at: dt.datetime
    key_id: bytes


@dataclass(frozen=True, kw_only=True)
class CatalogPublished:
    version: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    catalog: Catalog


@dataclass(frozen=True, kw_only=True)
class CalendarPublished:
    """The county's working-day calendar (DESIGN §7), a record of the hub's log sent to every
    node: a desk's receipt counts the promised and due dates in the same working days as the
    county's supervision. The latest one a node holds is in force there. Dates are
    ``YYYY-MM-DD``; a calendar ``Calendar`` refuses (a date both a holiday and a workday, a
    weekday as 调休) makes the record malformed."""

    name: str
    holidays: tuple[str, ...]
    workdays: tuple[str, ...]

    def __post_init__(self) -> None:
        self.calendar()

    def calendar(self) -> Calendar:
        return Calendar(name=self.name,
                        holidays=frozenset(dt.date.fromisoformat(d) for d in self.holidays),
                        workdays=frozenset(dt.date.fromisoformat(d) for d in self.workdays))

    @classmethod
    def of(cls, calendar: Calendar) -> CalendarPublished:
        return cls(name=calendar.name,
                   holidays=tuple(sorted(d.isoformat() for d in calendar.holidays)),
                   workdays=tuple(sorted(d.isoformat() for d in calendar.workdays)))


CasePayload = (CaseSubmitted | PreReviewed | Supplemented | Withdrawn | Concluded | Decision
               | Accepted | NotAccepted | SupplementRequested | Opinion | ActionRefused
               | DecisionConfirmed)
Payload = (CasePayload | CatalogPublished | NodeRevoked | KeyRotated | KeyReplaced | Delegation
           | DelegationWithdrawn | CalendarPublished)


def referenced_blobs(record_or_payload: object) -> list[bytes]:
    """The sha256 of every attachment a record names (its signature covers them)."""
    payload = getattr(record_or_payload, "payload", record_or_payload)
    if isinstance(payload, CaseSubmitted | Supplemented):
        return [m.sha256 for m in payload.materials if m.sha256]
    return []


def audience_of(record_or_payload: object) -> str | None:
    """The node a record is meant for, when it travels down the tree: the node that took the
    case it is about, the township a delegation is for, or everyone (None)."""
    payload = getattr(record_or_payload, "payload", record_or_payload)
    if isinstance(payload, Delegation | DelegationWithdrawn):
        return payload.township
    case_id = getattr(payload, "case_id", None)
    if isinstance(case_id, str):
        parts = case_id.split("-")
        return parts[1] if len(parts) == 4 else None
    return None
