"""The one place where record bodies meet protobuf (STYLE §5).

``encode_body`` turns a header and a payload into the bytes that get signed; ``decode_body``
turns received bytes back into values and fails closed: a body that does not parse, has an
unknown field, or would not re-encode to the very same bytes is refused (STYLE §9).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from node.kernel.catalog import Catalog, FieldSpec, Item, MaterialSpec
from node.kernel.clock import from_ms, to_ms
from node.kernel.errors import VerificationError
from node.kernel.payloads import (
    Accepted,
    ActionRefused,
    Applicant,
    CaseSubmitted,
    CatalogPublished,
    Concluded,
    Decision,
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
    "Header",
    "decode_body",
    "decode_heartbeat",
    "encode_body",
    "encode_heartbeat",
]

BODY_FORMAT = 1

_OUTCOMES = {Outcome.APPROVE: pb.OUTCOME_APPROVE, Outcome.REJECT: pb.OUTCOME_REJECT}
_OUTCOMES_BACK = {v: k for k, v in _OUTCOMES.items()}


@dataclass(frozen=True, kw_only=True)
class Header:
    log_id: str
    seq: int
    prev_hash: bytes
    recorded_at: dt.datetime
    key_id: bytes


def encode_body(header: Header, payload: Payload) -> bytes:
    body = pb.RecordBody(
        format=BODY_FORMAT,
        log_id=header.log_id,
        seq=header.seq,
        prev_hash=header.prev_hash,
        recorded_at_ms=to_ms(header.recorded_at),
        key_id=header.key_id,
    )
    match payload:
        case CaseSubmitted():
            body.case_submitted.CopyFrom(_case_submitted(payload))
        case PreReviewed():
            body.pre_reviewed.CopyFrom(
                pb.PreReviewed(
                    case_id=payload.case_id,
                    complete=payload.complete,
                    missing=list(payload.missing),
                    catalog_version=payload.catalog_version,
                    catalog_hash=payload.catalog_hash,
                ),
            )
        case Decision():
            body.decision.CopyFrom(
                pb.Decision(
                    case_id=payload.case_id,
                    outcome=_OUTCOMES[payload.outcome],
                    reason=payload.reason,
                    operator=payload.operator,
                    department=payload.department,
                    verification_code=payload.verification_code,
                    delegation=payload.delegation,
                ),
            )
        case Delegation():
            body.delegation.CopyFrom(pb.Delegation(
                township=payload.township, items=list(payload.items),
                valid_from_ms=to_ms(payload.valid_from), valid_until_ms=to_ms(payload.valid_until),
                catalog_version=payload.catalog_version, operator=payload.operator))
        case DelegationWithdrawn():
            body.delegation_withdrawn.CopyFrom(pb.DelegationWithdrawn(
                township=payload.township, reason=payload.reason, operator=payload.operator))
        case Supplemented():
            body.supplemented.CopyFrom(pb.Supplemented(
                case_id=payload.case_id, materials=[_material(m) for m in payload.materials],
                complete=payload.complete, missing=list(payload.missing)))
        case Withdrawn():
            body.withdrawn.CopyFrom(pb.Withdrawn(case_id=payload.case_id,
                                                 reason=payload.reason))
        case Concluded():
            body.concluded.CopyFrom(pb.Concluded(case_id=payload.case_id, note=payload.note))
        case Accepted():
            body.accepted.CopyFrom(pb.Accepted(case_id=payload.case_id,
                                               operator=payload.operator,
                                               department=payload.department))
        case NotAccepted():
            body.not_accepted.CopyFrom(pb.NotAccepted(
                case_id=payload.case_id, reason=payload.reason, operator=payload.operator,
                department=payload.department))
        case SupplementRequested():
            body.supplement_requested.CopyFrom(pb.SupplementRequested(
                case_id=payload.case_id, materials=list(payload.materials),
                reason=payload.reason, operator=payload.operator,
                department=payload.department))
        case Opinion():
            body.opinion.CopyFrom(pb.Opinion(
                case_id=payload.case_id, department=payload.department,
                favourable=payload.favourable, reason=payload.reason,
                operator=payload.operator))
        case ActionRefused():
            body.action_refused.CopyFrom(pb.ActionRefused(
                case_id=payload.case_id, refused_log_id=payload.refused_log_id,
                refused_seq=payload.refused_seq, reason=payload.reason))
        case NodeRevoked():
            body.node_revoked.CopyFrom(
                pb.NodeRevoked(node_id=payload.node_id, from_seq=payload.from_seq,
                               reason=payload.reason, operator=payload.operator),
            )
        case KeyRotated():
            body.key_rotated.CopyFrom(pb.KeyRotated(new_certificate=payload.new_certificate))
        case CatalogPublished():
            body.catalog_published.CopyFrom(
                pb.CatalogPublished(
                    version=payload.version,
                    issued_at_ms=to_ms(payload.issued_at),
                    expires_at_ms=to_ms(payload.expires_at),
                    catalog=_catalog(payload.catalog),
                ),
            )
    return body.SerializeToString(deterministic=True)


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


def encode_heartbeat(beat: Heartbeat) -> bytes:
    return pb.Heartbeat(node_id=beat.node_id, head_seq=beat.head_seq, head_hash=beat.head_hash,
                        sent_at_ms=to_ms(beat.sent_at), key_id=beat.key_id,
                        ).SerializeToString(deterministic=True)


def decode_heartbeat(data: bytes) -> Heartbeat:
    beat = pb.Heartbeat()
    _strict_parse(beat, data, "heartbeat")
    return Heartbeat(node_id=beat.node_id, head_seq=beat.head_seq, head_hash=beat.head_hash,
                     sent_at=from_ms(beat.sent_at_ms), key_id=beat.key_id)


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
    header = Header(
        log_id=body.log_id,
        seq=body.seq,
        prev_hash=body.prev_hash,
        recorded_at=from_ms(body.recorded_at_ms),
        key_id=body.key_id,
    )
    return header, _payload(body)


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


def _payload(body: pb.RecordBody) -> Payload:
    kind = body.WhichOneof("payload")
    try:
        match kind:
            case "case_submitted":
                return _case_submitted_back(body.case_submitted)
            case "pre_reviewed":
                p = body.pre_reviewed
                return PreReviewed(
                    case_id=p.case_id,
                    complete=p.complete,
                    missing=tuple(p.missing),
                    catalog_version=p.catalog_version,
                    catalog_hash=p.catalog_hash,
                )
            case "decision":
                d = body.decision
                if d.outcome not in _OUTCOMES_BACK:
                    raise VerificationError("decision has no outcome", code="malformed_body")
                return Decision(
                    case_id=d.case_id,
                    outcome=_OUTCOMES_BACK[d.outcome],
                    reason=d.reason,
                    operator=d.operator,
                    department=d.department,
                    verification_code=d.verification_code,
                    delegation=d.delegation,
                )
            case "delegation":
                g = body.delegation
                return Delegation(township=g.township, items=tuple(g.items),
                                  valid_from=from_ms(g.valid_from_ms),
                                  valid_until=from_ms(g.valid_until_ms),
                                  catalog_version=g.catalog_version, operator=g.operator)
            case "delegation_withdrawn":
                w = body.delegation_withdrawn
                return DelegationWithdrawn(township=w.township, reason=w.reason,
                                           operator=w.operator)
            case "supplemented":
                s = body.supplemented
                return Supplemented(case_id=s.case_id,
                                    materials=tuple(_material_back(m) for m in s.materials),
                                    complete=s.complete, missing=tuple(s.missing))
            case "withdrawn":
                return Withdrawn(case_id=body.withdrawn.case_id, reason=body.withdrawn.reason)
            case "concluded":
                return Concluded(case_id=body.concluded.case_id, note=body.concluded.note)
            case "accepted":
                a = body.accepted
                return Accepted(case_id=a.case_id, operator=a.operator, department=a.department)
            case "not_accepted":
                n = body.not_accepted
                return NotAccepted(case_id=n.case_id, reason=n.reason, operator=n.operator,
                                   department=n.department)
            case "supplement_requested":
                q = body.supplement_requested
                return SupplementRequested(case_id=q.case_id, materials=tuple(q.materials),
                                           reason=q.reason, operator=q.operator,
                                           department=q.department)
            case "opinion":
                o = body.opinion
                return Opinion(case_id=o.case_id, department=o.department,
                               favourable=o.favourable, reason=o.reason, operator=o.operator)
            case "action_refused":
                x = body.action_refused
                return ActionRefused(case_id=x.case_id, refused_log_id=x.refused_log_id,
                                     refused_seq=x.refused_seq, reason=x.reason)
            case "node_revoked":
                r = body.node_revoked
                return NodeRevoked(node_id=r.node_id, from_seq=r.from_seq, reason=r.reason,
                                   operator=r.operator)
            case "key_rotated":
                return KeyRotated(new_certificate=body.key_rotated.new_certificate)
            case "catalog_published":
                c = body.catalog_published
                return CatalogPublished(
                    version=c.version,
                    issued_at=from_ms(c.issued_at_ms),
                    expires_at=from_ms(c.expires_at_ms),
                    catalog=_catalog_back(c.catalog),
                )
    except VerificationError:
        raise
    except Exception as exc:  # a value our constructors refuse: the signed body is not sound
        raise VerificationError(f"record payload is not valid: {exc}",
                                code="malformed_body") from exc
    raise VerificationError("record body carries no payload", code="malformed_body")


def _case_submitted(p: CaseSubmitted) -> pb.CaseSubmitted:
    return pb.CaseSubmitted(
        case_id=p.case_id,
        item_code=p.item_code,
        applicant=pb.Applicant(
            name=p.applicant.name, id_number=p.applicant.id_number, phone=p.applicant.phone,
        ),
        materials=[_material(m) for m in p.materials],
        fields=[pb.FieldValue(name=n, value=v) for n, v in p.fields],
        catalog_version=p.catalog_version,
        catalog_hash=p.catalog_hash,
    )


def _case_submitted_back(p: pb.CaseSubmitted) -> CaseSubmitted:
    return CaseSubmitted(
        case_id=p.case_id,
        item_code=p.item_code,
        applicant=Applicant(
            name=p.applicant.name, id_number=p.applicant.id_number, phone=p.applicant.phone,
        ),
        materials=tuple(_material_back(m) for m in p.materials),
        fields=tuple((f.name, f.value) for f in p.fields),
        catalog_version=p.catalog_version,
        catalog_hash=p.catalog_hash,
    )


def _material(m: MaterialRef) -> pb.Material:
    return pb.Material(code=m.code, sha256=m.sha256, size=m.size, filename=m.filename)


def _material_back(m: pb.Material) -> MaterialRef:
    return MaterialRef(code=m.code, sha256=m.sha256, size=m.size, filename=m.filename)


def _catalog(c: Catalog) -> pb.Catalog:
    return pb.Catalog(
        county_code=c.county_code,
        county_name=c.county_name,
        title=c.title,
        items=[
            pb.Item(
                code=i.code,
                name=i.name,
                name_en=i.name_en,
                accept_at=list(i.accept_at),
                decided_by=i.decided_by,
                departments=list(i.departments),
                statutory_days=i.statutory_days,
                promised_days=i.promised_days,
                fee_yuan=str(i.fee_yuan),
                materials=[
                    pb.MaterialSpec(code=m.code, name=m.name, required=m.required)
                    for m in i.materials
                ],
                fields=[_field_spec(f) for f in i.fields],
            )
            for i in c.items
        ],
    )


def _field_spec(f: FieldSpec) -> pb.FieldSpec:
    spec = pb.FieldSpec(name=f.name, label=f.label, type=f.type, required=f.required)
    if f.min is not None:
        spec.min = str(f.min)
    if f.max is not None:
        spec.max = str(f.max)
    if f.max_length is not None:
        spec.max_length = f.max_length
    return spec


def _catalog_back(c: pb.Catalog) -> Catalog:
    return Catalog(
        county_code=c.county_code,
        county_name=c.county_name,
        title=c.title,
        items=tuple(
            Item(
                code=i.code,
                name=i.name,
                name_en=i.name_en,
                accept_at=tuple(i.accept_at),
                decided_by=i.decided_by,
                departments=tuple(i.departments),
                statutory_days=i.statutory_days,
                promised_days=i.promised_days,
                fee_yuan=Decimal(i.fee_yuan or "0"),
                materials=tuple(
                    MaterialSpec(code=m.code, name=m.name, required=m.required)
                    for m in i.materials
                ),
                fields=tuple(
                    FieldSpec(
                        name=f.name,
                        label=f.label,
                        type=f.type,
                        required=f.required,
                        min=Decimal(f.min) if f.HasField("min") else None,
                        max=Decimal(f.max) if f.HasField("max") else None,
                        max_length=f.max_length if f.HasField("max_length") else None,
                    )
                    for f in i.fields
                ),
            )
            for i in c.items
        ),
    )
