"""Translation between the node's errors and the sync layer's, both ways (STYLE §7).

Clients turn ``SyncError`` into ``BianminError``; servers turn ``BianminError`` into
``CallRefused``, which the servicer maps to a gRPC status code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from node.kernel.errors import (
    BianminError,
    ConfigError,
    NotFoundError,
    PeerError,
    StateError,
    TransportError,
    UsageError,
)
from sync import CallRefused, Refusal, SyncError, Unreachable

__all__ = ["as_refusal", "from_sync_error", "refusing", "to_call_refused"]

P = ParamSpec("P")
T = TypeVar("T")

_UNAUTHENTICATED = frozenset({"token_unknown", "token_used", "token_expired", "bad_peer",
                              "not_enrolled", "revoked", "retired_certificate"})


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


def as_refusal(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(...)``, with our errors raised as refusals the servicer maps to status codes
    (STYLE §4): what every sync and enrolment handler does."""
    try:
        return fn(*args, **kwargs)
    except BianminError as exc:
        raise to_call_refused(exc) from exc


def refusing(items: Iterator[T]) -> Iterator[T]:
    """``as_refusal`` for a streamed reply."""
    try:
        yield from items
    except BianminError as exc:
        raise to_call_refused(exc) from exc
