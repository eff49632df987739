"""Table definitions of a node's SQLite file, and the record tables every tier shares.

SQLModel describes the schema; the hot paths write with SQLAlchemy Core on ``Model.__table__``
(DESIGN §9). Numbers that can grow past 2^31 (seqs, millisecond times, sizes) are BigInteger.
Each database has its own registry, so the node's and the hub's migrations see only their own
tables. Changing a table means a new Alembic migration (``node/migrations``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, LargeBinary, Table, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

__all__ = [
    "AccountColumns",
    "AlarmColumns",
    "BlobClaimColumns",
    "CaseColumns",
    "CaseRecordColumns",
    "CertificateColumns",
    "EvidenceColumns",
    "LogHeadColumns",
    "NodeAccount",
    "NodeAlarm",
    "NodeBase",
    "NodeBlobClaim",
    "NodeCase",
    "NodeCaseCounter",
    "NodeCaseRecord",
    "NodeCertificate",
    "NodeEvidence",
    "NodeLogHead",
    "NodeRecord",
    "NodeRevocation",
    "NodeSyncState",
    "NodeWebSession",
    "RecordColumns",
    "RevocationColumns",
    "WebSessionColumns",
    "table_of",
]


class RecordColumns(SQLModel):
    """A record exactly as signed: raw body and signature, plus its hash (DESIGN §3)."""

    log_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True, sa_type=BigInteger,
                     sa_column_kwargs={"autoincrement": False})
    hash: bytes = Field(sa_type=LargeBinary)
    body: bytes = Field(sa_type=LargeBinary)
    signature: bytes = Field(sa_type=LargeBinary)
    # the node a record of an upstream log is meant for (None: every node), for pulls
    audience: str | None = Field(default=None, max_length=32, index=True)
    stored_at_ms: int = Field(sa_type=BigInteger)


class LogHeadColumns(SQLModel):
    """Where each log stands here; locked while appending so seqs never collide.
    ``key_id`` is the records key in force for the log's next record (empty: any key the
    county CA certified to the log's node)."""

    log_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(sa_type=BigInteger)
    hash: bytes = Field(sa_type=LargeBinary)
    key_id: bytes = Field(default=b"", sa_type=LargeBinary)


class EvidenceColumns(SQLModel):
    """A refused record, kept byte for byte: it may be an attack (STYLE §18, DESIGN §3)."""

    id: int | None = Field(default=None, primary_key=True)
    log_id: str = Field(max_length=32, index=True)
    seq: int = Field(sa_type=BigInteger)
    hash: bytes = Field(sa_type=LargeBinary, index=True)
    body: bytes = Field(sa_type=LargeBinary)
    signature: bytes = Field(sa_type=LargeBinary)
    reason_code: str = Field(max_length=32, index=True)
    message: str = Field(sa_type=Text)
    peer: str = Field(max_length=32)  # the node whose connection brought it
    received_at_ms: int = Field(sa_type=BigInteger)


class AlarmColumns(SQLModel):
    """Something an operator must look at: a fork, a forged or altered record, ..."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    node_id: str = Field(max_length=32, index=True)  # whose log it concerns
    peer: str = Field(max_length=32)  # who brought it
    log_id: str = Field(max_length=32)
    seq: int = Field(sa_type=BigInteger)
    message: str = Field(sa_type=Text)
    raised_at_ms: int = Field(sa_type=BigInteger)
    resolved_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    resolved_by: str = Field(default="")
    resolution: str = Field(default="", sa_type=Text)


class RevocationColumns(SQLModel):
    """A revoked node: records of its log from ``from_seq`` on are refused."""

    node_id: str = Field(primary_key=True, max_length=32)
    from_seq: int = Field(sa_type=BigInteger)
    reason: str = Field(sa_type=Text)
    operator: str
    revoked_at_ms: int = Field(sa_type=BigInteger)


class CertificateColumns(SQLModel):
    """Signing certificates (records and catalog keys), checked against the county CA."""

    key_id: bytes = Field(primary_key=True, sa_type=LargeBinary)
    node_id: str = Field(max_length=32, index=True)
    purpose: str = Field(max_length=16)
    der: bytes = Field(sa_type=LargeBinary)
    fingerprint: str = Field(max_length=64)


class CaseRecordColumns(SQLModel):
    """Which records concern which case: the case's history, in order."""

    case_id: str = Field(primary_key=True, max_length=40)
    log_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True, sa_type=BigInteger,
                     sa_column_kwargs={"autoincrement": False})


class NodeBase(SQLModel, registry=registry()):
    pass


class NodeRecord(RecordColumns, NodeBase, table=True):
    __tablename__ = "records"


class NodeLogHead(LogHeadColumns, NodeBase, table=True):
    __tablename__ = "log_heads"


class NodeCertificate(CertificateColumns, NodeBase, table=True):
    __tablename__ = "certificates"


class NodeCaseRecord(CaseRecordColumns, NodeBase, table=True):
    __tablename__ = "case_records"


class NodeEvidence(EvidenceColumns, NodeBase, table=True):
    __tablename__ = "evidence"


class NodeAlarm(AlarmColumns, NodeBase, table=True):
    __tablename__ = "alarms"


class NodeRevocation(RevocationColumns, NodeBase, table=True):
    __tablename__ = "revocations"


