"""Table definitions of the hub's database (SQLite by default, PostgreSQL in production).

The record tables are the ones every tier shares (``node.store.schema``); the rest is the hub's:
enrolled nodes, enrolment tokens, and the cases as the county sees them, derived from records.
Only portable SQLAlchemy types are used, so the same migrations run on both databases.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, LargeBinary, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from node.store.schema import (
    AccountColumns,
    AlarmColumns,
    BlobClaimColumns,
    CaseColumns,
    CaseRecordColumns,
    CertificateColumns,
    EvidenceColumns,
    LogHeadColumns,
    RecordColumns,
    RevocationColumns,
    WebSessionColumns,
)

__all__ = [
    "HubAccount",
    "HubAlarm",
    "HubBase",
    "HubBlob",
    "HubBlobChunk",
    "HubBlobClaim",
    "HubCalendarDay",
    "HubCase",
    "HubCasePause",
    "HubCaseRecord",
    "HubCertificate",
    "HubDelegation",
    "HubEvidence",
    "HubLogHead",
    "HubNode",
    "HubOperator",
    "HubOpinion",
    "HubRateHit",
    "HubRecord",
    "HubRevocation",
    "HubSetting",
    "HubToken",
    "HubTrail",
    "HubWebSession",
]


class HubBase(SQLModel, registry=registry()):
    pass


class HubRecord(RecordColumns, HubBase, table=True):
    __tablename__ = "records"


class HubLogHead(LogHeadColumns, HubBase, table=True):
    __tablename__ = "log_heads"


class HubCertificate(CertificateColumns, HubBase, table=True):
    __tablename__ = "certificates"


class HubCaseRecord(CaseRecordColumns, HubBase, table=True):
    __tablename__ = "case_records"


class HubEvidence(EvidenceColumns, HubBase, table=True):
    __tablename__ = "evidence"


class HubAlarm(AlarmColumns, HubBase, table=True):
    __tablename__ = "alarms"


class HubRevocation(RevocationColumns, HubBase, table=True):
    __tablename__ = "revocations"


class HubNode(HubBase, table=True):
    """An enrolled node, and what its last signed heartbeat said."""

    __tablename__ = "nodes"
    node_id: str = Field(primary_key=True, max_length=32)
    tier: str = Field(max_length=16)
    name: str
    parent: str = Field(max_length=32)
    tls_fingerprint: str = Field(max_length=64)
    enrolled_at_ms: int = Field(sa_type=BigInteger)
    last_seen_ms: int | None = Field(default=None, sa_type=BigInteger)
    heartbeat_at_ms: int | None = Field(default=None, sa_type=BigInteger)  # hub clock
    heartbeat_sent_ms: int | None = Field(default=None, sa_type=BigInteger)  # node clock
    claimed_seq: int = Field(default=0, sa_type=BigInteger)
    claimed_hash: bytes = Field(default=b"", sa_type=LargeBinary)


class HubToken(HubBase, table=True):
    """A one-time enrolment token; only its sha256 is stored."""

    __tablename__ = "tokens"
    token_hash: str = Field(primary_key=True, max_length=64)
    node_id: str = Field(max_length=32, index=True)
    tier: str = Field(max_length=16)
    name: str
    parent: str = Field(max_length=32)
    created_at_ms: int = Field(sa_type=BigInteger)
    expires_at_ms: int = Field(sa_type=BigInteger)
    used_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    replaces_keys: bool = False  # for an enrolled node that lost its keys (issue 12)
    reason: str = ""


class HubCase(CaseColumns, HubBase, table=True):
    """A case as the county sees it, derived from records (rebuildable from them)."""

    __tablename__ = "cases"


class HubBlobClaim(BlobClaimColumns, HubBase, table=True):
    __tablename__ = "blob_claims"


class HubOperator(HubBase, table=True):
    """A county (or township) clerk who acts in the system, with a department and a role."""

    __tablename__ = "operators"
    name: str = Field(primary_key=True, max_length=64)
    department: str = Field(max_length=64, index=True)
    role: str = Field(max_length=16)  # clerk | head | supervisor
    active: bool = Field(default=True)
    created_at_ms: int = Field(sa_type=BigInteger)


class HubCasePause(HubBase, table=True):
    """A supplement request pauses the case's clock until the supplement arrives (DESIGN §7)."""

    __tablename__ = "case_pauses"
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=40, index=True)
    started_at_ms: int = Field(sa_type=BigInteger)
    ended_at_ms: int | None = Field(default=None, sa_type=BigInteger)


