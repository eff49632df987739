"""Errors crossing the sync boundary keep their cause and code, both ways."""

from __future__ import annotations

import pytest

from node.errmap import from_sync_error, to_call_refused
from node.kernel.errors import (
    BianminError,
    CatalogError,
    ConfigError,
    ForkError,
    NotFoundError,
    PeerError,
    StateError,
    TransportError,
    UsageError,
    VerificationError,
)
from sync import CallRefused, ProtocolViolation, Refusal, SyncError, Unreachable


def test_unreachable_becomes_a_transport_error() -> None:
    error = from_sync_error(Unreachable("hub at 10.0.0.1:7443 did not answer",
                                        address="10.0.0.1:7443"))
    assert type(error) is TransportError
    assert error.code == "unreachable"
    assert str(error) == "hub at 10.0.0.1:7443 did not answer"


@pytest.mark.parametrize(("refusal", "cls"), [
    (Refusal.INVALID_ARGUMENT, UsageError),
    (Refusal.FAILED_PRECONDITION, StateError),
    (Refusal.NOT_FOUND, NotFoundError),
    (Refusal.UNAUTHENTICATED, PeerError),
    (Refusal.PERMISSION_DENIED, PeerError),
    (Refusal.RESOURCE_EXHAUSTED, PeerError),
    (Refusal.ALREADY_EXISTS, PeerError),
    (Refusal.INTERNAL, PeerError),
])
def test_call_refused_maps_to_the_error_of_its_cause(refusal: Refusal,
                                                     cls: type[BianminError]) -> None:
    error = from_sync_error(CallRefused(refusal, "refused for a reason", code="some_reason"))
    assert type(error) is cls
    assert error.code == "some_reason"
    assert str(error) == "refused for a reason"


def test_call_refused_without_a_code_carries_the_refusal_name() -> None:
    error = from_sync_error(CallRefused(Refusal.NOT_FOUND, "no such case"))
    assert error.code == "not_found"


@pytest.mark.parametrize("exc", [ProtocolViolation("ack 9 beyond 5"), SyncError("odd")])
def test_protocol_violation_becomes_a_peer_error(exc: SyncError) -> None:
    error = from_sync_error(exc)
    assert type(error) is PeerError
    assert error.code == "protocol"
    assert str(exc) in str(error)


@pytest.mark.parametrize(("exc", "refusal"), [
    (UsageError("bad input", code="bad_case_id"), Refusal.INVALID_ARGUMENT),
    (CatalogError("no such item", code="unknown_item"), Refusal.INVALID_ARGUMENT),
    (NotFoundError("no such case", code="no_case"), Refusal.NOT_FOUND),
    (StateError("already approved", code="already_decided"), Refusal.FAILED_PRECONDITION),
    (PeerError("unknown token", code="token_unknown"), Refusal.UNAUTHENTICATED),
    (PeerError("token used", code="token_used"), Refusal.UNAUTHENTICATED),
    (PeerError("token expired", code="token_expired"), Refusal.UNAUTHENTICATED),
    (PeerError("bad peer", code="bad_peer"), Refusal.UNAUTHENTICATED),
    (PeerError("not enrolled", code="not_enrolled"), Refusal.UNAUTHENTICATED),
    (PeerError("revoked", code="revoked"), Refusal.UNAUTHENTICATED),
    (PeerError("not your log", code="wrong_log"), Refusal.PERMISSION_DENIED),
    (VerificationError("bad signature", code="bad_signature"), Refusal.PERMISSION_DENIED),
    (ForkError("fork at V001#2", code="fork"), Refusal.PERMISSION_DENIED),
    (ConfigError("home is half made"), Refusal.INTERNAL),
    (TransportError("could not reach the hub"), Refusal.INTERNAL),
    (BianminError("something else"), Refusal.INTERNAL),
])
def test_node_errors_map_to_the_refusal_of_their_cause(exc: BianminError,
                                                       refusal: Refusal) -> None:
    refused = to_call_refused(exc)
    assert refused.refusal is refusal
    assert refused.code == exc.code
    assert str(refused) == str(exc)


@pytest.mark.parametrize("exc", [
    UsageError("bad input", code="bad_case_id"),
    NotFoundError("no such case", code="no_case"),
    StateError("already approved", code="already_decided"),
    PeerError("revoked", code="revoked"),
])
def test_a_refusal_round_trips_to_the_same_kind_of_error(exc: BianminError) -> None:
    back = from_sync_error(to_call_refused(exc))
    assert type(back) is type(exc)
    assert back.code == exc.code
    assert str(back) == str(exc)