class NodeSyncState(NodeBase, table=True):
    """Sync marks: ``pushed`` (own log, acked upstream) and ``cursor:LOG`` (pulled logs); a
    mark may carry a line of text (``last_failure_ms``: why)."""

    __tablename__ = "sync_state"
    name: str = Field(primary_key=True, max_length=64)
    value: int = Field(sa_type=BigInteger)
    note: str | None = None


class NodeVillageHeartbeat(NodeBase, table=True):
    """A township's villages' latest signed heartbeats, relayed to the county with their logs
    (issue 12): the body and signature as the village sent them, and when they came."""

    __tablename__ = "village_heartbeats"
    node_id: str = Field(primary_key=True, max_length=32)
    body: bytes = Field(sa_type=LargeBinary)
    signature: bytes = Field(sa_type=LargeBinary)
    received_at_ms: int = Field(sa_type=BigInteger)
    relayed: bool = False


class NodeCaseCounter(NodeBase, table=True):
    """The last daily number used for case ids, per local date."""

    __tablename__ = "case_counters"
    day: str = Field(primary_key=True, max_length=8)
    last: int


class CaseColumns(SQLModel):
    """A case as one tier sees it, derived from records (it can be rebuilt from them): the
    fields of ``node.kernel.projector.Case``, the same at every tier. Lists are stored as text:
    material codes and departments comma-separated, flags one per line."""

    case_id: str = Field(primary_key=True, max_length=40)
    origin_node: str = Field(max_length=32, index=True)  # the node that took it
    item_code: str = Field(max_length=32, index=True)
    item_name: str
    decided_by: str = Field(max_length=16)
    departments: str = Field(sa_type=Text)
    applicant_name: str
    applicant_id: str = Field(max_length=18)
    state: str = Field(max_length=24, index=True)
    complete: bool
    missing: str = Field(sa_type=Text, default="")
    requested: str = Field(default="", sa_type=Text)  # materials the deciding tier asked for
    reason: str = Field(sa_type=Text, default="")
    operator: str = Field(default="")
    department: str = Field(default="")
    outcome: str = Field(default="", max_length=16)  # approved | rejected | not_accepted
    catalog_version: int = Field(sa_type=BigInteger)
    catalog_expired: bool = Field(default=False)  # taken under an expired catalog (DESIGN §5)
    submitted_at_ms: int = Field(sa_type=BigInteger)  # the origin's clock
    received_at_ms: int = Field(sa_type=BigInteger)  # this tier's: the county counts from it
    decided_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    updated_at_ms: int = Field(sa_type=BigInteger)
    flags: str = Field(default="", sa_type=Text)  # findings worth a look, one per line
    accepted_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    concluded_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    supplements: int = Field(default=0)  # supplement requests made
    last_own_seq: int = Field(default=0, sa_type=BigInteger)  # origin log's last record on it
    # a township's decision the county has not confirmed yet (``projector.Provisional``)
    provisional: str = Field(default="", max_length=64)


class BlobClaimColumns(SQLModel):
    """Which log may name which attachment (DESIGN §4): the log whose node uploaded it (or for
    which its township relayed it). A blob is stored once; each log proves it holds the bytes
    by uploading them whole."""

    sha256: bytes = Field(primary_key=True, sa_type=LargeBinary)
    log_id: str = Field(primary_key=True, max_length=32)
    claimed_at_ms: int = Field(sa_type=BigInteger)


class NodeCase(CaseColumns, NodeBase, table=True):
    __tablename__ = "cases"


class NodeBlobClaim(BlobClaimColumns, NodeBase, table=True):
    __tablename__ = "blob_claims"


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel table class (for Core inserts on hot paths)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


# -- the pages' logins (DESIGN §11, issue 11) ---------------------------------------------------


class AccountColumns(SQLModel):
    """A person's login to a tier's pages (账号): a village agent or township clerk at a node,
    an operator, supervisor or administrator at the county (whose role and department are the
    ``operators`` table's). The password is an Argon2id hash; repeated failures lock it."""

    name: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(default="")
    role: str = Field(default="", max_length=16)  # a node's: agent | clerk
    password_hash: str = Field(sa_type=Text)
    totp_secret: str = Field(default="", max_length=64)  # base32; "": no second factor
    failed_logins: int = Field(default=0)
    locked_until_ms: int | None = Field(default=None, sa_type=BigInteger)
    active: bool = Field(default=True)
    created_at_ms: int = Field(sa_type=BigInteger)
    last_login_ms: int | None = Field(default=None, sa_type=BigInteger)


class WebSessionColumns(SQLModel):
    """A logged-in session (or, ``kind = "cli"``, a personal token for scripted use), kept in
    the database so that any serving process answers any request. Only the token's sha256 is
    stored; ``stage`` is "totp" while the second factor is still owed."""

    token_hash: str = Field(primary_key=True, max_length=64)
    account: str = Field(max_length=64, index=True)
    kind: str = Field(default="web", max_length=8)  # web | cli
    stage: str = Field(default="", max_length=8)
    csrf: str = Field(max_length=64)
    remote: str = Field(default="", max_length=64)
    created_at_ms: int = Field(sa_type=BigInteger)
    last_seen_ms: int = Field(sa_type=BigInteger)
    expires_at_ms: int = Field(sa_type=BigInteger, index=True)


class NodeAccount(AccountColumns, NodeBase, table=True):
    __tablename__ = "accounts"


class NodeWebSession(WebSessionColumns, NodeBase, table=True):
    __tablename__ = "web_sessions"
