"""Errors of the sync layer, split by cause (STYLE §6).

::

    SyncError                 root
    ├── Unreachable           transport: the peer could not be reached or did not answer in time
    ├── CallRefused           the peer answered and refused the call (status says why)
    └── ProtocolViolation     the peer answered with something the protocol does not allow

Servicer handlers raise ``CallRefused`` to refuse a call; the servicer maps it to a gRPC status
(STYLE §4). Clients translate ``grpc.RpcError`` into these at the boundary (STYLE §7).
"""

from __future__ import annotations

import enum

__all__ = ["CallRefused", "ProtocolViolation", "Refusal", "SyncError", "Unreachable"]


class SyncError(Exception):
    """Root of the sync layer's errors."""


class Unreachable(SyncError):
    """The upstream could not be reached, or the call ran out of time. Transient."""

    def __init__(self, message: str, *, address: str = "") -> None:
        super().__init__(message)
        self.address = address


class Refusal(enum.StrEnum):
    """Why a call was refused; each maps to one gRPC status code."""

    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    INVALID_ARGUMENT = "invalid_argument"
    FAILED_PRECONDITION = "failed_precondition"
    NOT_FOUND = "not_found"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    ALREADY_EXISTS = "already_exists"
    INTERNAL = "internal"


class CallRefused(SyncError):
    """The peer refused the call. ``code`` is a short reason for logs and JSON output."""

    def __init__(self, refusal: Refusal, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.refusal = refusal
        self.code = code or refusal.value


class ProtocolViolation(SyncError):
    """The peer's answer breaks the protocol (e.g. an ack beyond what was sent)."""
