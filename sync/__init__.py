"""bianmin's wire and sync protocol, generic over signed records (DESIGN §10, layer 1).

It knows records only as signed bytes and talks to storage through small protocols, so it
never imports ``node`` or anything above it.
"""

from sync.errors import CallRefused, ProtocolViolation, Refusal, SyncError, Unreachable
from sync.protocol import (
    BlobChunk,
    BlobState,
    EnrolReply,
    EnrolRequest,
    KeyReplacementGrant,
    PullBatch,
    PushResult,
    RecordOutcome,
    RotateKey,
    WireRecord,
    batches,
    chunk_plan,
    next_push_mark,
)
from sync.retry import ONE_SHOT, RetryPolicy

__all__ = [
    "ONE_SHOT",
    "BlobChunk",
    "BlobState",
    "CallRefused",
    "EnrolReply",
    "EnrolRequest",
    "KeyReplacementGrant",
    "ProtocolViolation",
    "PullBatch",
    "PushResult",
    "RecordOutcome",
    "Refusal",
    "RetryPolicy",
    "RotateKey",
    "SyncError",
    "Unreachable",
    "WireRecord",
    "batches",
    "chunk_plan",
    "next_push_mark",
]
