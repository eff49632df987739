"""Translation between the node's errors and the sync layer's, both ways (STYLE §7).

Clients turn ``SyncError`` into ``BianminError``; servers turn ``BianminError`` into
``CallRefused``, which the servicer maps to a gRPC status code.
"""

from __future__ import annotations

from node.errors import (
    BianminError,
    ConfigError,
    NotFoundError,
    PeerError,
    StateError,
    TransportError,
    UsageError,
)
from sync import CallRefused, Refusal, SyncError, Unreachable

__all__ = ["from_sync_error", "to_call_refused"]

_UNAUTHENTICATED = frozenset({"token_unknown", "token_used", "token_expired", "bad_peer",
                              "not_enrolled", "revoked"})


def from_sync_error(exc: SyncError) -> BianminError:
    if isinstance(exc, Unreachable):
        return TransportError(str(exc))
    if isinstance(exc, CallRefused):
        if exc.refusal is Refusal.INVALID_ARGUMENT:
            return UsageError(str(exc), code=exc.code)
        if exc.refusal is Refusal.FAILED_PRECONDITION:
            return StateError(str(exc), code=exc.code)
        if exc.refusal is Refusal.NOT_FOUND:
            return NotFoundError(str(exc), code=exc.code)
        return PeerError(str(exc), code=exc.code)
    return PeerError(f"upstream broke the sync protocol: {exc}", code="protocol")


def to_call_refused(exc: BianminError) -> CallRefused:
    if isinstance(exc, NotFoundError):
        refusal = Refusal.NOT_FOUND
    elif isinstance(exc, UsageError):
        refusal = Refusal.INVALID_ARGUMENT
    elif isinstance(exc, StateError):
        refusal = Refusal.FAILED_PRECONDITION
    elif isinstance(exc, PeerError):
        refusal = (Refusal.UNAUTHENTICATED if exc.code in _UNAUTHENTICATED
                   else Refusal.PERMISSION_DENIED)
    elif isinstance(exc, ConfigError):
        refusal = Refusal.INTERNAL
    else:
        refusal = Refusal.INTERNAL
    return CallRefused(refusal, str(exc), code=exc.code)
