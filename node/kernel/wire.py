"""The one place where record bodies meet protobuf (STYLE §5, §22). Pure.

``encode_body`` turns a header and a payload into the bytes that get signed; ``decode_body``
turns received bytes back into values and fails closed: a body that does not parse, has an
unknown field, would not re-encode to the very same bytes, or holds a value no payload may
hold (a time that is no date, a decision with no outcome) is refused as ``malformed_body``
(STYLE §9).

The conversion is a table, not a ladder: ``PAYLOADS`` pairs each payload class with its field
of ``RecordBody``'s ``payload`` oneof, and ``_MESSAGES`` pairs each nested value class with its
message. One pair of functions walks a value's dataclass fields by their types:

* ``str``, ``bytes``, ``int``, ``bool`` fields copy as they are; ``tuple[str, ...]`` is a
  repeated field; a nested value is its message;
* a ``datetime`` field ``x`` is the int64 field ``x_ms`` (Unix milliseconds);
* a ``Decimal`` is decimal text; ``Decimal | None`` and ``int | None`` are ``optional`` fields;
* ``Outcome`` is the ``Outcome`` enum, and ``CaseSubmitted.fields`` (name, value) pairs are
  ``FieldValue`` messages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import types
import typing
from decimal import Decimal, InvalidOperation
from typing import Any

from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from node.kernel.catalog import Catalog, FieldSpec, Item, MaterialSpec
from node.kernel.clock import MAX_MS, MIN_MS, from_ms, to_ms
from node.kernel.errors import VerificationError
from node.kernel.payloads import (
    Accepted,
    ActionRefused,
    Applicant,
    CalendarPublished,
    CaseSubmitted,
    CatalogPublished,
    Concluded,
    Decision,
    DecisionConfirmed,
    Delegation,
    DelegationWithdrawn,
    Heartbeat,
    KeyRotated,
    MaterialRef,
    NodeRevoked,
    NotAccepted,
    Opinion,
    Outcome,
    Payload,
    PreReviewed,
    Supplemented,
    SupplementRequested,
    Withdrawn,
)
from sync.pb import records_pb2 as pb

__all__ = [
    "BODY_FORMAT",
    "PAYLOADS",
    "Header",
    "decode_body",
    "decode_heartbeat",
    "encode_body",
    "encode_heartbeat",
]

BODY_FORMAT = 1

# payload class -> its field of RecordBody's ``payload`` oneof
PAYLOADS: dict[type, str] = {
    CaseSubmitted: "case_submitted",
    PreReviewed: "pre_reviewed",
    Supplemented: "supplemented",
    Withdrawn: "withdrawn",
    Concluded: "concluded",
    Decision: "decision",
    Accepted: "accepted",
    NotAccepted: "not_accepted",
    SupplementRequested: "supplement_requested",
    Opinion: "opinion",
    ActionRefused: "action_refused",
    DecisionConfirmed: "decision_confirmed",
    CatalogPublished: "catalog_published",
    NodeRevoked: "node_revoked",
    KeyRotated: "key_rotated",
    Delegation: "delegation",
    DelegationWithdrawn: "delegation_withdrawn",
    CalendarPublished: "calendar_published",
}
_BY_FIELD = {name: cls for cls, name in PAYLOADS.items()}

# nested value class -> its message class
_MESSAGES: dict[type, type[Message]] = {
    Applicant: pb.Applicant,
    MaterialRef: pb.Material,
    Catalog: pb.Catalog,
    Item: pb.Item,
    MaterialSpec: pb.MaterialSpec,
    FieldSpec: pb.FieldSpec,
    Heartbeat: pb.Heartbeat,
    **{cls: getattr(pb, cls.__name__) for cls in PAYLOADS},
}

_OUTCOMES = {Outcome.APPROVE: pb.OUTCOME_APPROVE, Outcome.REJECT: pb.OUTCOME_REJECT}
_OUTCOMES_BACK = {v: k for k, v in _OUTCOMES.items()}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Header:
    log_id: str
    seq: int
    prev_hash: bytes
    recorded_at: dt.datetime
    key_id: bytes


# -- the walk ------------------------------------------------------------------------------------


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """``(name, type)`` of a value class's fields, with the types resolved."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _optional_of(hint: Any) -> Any | None:
    """``X`` for ``X | None``, else None."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


def _to_message(value: object) -> Message:
    cls: type = type(value)
    message = _MESSAGES[cls]()
    for name, hint in _fields(cls):
        _put(message, name, hint, getattr(value, name))
    return message


def _put(message: Message, name: str, hint: Any, value: Any) -> None:
    if hint is dt.datetime:
        setattr(message, f"{name}_ms", to_ms(value))
        return
    inner = _optional_of(hint)
    if inner is not None:
        if value is not None:
            _put(message, name, inner, value)
        return
    if hint is Decimal:
        setattr(message, name, str(value))
    elif hint is Outcome:
        setattr(message, name, _OUTCOMES[value])
    elif typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        target = getattr(message, name)
        if item in _MESSAGES:
            target.extend(_to_message(v) for v in value)
        elif typing.get_origin(item) is tuple:  # (name, value) pairs: CaseSubmitted.fields
            target.extend(pb.FieldValue(name=k, value=v) for k, v in value)
        else:
            target.extend(value)
    elif hint in _MESSAGES:
        getattr(message, name).CopyFrom(_to_message(value))
    else:
        setattr(message, name, value)


def _from_message(message: Message, cls: type) -> Any:
    values = {name: _get(message, name, hint) for name, hint in _fields(cls)}
    return cls(**values)


def _get(message: Message, name: str, hint: Any) -> Any:
    if hint is dt.datetime:
        return _time(getattr(message, f"{name}_ms"), f"{type(message).__name__}.{name}")
    inner = _optional_of(hint)
    if inner is not None:
        return _get(message, name, inner) if message.HasField(name) else None
    raw = getattr(message, name)
    if hint is Decimal:
        try:
            return Decimal(raw or "0")
        except InvalidOperation as exc:
            raise VerificationError(f"{type(message).__name__}.{name} {raw!r} is not a "
                                    "decimal", code="malformed_body") from exc
    if hint is Outcome:
        if raw not in _OUTCOMES_BACK:
            raise VerificationError(f"{type(message).__name__} has no outcome",
                                    code="malformed_body")
        return _OUTCOMES_BACK[raw]
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if item in _MESSAGES:
            return tuple(_from_message(m, item) for m in raw)
        if typing.get_origin(item) is tuple:
            return tuple((f.name, f.value) for f in raw)
        return tuple(raw)
    if hint in _MESSAGES:
        return _from_message(raw, hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):  # pragma: no cover - none yet
        return hint(raw)
    return raw


def _time(ms: int, what: str) -> dt.datetime:
    """A time from Unix milliseconds, refusing a number that is no date (e.g. 2**62)."""
    if not MIN_MS <= ms <= MAX_MS:
        raise VerificationError(f"{what} is {ms} ms, which is not a date (years 1 to 9999)",
                                code="malformed_body")
    return from_ms(ms)


# -- bodies and heartbeats -------------------------------------------------------------------------


def encode_body(header: Header, payload: Payload) -> bytes:
    body = pb.RecordBody(
        format=BODY_FORMAT,
        log_id=header.log_id,
        seq=header.seq,
        prev_hash=header.prev_hash,
        recorded_at_ms=to_ms(header.recorded_at),
        key_id=header.key_id,
    )
    getattr(body, PAYLOADS[type(payload)]).CopyFrom(_to_message(payload))
    return body.SerializeToString(deterministic=True)


def decode_body(data: bytes) -> tuple[Header, Payload]:
    """Parse a received body. Raises ``VerificationError`` (code ``malformed_body``)."""
    body = pb.RecordBody()
    _strict_parse(body, data, "record body")
    if body.format != BODY_FORMAT:
        raise VerificationError(
            f"record body format {body.format} is not supported (this node reads format "
            f"{BODY_FORMAT}); upgrade bianmin",
            code="malformed_body",
        )
    header = Header(log_id=body.log_id, seq=body.seq, prev_hash=body.prev_hash,
                    recorded_at=_time(body.recorded_at_ms, "the record's time"),
                    key_id=body.key_id)
    kind = body.WhichOneof("payload")
    if kind is None:
        raise VerificationError("record body carries no payload", code="malformed_body")
    return header, _decode_payload(getattr(body, kind), _BY_FIELD[kind])


def _decode_payload(message: Message, cls: type) -> Payload:
    try:
        payload: Payload = _from_message(message, cls)
    except VerificationError:
        raise
    except Exception as exc:  # a value our constructors refuse: the signed body is not sound
        raise VerificationError(f"record payload is not valid: {exc}",
                                code="malformed_body") from exc
    return payload


def encode_heartbeat(beat: Heartbeat) -> bytes:
    return _to_message(beat).SerializeToString(deterministic=True)


def decode_heartbeat(data: bytes) -> Heartbeat:
    beat = pb.Heartbeat()
    _strict_parse(beat, data, "heartbeat")
    decoded: Heartbeat = _from_message(beat, Heartbeat)
    return decoded


def _strict_parse(message: Message, data: bytes, what: str) -> None:
    """Parse ``data`` into ``message``, refusing unknown fields and non-canonical bytes."""
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise VerificationError(f"{what} does not parse", code="malformed_body") from exc
    known = type(message)()
    known.CopyFrom(message)
    known.DiscardUnknownFields()  # recursive, in C: cheaper than walking the fields here
    if known.SerializeToString(deterministic=True) != data and _has_unknown_fields(message):
        raise VerificationError(
            f"{what} has fields this version of bianmin does not know; refusing it "
            "(a newer writer, or tampering) -- upgrade bianmin if the county has",
            code="unknown_field",
        )
    if message.SerializeToString(deterministic=True) != data:
        raise VerificationError(f"{what} is not canonically encoded; refusing it",
                                code="malformed_body")


def _has_unknown_fields(message: Message) -> bool:
    """True if ``message`` or any message inside it carries fields outside the schema."""
    if len(UnknownFieldSet(message)):
        return True
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        children = value if descriptor.is_repeated else [value]
        if any(_has_unknown_fields(child) for child in children):
            return True
    return False

