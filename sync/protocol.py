"""The sync protocol's pure logic (DESIGN §8): batching and acknowledgement. No I/O.

Push: a node sends its records in batches bounded in count and bytes; the upstream replies with
the highest contiguous seq of that log it has *committed*. The node moves its synced mark to
exactly that value -- forward when records were stored, backward when the upstream turns out to
hold less than the node believed (a restored database): the node then resends from there.
Resending is always safe because applying a record is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sync.errors import ProtocolViolation

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_BATCH_RECORDS",
    "DEFAULT_CHUNK_BYTES",
    "BlobChunk",
    "BlobState",
    "Certificates",
    "EnrolReply",
    "EnrolRequest",
    "KeyReplacementGrant",
    "PullBatch",
    "PushResult",
    "RecordOutcome",
    "RotateKey",
    "WireRecord",
    "batches",
    "chunk_plan",
    "next_push_mark",
]

DEFAULT_BATCH_RECORDS = 500
DEFAULT_BATCH_BYTES = 1 << 20  # 1 MiB of record bytes per message, far below the message bound


@dataclass(frozen=True, slots=True)
class RotateKey:
    """A request to certify a new records key (``Sync/RotateKey``): for the caller, or, from a
    township, for one of its villages with that village's own authorization."""

    records_csr: bytes
    node_id: str = ""
    authorization: bytes = b""


@dataclass(frozen=True, slots=True)
class WireRecord:
    """A record as the wire carries it: signed bytes, nothing interpreted."""

    body: bytes
    signature: bytes
    seq: int = 0  # the sender's seq for this record, for batching bookkeeping only
    # a heartbeat a township relays: when it received it (its clock, ms); 0: received now
    received_at_ms: int = 0

    @property
    def size(self) -> int:
        return len(self.body) + len(self.signature)


@dataclass(frozen=True, kw_only=True)
class RecordOutcome:
    seq: int
    status: str  # "accepted" | "already_had" | "refused"
    reason_code: str = ""
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class PushResult:
    committed_seq: int
    outcomes: tuple[RecordOutcome, ...] = ()

    @property
    def refused(self) -> tuple[RecordOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "refused")


Certificates = tuple[bytes, ...]


@dataclass(frozen=True, kw_only=True)
class PullBatch:
    records: tuple[WireRecord, ...]
    certificates: Certificates
    cursors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EnrolRequest:
    token: str
    node_id: str
    records_csr: bytes
    tls_csr: bytes
    replace_keys: bool = False


@dataclass(frozen=True, kw_only=True)
class KeyReplacementGrant:
    """The county's leave for a node that lost its keys to continue its log under new ones
    after ``after_seq`` (sync.proto)."""

    after_seq: int
    prev_hash: bytes
    authorization: bytes
    hub_key_id: bytes
    reason: str


@dataclass(frozen=True, kw_only=True)
class EnrolReply:
    records_certificate: bytes
    tls_certificate: bytes
    ca_certificate: bytes
    upstream_certificates: Certificates
    county_code: str
    tier: str
    upstream_node_id: str
    name: str
    key_replacement: KeyReplacementGrant | None = None


DEFAULT_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, kw_only=True)
class BlobState:
    """What an upstream holds of one attachment."""

    sha256: bytes
    size: int = 0
    received: int = 0
    complete: bool = False


@dataclass(frozen=True, kw_only=True)
class BlobChunk:
    sha256: bytes
    size: int
    offset: int
    data: bytes
    log_id: str = ""  # for whose log (a township relaying its village's); "": the sender's


def chunk_plan(size: int, received: int, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               ) -> Iterator[tuple[int, int]]:
    """``(offset, length)`` of the chunks still to send of a blob of ``size`` bytes of which
    the upstream already holds ``received``: an interrupted upload resumes, never restarts."""
    if chunk_bytes < 1:
        raise ValueError("chunk size must be positive")
    offset = min(max(received, 0), size)
    while offset < size:
        length = min(chunk_bytes, size - offset)
        yield offset, length
        offset += length


def batches(
    records: Iterable[WireRecord],
    *,
    max_records: int = DEFAULT_BATCH_RECORDS,
    max_bytes: int = DEFAULT_BATCH_BYTES,
) -> Iterator[list[WireRecord]]:
    """Group records into batches of at most ``max_records`` and about ``max_bytes``.

    A record larger than ``max_bytes`` travels alone (its own size bound is the receiver's).
    Consumes ``records`` lazily, so a long backlog never sits in memory at once.
    """
    if max_records < 1 or max_bytes < 1:
        raise ValueError("batch bounds must be positive")
    batch: list[WireRecord] = []
    size = 0
    for record in records:
        if batch and (len(batch) >= max_records or size + record.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record.size
    if batch:
        yield batch


def next_push_mark(sent: Sequence[WireRecord], committed_seq: int) -> int:
    """The node's new synced mark after the upstream acknowledged a batch.

    The upstream can never have committed more of a log than the node has written, so an ack
    beyond the last record sent is a protocol violation.
    """
    if sent and committed_seq > sent[-1].seq:
        raise ProtocolViolation(
            f"upstream acknowledged seq {committed_seq}, beyond the last record sent "
            f"({sent[-1].seq})",
        )
    return committed_seq
