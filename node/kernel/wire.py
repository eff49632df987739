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

Every string is checked against its bounds (``node.kernel.text``) both ways: a writer is told
which field is wrong (``UsageError``), a received record is ``malformed_body``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import types
import typing
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from node.kernel.catalog import Catalog, FieldSpec, Item, MaterialSpec
from node.kernel.clock import MAX_MS, MIN_MS, from_ms, to_ms
from node.kernel.errors import UsageError, VerificationError
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
    KeyReplaced,
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
from node.kernel.text import bound_of, control_finder, text_problem
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
    KeyReplaced: "key_replaced",
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
_OUTCOMES_BACK: dict[int, Outcome] = {int(v): k for k, v in _OUTCOMES.items()}


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
    return _encoder(cls)(value)


def _from_message(message: Message, cls: type) -> Any:
    return _decoder(cls)(message)


# The walk is compiled once per class into a plain function (as ``dataclasses`` compiles
# ``__init__``): the rules above decide each field's expression, and decoding a record costs
# what a hand-written converter would.


@functools.cache
def _encoder(cls: type) -> Callable[[Any], Message]:
    """The function that turns a value of ``cls`` into its message."""
    lines = ["def encode(v):", "    m = make()"]
    for name, hint in _fields(cls):
        lines += ["    " + line for line in _put_lines(cls.__name__, name, hint, f"v.{name}")]
    lines.append("    return m")
    scope = {"make": _MESSAGES[cls], **_helpers()}
    exec("\n".join(lines), scope)  # noqa: S102 -- source made here, from the type table
    encode: Callable[[Any], Message] = scope["encode"]
    return encode


def _put_lines(owner: str, name: str, hint: Any, value: str) -> list[str]:
    if hint is dt.datetime:
        return [f"m.{name}_ms = to_ms({value})"]
    inner = _optional_of(hint)
    if inner is not None:
        return [f"if {value} is not None:", *("    " + line
                                              for line in _put_lines(owner, name, inner, value))]
    checked = _text_check("text_out", owner, name)
    if hint is Decimal:
        return [f"m.{name} = str({value})"]
    if hint is Outcome:
        return [f"m.{name} = OUTCOMES[{value}]"]
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if item in _MESSAGES:
            return [f"m.{name}.extend([encoder({item.__name__})(x) for x in {value}])"]
        if typing.get_origin(item) is tuple:  # (name, value) pairs: CaseSubmitted.fields
            return [f"m.{name}.extend([FieldValue(name={checked('k')}, value={checked('x')}) "
                    f"for k, x in {value}])"]
        return [f"m.{name}.extend([{checked('x')} for x in {value}])"]
    if hint in _MESSAGES:
        return [f"m.{name}.CopyFrom(encoder({hint.__name__})({value}))"]
    if hint is str:
        return [f"m.{name} = {checked(value)}"]
    return [f"m.{name} = {value}"]


def _text_check(helper: str, owner: str, name: str) -> Callable[[str], str]:
    """The expression that checks a string of ``owner.name`` against its bounds
    (``node.kernel.text``) on its way through ``helper``."""
    bound, multi = bound_of(owner, name)
    return lambda value: f"{helper}({value}, {bound}, {multi}, {owner + '.' + name!r})"


def _text_check_in(owner: str, name: str) -> Callable[[str], str]:
    """``_text_check`` for a received string: the common case -- short enough, no character
    it may not hold -- answered inline, without a call per string (ten per record)."""
    bound, multi = bound_of(owner, name)
    full = _text_check("text_in", owner, name)
    finder = "control_multi" if multi else "control"
    return lambda value: (f"(_s if len(_s := {value}) <= {bound} and {finder}(_s) is None "
                          f"else {full('_s')})")


@functools.cache
def _decoder(cls: type) -> Callable[[Message], Any]:
    """The function that turns a message into a value of ``cls``."""
    args = ", ".join(f"{name}={_get_expr(cls.__name__, name, hint)}"
                     for name, hint in _fields(cls))
    scope = {"cls": cls, **_helpers()}
    exec(f"def decode(m):\n    return cls({args})", scope)  # noqa: S102 -- see _encoder
    decode: Callable[[Message], Any] = scope["decode"]
    return decode


def _get_expr(owner: str, name: str, hint: Any) -> str:
    if hint is dt.datetime:
        return f"time(m.{name}_ms, {owner + '.' + name!r})"
    inner = _optional_of(hint)
    if inner is not None:
        return f"({_get_expr(owner, name, inner)} if m.HasField({name!r}) else None)"
    if hint is Decimal:
        return f"decimal(m.{name}, {owner + '.' + name!r})"
    if hint is Outcome:
        return f"outcome(m.{name}, {owner!r})"
    checked = _text_check_in(owner, name)
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if item in _MESSAGES:
            return f"tuple([decoder({item.__name__})(x) for x in m.{name}])"
        if typing.get_origin(item) is tuple:
            return f"tuple([({checked('f.name')}, {checked('f.value')}) for f in m.{name}])"
        return f"tuple([{checked('x')} for x in m.{name}])"
    if hint in _MESSAGES:
        return f"decoder({hint.__name__})(m.{name})"
    if hint is str:
        return checked(f"m.{name}")
    return f"m.{name}"


def _helpers() -> dict[str, Any]:
    return {"to_ms": to_ms, "time": _time, "decimal": _decimal, "outcome": _outcome,
            "text_in": _text_in, "text_out": _text_out, "control": control_finder(False),
            "control_multi": control_finder(True),
            "OUTCOMES": _OUTCOMES, "FieldValue": pb.FieldValue, "encoder": _encoder,
            "decoder": _decoder, **{cls.__name__: cls for cls in _MESSAGES}}


def _text_in(value: str, bound: int, multiline: bool, what: str) -> str:
    """A received string within its bounds, or the record is malformed."""
    problem = text_problem(value, max_length=bound, multiline=multiline)
    if problem is not None:
        raise VerificationError(f"{what} {problem}", code="malformed_body")
    return value


def _text_out(value: str, bound: int, multiline: bool, what: str) -> str:
    """A string about to be signed within its bounds, or the writer is told which field."""
    problem = text_problem(value, max_length=bound, multiline=multiline)
    if problem is not None:
        raise UsageError(f"{what} {problem}", code="bad_text")
    return value


def _decimal(raw: str, what: str) -> Decimal:
    try:
        return Decimal(raw or "0")
    except InvalidOperation as exc:
        raise VerificationError(f"{what} {raw!r} is not a decimal",
                                code="malformed_body") from exc


def _outcome(raw: int, owner: str) -> Outcome:
    if raw not in _OUTCOMES_BACK:
        raise VerificationError(f"{owner} has no outcome", code="malformed_body")
    return _OUTCOMES_BACK[raw]


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