class HubOpinion(HubBase, table=True):
    """The latest opinion of each department on a joint item (并联审批)."""

    __tablename__ = "case_opinions"
    case_id: str = Field(primary_key=True, max_length=40)
    department: str = Field(primary_key=True, max_length=64)
    favourable: bool
    reason: str = Field(sa_type=Text)
    operator: str = Field(max_length=64)
    at_ms: int = Field(sa_type=BigInteger)


class HubTrail(HubBase, table=True):
    """The audit trail: every operator action and every node action on a case, by whom, when,
    and which signed record says so. Refusals and alarms have their own tables and are merged
    in when the trail is read."""

    __tablename__ = "trail"
    id: int | None = Field(default=None, primary_key=True)
    at_ms: int = Field(sa_type=BigInteger, index=True)
    kind: str = Field(max_length=32)
    case_id: str = Field(default="", max_length=40, index=True)
    node_id: str = Field(default="", max_length=32, index=True)
    operator: str = Field(default="", max_length=64, index=True)
    detail: str = Field(default="", sa_type=Text)
    log_id: str = Field(default="", max_length=32)
    seq: int = Field(default=0, sa_type=BigInteger)
    # how the operator was authenticated: console | token | local-admin ("": a node's action)
    via: str = Field(default="", max_length=16)


class HubCalendarDay(HubBase, table=True):
    """The working-day calendar deadlines count in: holidays and adjusted working days."""

    __tablename__ = "calendar_days"
    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD
    kind: str = Field(max_length=8)  # holiday | workday


class HubBlob(HubBase, table=True):
    """An attachment the hub holds (or is receiving): content-addressed, in the database so
    that every hub process sees it (DESIGN §9)."""

    __tablename__ = "blobs"
    sha256: bytes = Field(primary_key=True, sa_type=LargeBinary)
    size: int = Field(sa_type=BigInteger)
    received: int = Field(sa_type=BigInteger)
    complete: bool = Field(default=False)
    created_at_ms: int = Field(sa_type=BigInteger)


class HubBlobChunk(HubBase, table=True):
    __tablename__ = "blob_chunks"
    sha256: bytes = Field(primary_key=True, sa_type=LargeBinary)
    offset: int = Field(primary_key=True, sa_type=BigInteger,
                        sa_column_kwargs={"autoincrement": False})
    data: bytes = Field(sa_type=LargeBinary)


class HubDelegation(HubBase, table=True):
    """A delegation granted to a township (the signed record is in the hub's log)."""

    __tablename__ = "delegations"
    id: int | None = Field(default=None, primary_key=True)
    township: str = Field(max_length=32, index=True)
    record_hash: bytes = Field(sa_type=LargeBinary, index=True)
    items: str = Field(sa_type=Text)  # comma-separated item codes
    valid_from_ms: int = Field(sa_type=BigInteger)
    valid_until_ms: int = Field(sa_type=BigInteger)
    catalog_version: int = Field(sa_type=BigInteger)
    granted_at_ms: int = Field(sa_type=BigInteger)
    ended_at_ms: int | None = Field(default=None, sa_type=BigInteger)  # replaced or withdrawn
    # the township log's highest seq the county had seen (committed or claimed by a signed
    # heartbeat) when the grant ended: decisions up to it were made while it was in force
    seen_seq_at_end: int | None = Field(default=None, sa_type=BigInteger)


class HubSetting(HubBase, table=True):
    __tablename__ = "settings"
    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)


class HubAccount(AccountColumns, HubBase, table=True):
    """The console login of an operator, supervisor or administrator (``operators``)."""

    __tablename__ = "accounts"


class HubWebSession(WebSessionColumns, HubBase, table=True):
    __tablename__ = "web_sessions"


class HubRateHit(HubBase, table=True):
    """One try at a rate-limited entrance (the public status lookup, a login), by whom (the
    client's address), so that every hub process counts the same tries."""

    __tablename__ = "rate_hits"
    id: int | None = Field(default=None, primary_key=True)
    bucket: str = Field(max_length=96, index=True)  # "lookup:203.0.113.7"
    at_ms: int = Field(sa_type=BigInteger, index=True)
