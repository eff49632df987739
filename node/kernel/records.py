"""Signed, hash-chained records as values (DESIGN §3). Pure: no I/O.

A record is ``body`` (the serialized ``RecordBody``) plus ``signature`` (Ed25519 over exactly
those bytes). ``hash = sha256(body)``; seq starts at 1 with no gaps; the first record's previous
hash is 32 zero bytes. A log is therefore a hash chain: dropping, reordering or editing one
record breaks verification of everything after it.

This module makes and parses records; ``node.kernel.chain`` verifies them, and
``node.kernel.authority`` says whether their writer may say what they say.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519

from node.kernel.clock import Clock
from node.kernel.errors import VerificationError
from node.kernel.identity import Signer, key_id_of, load_certificate
from node.kernel.payloads import KeyRotated, Payload
from node.kernel.wire import Header, decode_body, encode_body

__all__ = [
    "MAX_BODY_BYTES",
    "SIGNATURE_BYTES",
    "ZERO_HASH",
    "LogHead",
    "Record",
    "RecordVerdict",
    "Verdict",
    "parse_record",
    "seal",
]

ZERO_HASH = bytes(32)
MAX_BODY_BYTES = 64 * 1024  # bodies name attachments by hash; 64 KiB is far above any real one
SIGNATURE_BYTES = 64
# A log head's key in force while the county waits for the ``KeyReplaced`` of a node that lost
# its keys: no record is signed by it, so only the replacement itself can come next.
REPLACEMENT_PENDING = b"\xff" * 32


@dataclass(frozen=True, kw_only=True)
class LogHead:
    """Where a log stands: its last seq and that record's hash (``0`` / zeros when empty),
    and the records key in force for the next record (empty: any key certified to the log's
    node; set at enrolment and moved by ``KeyRotated`` records)."""

    seq: int = 0
    hash: bytes = ZERO_HASH
    key_id: bytes = b""


@dataclass(frozen=True, kw_only=True)
class Record:
    body: bytes
    signature: bytes
    hash: bytes
    header: Header
    payload: Payload

    @property
    def log_id(self) -> str:
        return self.header.log_id

    @property
    def seq(self) -> int:
        return self.header.seq

    @property
    def head(self) -> LogHead:
        """The log head once this record is appended. The key in force stays this record's
        signer, unless the record rotates the log to a new key."""
        key_id = self.header.key_id
        if isinstance(self.payload, KeyRotated):
            try:
                public_key = load_certificate(self.payload.new_certificate).public_key()
                if isinstance(public_key, ed25519.Ed25519PublicKey):
                    key_id = key_id_of(public_key)
            except VerificationError:
                pass  # an unreadable rotation never gets accepted (``chain_batch``)
        return LogHead(seq=self.seq, hash=self.hash, key_id=key_id)

    def __str__(self) -> str:
        return f"{self.log_id}#{self.seq}"


def seal(payload: Payload, *, log_id: str, head: LogHead, signer: Signer, clock: Clock) -> Record:
    """The next record of a log: body encoded once, signed once, never re-serialized."""
    header = Header(
        log_id=log_id,
        seq=head.seq + 1,
        prev_hash=head.hash,
        recorded_at=clock.now(),
        key_id=signer.key_id,
    )
    body = encode_body(header, payload)
    return Record(
        body=body,
        signature=signer.sign(body),
        hash=hashlib.sha256(body).digest(),
        header=header,
        payload=payload,
    )


def parse_record(body: bytes, signature: bytes) -> Record:
    """Values from received bytes; does not check the signature (see ``verify_log_batch``)."""
    if len(body) > MAX_BODY_BYTES:
        raise VerificationError(
            f"record body is {len(body)} bytes, over the {MAX_BODY_BYTES}-byte bound",
            code="oversized",
        )
    if len(signature) != SIGNATURE_BYTES:
        raise VerificationError("record signature is not a 64-byte Ed25519 signature",
                                code="bad_signature")
    header, payload = decode_body(body)
    return Record(
        body=body,
        signature=signature,
        hash=hashlib.sha256(body).digest(),
        header=header,
        payload=payload,
    )


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"
    ALREADY_HAD = "already_had"
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True)
class RecordVerdict:
    seq: int
    verdict: Verdict
    reason_code: str = ""
    message: str = ""
    record: Record | None = None  # the parsed record, when it parsed
    raw: tuple[bytes, bytes] = (b"", b"")  # body and signature as received, for evidence
