"""Make the protocol's test vectors (tests/vectors/, docs/protocol.md "Test vectors").

Every key is derived from a fixed seed and every signature is deterministic (Ed25519, and RFC
6979 ECDSA for the certificates), so this script writes the same bytes every time; a test fails
when the committed vectors differ from what it makes. Each vector states the verdict its
construction calls for -- written here by hand, never computed by running the verifier -- and
the project's own tests check that the real receive path agrees (tests/unit/test_vectors.py).

    python scripts/make_vectors.py            # write tests/vectors/*.json
    python scripts/make_vectors.py --check    # exit 1 if the committed ones differ
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from google.protobuf import json_format

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bianmin.demo import resident_id, sample_catalog  # noqa: E402
from county_hub.ca import issue_certificate, make_ca  # noqa: E402
from node.kernel.catalog import parse_catalog_toml  # noqa: E402
from node.kernel.clock import FixedClock  # noqa: E402
from node.kernel.identity import (  # noqa: E402
    NodeIdentity,
    Signer,
    certificate_der,
    key_replacement_message,
)
from node.kernel.payloads import (  # noqa: E402
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
from node.kernel.records import LogHead, Record, seal  # noqa: E402
from node.kernel.wire import encode_heartbeat  # noqa: E402
from sync.pb import records_pb2 as pb  # noqa: E402

OUT = ROOT / "tests" / "vectors"
COUNTY = "360112"
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 China Standard Time
ISSUED = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # when the world's certificates were issued
DAY = "20261201"
# the nodes of the vectors' county: id -> (tier, parent)
NODES = {"V001": ("village", "HUB"), "V003": ("village", "HUB"), "T01": ("township", "HUB"),
         "V011": ("village", "T01"), "T02": ("township", "HUB"), "V021": ("village", "T02")}


def seed(name: str) -> bytes:
    return hashlib.sha256(f"bianmin test vectors: {name}".encode()).digest()


def ed25519_key(name: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed(name))


def ecdsa_key(name: str) -> ec.EllipticCurvePrivateKey:
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 order
    return ec.derive_private_key(int.from_bytes(seed(name), "big") % (n - 1) + 1,
                                 ec.SECP256R1())


def hx(data: bytes) -> str:
    return data.hex()


# -- the world: a county CA, its nodes' keys and certificates, the catalog ------------------------


@dataclasses.dataclass
class Key:
    name: str
    node_id: str
    tier: str
    parent: str
    purpose: str
    signer: Signer
    certificate: x509.Certificate | None


class World:
    def __init__(self) -> None:
        self.ca_key, self.ca = make_ca(COUNTY, "新建区", ISSUED, key=ecdsa_key("county CA"),
                                       serial=1)
        self.keys: dict[str, Key] = {}
        serial = 100
        for name, node_id, tier, parent, purpose in [
            ("HUB", "HUB", "county", "", "records"),
            ("CATALOG", "CATALOG", "county", "", "catalog"),
            *[(n, n, t, p, "records") for n, (t, p) in NODES.items()],
            ("V001-rotated", "V001", "village", "HUB", "records"),
            ("V001-replaced", "V001", "village", "HUB", "records"),  # after its keys were lost
        ]:
            serial += 1
            self.keys[name] = self._certified(name, node_id, tier, parent, purpose, serial)
        # a key no certificate of the county names, and one certified by another county's CA
        self.keys["stranger"] = Key(name="stranger", node_id="V001", tier="village",
                                    parent="HUB", purpose="records",
                                    signer=Signer(ed25519_key("stranger")), certificate=None)
        other_ca_key, other_ca = make_ca("360113", "另一个县", ISSUED,
                                         key=ecdsa_key("another county CA"), serial=2)
        foreign = ed25519_key("V001 at another county")
        self.foreign_certificate = issue_certificate(
            ca_key=other_ca_key, ca_cert=other_ca, public_key=foreign.public_key(),
            identity=NodeIdentity(county_code=COUNTY, node_id="V001", tier="village",
                                  parent="HUB", purpose="records"), now=ISSUED, serial=900)
        catalog = parse_catalog_toml(sample_catalog().read_text(encoding="utf-8"))
        self.catalog_payload = CatalogPublished(version=1, issued_at=ISSUED,
                                                expires_at=ISSUED + dt.timedelta(days=365),
                                                catalog=catalog)
        self.catalog = self.writer("CATALOG").next(self.catalog_payload, at=ISSUED)

    def _certified(self, name: str, node_id: str, tier: str, parent: str, purpose: str,
                   serial: int) -> Key:
        key = ed25519_key(name)
        cert = issue_certificate(ca_key=self.ca_key, ca_cert=self.ca,
                                 public_key=key.public_key(),
                                 identity=NodeIdentity(county_code=COUNTY, node_id=node_id,
                                                       tier=tier, parent=parent,
                                                       purpose=purpose),
                                 now=ISSUED, serial=serial)
        return Key(name=name, node_id=node_id, tier=tier, parent=parent, purpose=purpose,
                   signer=Signer(key), certificate=cert)

    def writer(self, key: str, log_id: str | None = None) -> Writer:
        return Writer(self, log_id or self.keys[key].node_id, self.keys[key])

    def as_json(self) -> dict[str, Any]:
        return {
            "description": "The county every vector runs in: its CA, the nodes it enrolled, "
                           "their Ed25519 seeds (test keys: published on purpose), public "
                           "keys, key ids and records certificates, and catalog version 1. "
                           "Bytes are hex. A receiver holds every certificate listed (the "
                           "'stranger' key has none) and the catalog record.",
            "county_code": COUNTY,
            "now": NOW.isoformat(),
            "clock_skew_tolerance_s": 600,
            "ca_certificate": hx(certificate_der(self.ca)),
            "nodes": [{"node_id": n, "tier": t, "parent": p} for n, (t, p) in NODES.items()],
            "keys": [{
                "name": k.name, "node_id": k.node_id, "tier": k.tier, "parent": k.parent,
                "purpose": k.purpose,
                "ed25519_seed": hx(seed(k.name)),
                "public_key": hx(ed25519_key(k.name).public_key().public_bytes_raw()),
                "key_id": hx(k.signer.key_id),
                "certificate": hx(certificate_der(k.certificate)) if k.certificate else None,
            } for k in self.keys.values()],
            "foreign_certificate": hx(certificate_der(self.foreign_certificate)),
            "catalog_record": wire(self.catalog),
            "catalog_hash": hx(self.catalog.hash),
        }


class Writer:
    """A log being written: seals its next record with a key at a chosen time."""

    def __init__(self, world: World, log_id: str, key: Key) -> None:
        self.world, self.log_id, self.key = world, log_id, key
        self.head = LogHead()

    def next(self, payload: Payload, *, at: dt.datetime = NOW, key: str | None = None,
             advance: bool = True) -> Record:
        signer = self.world.keys[key].signer if key else self.key.signer
        record = seal(payload, log_id=self.log_id, head=self.head, signer=signer,
                      clock=FixedClock(at))
        if advance:
            self.head = record.head
        return record


def wire(record: Record | tuple[bytes, bytes]) -> dict[str, str]:
    body, signature = (record.body, record.signature) if isinstance(record, Record) else record
    return {"body": hx(body), "signature": hx(signature)}


# -- payloads of the vectors ----------------------------------------------------------------------

MZ001 = ("application", "id_card", "hukou", "income_proof", "assets_statement")


def submission(world: World, node_id: str, number: int = 1, *, item: str = "MZ-001",
               day: str = DAY, county: str = COUNTY,
               materials: tuple[MaterialRef, ...] | None = None) -> CaseSubmitted:
    fields = ((("household_size", "3"), ("monthly_income_yuan", "1200")) if item == "MZ-001"
              else (("amount_requested_yuan", "800"),))
    codes = MZ001 if item == "MZ-001" else ("application", "id_card", "hardship_proof")
    return CaseSubmitted(
        case_id=f"{county}-{node_id}-{day}-{number:04d}", item_code=item,
        applicant=Applicant(name="张秀英", id_number=resident_id("36011219580301102")),
        materials=materials if materials is not None else tuple(
            MaterialRef(code=c) for c in codes),
        fields=fields, catalog_version=1, catalog_hash=world.catalog.hash)


def reviewed(world: World, case_id: str) -> PreReviewed:
    return PreReviewed(case_id=case_id, complete=True, missing=(), catalog_version=1,
                       catalog_hash=world.catalog.hash)


def case_of(number: int, node: str = "V001") -> str:
    return f"{COUNTY}-{node}-{DAY}-{number:04d}"


# -- bytes that are not what a writer makes -------------------------------------------------------


def body_message(record: Record) -> pb.RecordBody:
    message = pb.RecordBody()
    message.ParseFromString(record.body)
    return message


def resigned(world: World, key: str, body: bytes) -> dict[str, str]:
    return wire((body, world.keys[key].signer.sign(body)))


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, wire_type: int, payload: bytes) -> bytes:
    key = varint(number << 3 | wire_type)
    if wire_type == 2:
        return key + varint(len(payload)) + payload
    return key + payload


# -- vector helpers -------------------------------------------------------------------------------


def push(peer: str, records: list[dict[str, str]], *, log_id: str | None = None,
         results: list[tuple[int, str, str]] | None = None, committed: int | None = None,
         alarms: list[tuple[str, str]] | None = None, call_refused: str | None = None,
         writes: list[str] | None = None, heartbeat: dict[str, str] | None = None,
         certificates: list[str] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"do": "push", "peer": peer, "log_id": log_id or peer,
                            "records": records}
    if heartbeat is not None:
        step["heartbeat"] = heartbeat
    if certificates:
        step["certificates"] = certificates
    expect: dict[str, Any] = {}
    if call_refused is not None:
        expect["call_refused"] = call_refused
    else:
        expect["results"] = [{"seq": s, "verdict": v, "reason": r} for s, v, r in results or []]
        voided = [s for s, v, r in results or [] if v == "accepted" and r]
        expect["committed_seq"] = committed if committed is not None else max(voided, default=0)
    expect["alarms"] = [{"kind": k, "node": n} for k, n in alarms or []]
    if writes is not None:
        expect["county_writes"] = writes
    step["expect"] = expect
    return step


def ok(*seqs: int) -> list[tuple[int, str, str]]:
    return [(s, "accepted", "") for s in seqs]


def void(seq: int, code: str) -> tuple[int, str, str]:
    """A record an authority rule refuses on a push: it stands in its log without effect
    (verdict ACCEPTED with the rule's reason code), kept as evidence with an alarm, and the
    county tells its writer with a signed ActionRefused (issue 12)."""
    return (seq, "accepted", code)


def pull(logs: dict[str, list[Record | dict[str, str]]], *, refused: str | None = None,
         alarms: list[tuple[str, str]] | None = None,
         certificates: list[str] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"do": "pull", "logs": [
        {"log_id": log_id, "records": [r if isinstance(r, dict) else wire(r) for r in records]}
        for log_id, records in logs.items()]}
    if certificates:
        step["certificates"] = certificates
    step["expect"] = ({"refused": refused} if refused else {"taken": True}) | {
        "alarms": [{"kind": k, "node": n} for k, n in alarms or []]}
    return step


def own(*records: Record) -> dict[str, Any]:
    return {"do": "own", "records": [wire(r) for r in records]}


def county_writes(record: Record) -> dict[str, Any]:
    return {"do": "county_writes", "record": wire(record)}


def vector(vid: str, description: str, steps: list[dict[str, Any]], *,
           receiver: str = "HUB") -> dict[str, Any]:
    return {"id": vid, "description": description, "receiver": receiver, "steps": steps}


def heartbeat(world: World, node: str, head: LogHead, *, key: str | None = None,
              at: dt.datetime = NOW, node_id: str | None = None,
              mutate: Callable[[pb.Heartbeat], None] | None = None) -> dict[str, str]:
    signer = world.keys[key or node].signer
    body = encode_heartbeat(Heartbeat(node_id=node_id or node, head_seq=head.seq,
                                      head_hash=head.hash, sent_at=at, key_id=signer.key_id))
    if mutate is not None:
        message = pb.Heartbeat()
        message.ParseFromString(body)
        mutate(message)
        body = message.SerializeToString(deterministic=True)
    return wire((body, signer.sign(body)))


# -- the suites -----------------------------------------------------------------------------------


def encodings(world: World) -> list[dict[str, Any]]:
    """One well-made record of every payload, with its values as proto3 JSON: a writer that
    encodes these values canonically gets exactly ``body``, signs it to ``signature`` with the
    named key's seed, and ``hash`` is sha256(body)."""
    case = case_of(1)
    grant = world.writer("HUB")
    samples: list[tuple[str, Payload]] = [
        ("V001", submission(world, "V001")),
        ("V001", reviewed(world, case)),
        ("V001", Supplemented(case_id=case, materials=(MaterialRef(
            code="hukou", sha256=hashlib.sha256(b"a scan").digest(), size=6,
            filename="hukou.jpg"),), complete=True, missing=())),
        ("V001", Withdrawn(case_id=case, reason="申请人撤回")),
        ("V001", Concluded(case_id=case, note="结果已当面告知")),
        ("V001", KeyRotated(new_certificate=certificate_der(
            world.keys["V001-rotated"].certificate))),  # type: ignore[arg-type]
        ("V001", replacement(world, seq=2, prev_hash=bytes(32))),
        ("HUB", Accepted(case_id=case, operator="刘芳", department="区民政局")),
        ("HUB", NotAccepted(case_id=case, reason="不属于本机关职权范围", operator="刘芳",
                            department="区民政局")),
        ("HUB", SupplementRequested(case_id=case, materials=("hukou",), reason="请补交户口簿",
                                    operator="刘芳", department="区民政局")),
        ("HUB", Opinion(case_id=case, department="乡镇农业农村办", favourable=True,
                        reason="同意", operator="周杰")),
        ("HUB", Decision(case_id=case, outcome=Outcome.APPROVE, reason="符合条件",
                         operator="刘芳", department="区民政局", verification_code="7K2Q9M")),
        ("HUB", ActionRefused(case_id=case, refused_log_id="V001", refused_seq=4,
                              reason="Withdraw refused: the case is decided")),
        ("HUB", DecisionConfirmed(case_id=case_of(1, "V011"), decision_log_id="T01",
                                  decision_seq=1, decision_hash=bytes(range(32)))),
        ("HUB", NodeRevoked(node_id="V003", from_seq=5, reason="设备被盗", operator="陈工")),
        ("HUB", Delegation(township="T01", items=("MZ-002", "ZJ-001"), valid_from=NOW,
                           valid_until=NOW + dt.timedelta(days=365), catalog_version=1,
                           operator="陈工")),
        ("HUB", DelegationWithdrawn(township="T01", reason="乡镇机构调整", operator="陈工")),
        ("HUB", CalendarPublished(name="新建区 2027", holidays=("2027-01-01", "2027-02-16"),
                                  workdays=("2027-02-20",))),
        ("T01", Decision(case_id=case_of(1, "V011"), outcome=Outcome.REJECT,
                         reason="不符合条件", operator="赵敏", department="T01",
                         verification_code="3HX8PD", delegation=bytes(range(32)))),
    ]
    writers = {"V001": world.writer("V001"), "HUB": grant, "T01": world.writer("T01")}
    out = []
    for log_id, payload in samples:
        record = writers[log_id].next(payload)
        out.append({
            "id": f"encodings/{type(payload).__name__}" + ("-township" if log_id == "T01"
                                                          else ""),
            "description": f"a {type(payload).__name__} record of log {log_id}",
            "key": writers[log_id].key.name,
            "values": json_format.MessageToDict(body_message(record),
                                                preserving_proto_field_name=True),
            **wire(record), "hash": hx(record.hash)})
    out.append(_catalog_encoding(world))
    beat = heartbeat(world, "V001", LogHead())
    message = pb.Heartbeat()
    message.ParseFromString(bytes.fromhex(beat["body"]))
    out.append({"id": "encodings/Heartbeat-empty-log",
                "description": "the heartbeat of a log with no record yet: head_seq 0 is not "
                               "encoded, head_hash is 32 zero bytes",
                "key": "V001", "message": "bianmin.v1.Heartbeat",
                "values": json_format.MessageToDict(message, preserving_proto_field_name=True),
                **beat})
    return out


def _catalog_encoding(world: World) -> dict[str, Any]:
    return {"id": "encodings/CatalogPublished", "description": "catalog version 1 (the world's "
            "catalog record): version = seq, signed by the catalog key",
            "key": "CATALOG",
            "values": json_format.MessageToDict(body_message(world.catalog),
                                                preserving_proto_field_name=True),
            **wire(world.catalog), "hash": hx(world.catalog.hash)}


def records_suite(world: World) -> list[dict[str, Any]]:
    """One record on its own, pushed to the county by its writer: parse, canonical form,
    size, signature, signer, log."""
    v1 = world.writer("V001")
    good = v1.next(submission(world, "V001"), advance=False)
    msg = body_message(good)
    out = [vector("records/valid/submission-and-pre-review",
                  "a case and its pre-review, the two records every intake writes",
                  [push("V001", [wire(v1.next(submission(world, "V001"))),
                                 wire(v1.next(reviewed(world, case_of(1))))],
                        results=ok(1, 2), committed=2)])]

    def refused(vid: str, description: str, body: bytes, reason: str, *, key: str = "V001",
                seq: int = 1, alarm: str | None = None, peer: str = "V001") -> None:
        out.append(vector(f"records/{reason}/{vid}", description, [push(
            peer, [resigned(world, key, body)], results=[(seq, "refused", reason)],
            alarms=[(alarm, peer)] if alarm else [])]))

    refused("not-protobuf", "bytes that are no RecordBody", b"\xff\xff\xff\xff",
            "malformed_body", seq=0, alarm="tampering")
    fields_out_of_order = good.body[good.body.index(b"\x12"):] + good.body[:2]  # format last
    refused("fields-out-of-order", "field 1 (format) after the others: not canonical",
            fields_out_of_order, "malformed_body", seq=0, alarm="tampering")
    refused("default-value-encoded", "an empty string encoded explicitly (proto3 omits it)",
            _with_explicit_empty_phone(msg), "malformed_body", seq=0, alarm="tampering")
    refused("non-minimal-varint", "seq 1 encoded in two bytes (0x81 0x00)",
            good.body.replace(b"\x18\x01", b"\x18\x81\x00", 1), "malformed_body", seq=0,
            alarm="tampering")
    refused("format-2", "format 2: a body format this contract does not define",
            _mutated(msg, lambda m: setattr(m, "format", 2)), "malformed_body", seq=0,
            alarm="tampering")
    refused("no-payload", "a body with no payload",
            _mutated(msg, lambda m: m.ClearField("case_submitted")), "malformed_body", seq=0,
            alarm="tampering")
    refused("time-no-date", "recorded_at_ms 2^62: a time that is no date",
            _mutated(msg, lambda m: setattr(m, "recorded_at_ms", 2**62)), "malformed_body",
            seq=0, alarm="tampering")
    no_outcome = body_message(v1.next(Decision(case_id=case_of(1), outcome=Outcome.APPROVE,
                                               reason="x", operator="x"), advance=False))
    no_outcome.decision.outcome = pb.OUTCOME_UNSPECIFIED
    refused("decision-without-outcome", "a Decision whose outcome is OUTCOME_UNSPECIFIED",
            no_outcome.SerializeToString(deterministic=True), "malformed_body", seq=0,
            alarm="tampering")
    refused("top-level-field-99", "a field this contract does not define, in the body",
            good.body + field(99, 0, varint(1)), "unknown_field", seq=0, alarm="tampering")
    nested = pb.Applicant()
    nested.CopyFrom(msg.case_submitted.applicant)
    applicant = nested.SerializeToString(deterministic=True) + field(9, 2, b"x")
    inner = _replace_submessage(msg.case_submitted, 3, applicant)
    refused("inside-a-payload", "an unknown field inside CaseSubmitted.applicant",
            _replace_submessage(msg, 10, inner), "unknown_field", seq=0, alarm="tampering")
    future = _mutated(msg, lambda m: m.ClearField("case_submitted")) + field(27, 2, b"\x0a\x01x")
    refused("future-payload", "a payload in oneof field 27, which a later contract may define: "
            "a v1 reader refuses it rather than guess", future, "unknown_field", seq=0,
            alarm="tampering")
    big = dataclasses.replace(submission(world, "V001"), fields=tuple(  # each within its bound
        (f"note_{n}", "张" * 4000) for n in range(6)))
    refused("over-64-kib", "a body of more than 65 536 bytes",
            v1.next(big, advance=False).body, "oversized", seq=0, alarm="tampering")
    signature = bytearray(good.signature)
    signature[0] ^= 1
    out.append(vector("records/bad_signature/flipped-bit", "one bit of the signature flipped",
                      [push("V001", [wire((good.body, bytes(signature)))],
                            results=[(1, "refused", "bad_signature")],
                            alarms=[("forgery", "V001")])]))
    out.append(vector("records/bad_signature/63-bytes", "a signature one byte short",
                      [push("V001", [wire((good.body, good.signature[:63]))],
                            results=[(0, "refused", "bad_signature")],
                            alarms=[("forgery", "V001")])]))
    other = v1.next(reviewed(world, case_of(1)), advance=False)
    out.append(vector("records/bad_signature/another-bodys-signature",
                      "the signature of another record of the same key",
                      [push("V001", [wire((good.body, other.signature))],
                            results=[(1, "refused", "bad_signature")],
                            alarms=[("forgery", "V001")])]))
    stranger = world.writer("stranger", "V001").next(submission(world, "V001"))
    out.append(vector("records/unknown_key/no-certificate",
                      "signed by a key no certificate of the county CA names",
                      [push("V001", [wire(stranger)], results=[(1, "refused", "unknown_key")],
                            alarms=[("forgery", "V001")])]))
    for vid, key in (("another-villages-key", "V003"), ("the-catalog-key", "CATALOG")):
        forged = world.writer(key, "V001").next(submission(world, "V001"))
        out.append(vector(f"records/wrong_signer/{vid}",
                          f"a record of V001's log signed by {key}'s key",
                          [push("V001", [wire(forged)], results=[(1, "refused", "wrong_signer")],
                                alarms=[("forgery", "V001")])]))
    out.append(vector("records/wrong_log/record-of-another-log",
                      "V003 pushes its own log, but the record inside is V001's",
                      [push("V003", [wire(good)], results=[(1, "refused", "wrong_log")],
                            alarms=[("impersonation", "V003")])]))
    out.append(vector("records/wrong_log/pushing-another-log",
                      "V003 pushes V001's log: the call is refused whole, the records kept "
                      "as evidence",
                      [push("V003", [wire(good)], log_id="V001", call_refused="wrong_log",
                            alarms=[("impersonation", "V001")])]))
    return out


def _mutated(msg: pb.RecordBody, change: Callable[[pb.RecordBody], object]) -> bytes:
    copy = pb.RecordBody()
    copy.CopyFrom(msg)
    change(copy)
    return copy.SerializeToString(deterministic=True)


def _replace_submessage(message: Any, number: int, new: bytes) -> bytes:
    """``message`` serialized with field ``number`` (a submessage) replaced by ``new`` bytes."""
    copy = type(message)()
    copy.CopyFrom(message)
    copy.ClearField(copy.DESCRIPTOR.fields_by_number[number].name)
    # fields in number order: those below ``number``, the new one, those above
    low, high = type(message)(), type(message)()
    for descriptor, value in copy.ListFields():
        target = low if descriptor.number < number else high
        if descriptor.is_repeated:
            getattr(target, descriptor.name).extend(value)
        elif descriptor.message_type is not None:
            getattr(target, descriptor.name).CopyFrom(value)
        else:
            setattr(target, descriptor.name, value)
    return (low.SerializeToString(deterministic=True) + field(number, 2, new)
            + high.SerializeToString(deterministic=True))


def _with_explicit_empty_phone(msg: pb.RecordBody) -> bytes:
    applicant = msg.case_submitted.applicant.SerializeToString(deterministic=True)
    inner = _replace_submessage(msg.case_submitted, 3, applicant + field(3, 2, b""))
    return _replace_submessage(msg, 10, inner)


def chains_suite(world: World) -> list[dict[str, Any]]:
    """A log's records in order: seq from 1 without gaps, each naming the hash of the one
    before (32 zero bytes for the first), resends, forks, revocation, key rotation."""
    out = []

    def log(key: str = "V001") -> tuple[Writer, list[Record]]:
        w = world.writer(key)
        node = world.keys[key].node_id
        first = w.next(submission(world, node))
        return w, [first, w.next(reviewed(world, first.payload.case_id))]  # type: ignore[union-attr]

    w, (r1, r2) = log()
    r3 = w.next(Concluded(case_id=case_of(1)))
    out.append(vector("chains/valid/in-order", "three records in one push",
                      [push("V001", [wire(r1), wire(r2), wire(r3)], results=ok(1, 2, 3),
                            committed=3)]))
    out.append(vector("chains/valid/resent", "a push resent whole: already had, nothing new",
                      [push("V001", [wire(r1), wire(r2)], results=ok(1, 2), committed=2),
                       push("V001", [wire(r1), wire(r2)],
                            results=[(1, "already_had", ""), (2, "already_had", "")],
                            committed=2)]))
    out.append(vector("chains/gap/record-missing", "seq 3 arrives after seq 1: 2 is missing",
                      [push("V001", [wire(r1)], results=ok(1), committed=1),
                       push("V001", [wire(r3)], results=[(3, "refused", "gap")],
                            committed=1)]))
    broken = world.writer("V001")
    broken.next(submission(world, "V001"))
    broken.head = dataclasses.replace(broken.head, hash=hashlib.sha256(b"not r1").digest())
    b2 = broken.next(reviewed(world, case_of(1)))
    out.append(vector("chains/broken_chain/wrong-previous-hash",
                      "seq 2 names a previous hash that is not sha256 of seq 1's body",
                      [push("V001", [wire(r1)], results=ok(1), committed=1),
                       push("V001", [wire(b2)], results=[(2, "refused", "broken_chain")],
                            committed=1, alarms=[("tampering", "V001")])]))
    other = world.writer("V001")
    other.next(submission(world, "V001"))
    fork2 = other.next(Withdrawn(case_id=case_of(1), reason="两个版本"))
    out.append(vector("chains/fork/same-seq-another-record",
                      "a different record at seq 2: refused, kept, alarmed; the log is held "
                      "until an operator resolves the alarm",
                      [push("V001", [wire(r1), wire(r2)], results=ok(1, 2), committed=2),
                       push("V001", [wire(fork2)], results=[(2, "refused", "fork")],
                            committed=2, alarms=[("fork", "V001")]),
                       push("V001", [wire(r3)], call_refused="held")]))
    tampered = bytearray(r2.signature)
    tampered[10] ^= 0x40
    out.append(vector("chains/after_refusal/the-rest-of-the-batch",
                      "a push judged record by record: what comes before a refusal stands, "
                      "what comes after is not applied (and not evidence)",
                      [push("V001", [wire(r1), wire((r2.body, bytes(tampered))), wire(r3)],
                            results=[(1, "accepted", ""), (2, "refused", "bad_signature"),
                                     (3, "refused", "after_refusal")], committed=1,
                            alarms=[("forgery", "V001")])]))
    # revocation: the township relays its village's records; the county revoked V011 from 2
    _v11, (a1, a2) = log("V011")
    revoke = world.writer("HUB").next(NodeRevoked(node_id="V011", from_seq=2,
                                                  reason="设备被盗", operator="陈工"))
    out.append(vector("chains/revoked/signed-after-the-revocation-point",
                      "V011 was revoked from seq 2: its township relays seq 1 (stands) and "
                      "seq 2 (refused)",
                      [push("T01", [wire(a1)], log_id="V011", results=ok(1), committed=1),
                       county_writes(revoke),
                       push("T01", [wire(a2)], log_id="V011",
                            results=[(2, "refused", "revoked")], committed=1,
                            alarms=[("revoked_key", "V011")])]))
    revoke_v1 = world.writer("HUB").next(NodeRevoked(node_id="V001", from_seq=1,
                                                     reason="设备被盗", operator="陈工"))
    out.append(vector("chains/revoked/the-revoked-node-calls",
                      "a revoked node's own calls are refused whole (UNAUTHENTICATED)",
                      [county_writes(revoke_v1),
                       push("V001", [wire(r1)], call_refused="revoked")]))
    rot = world.writer("V001")
    k1 = rot.next(submission(world, "V001"))
    rotated = world.keys["V001-rotated"].certificate
    assert rotated is not None
    k2 = rot.next(KeyRotated(new_certificate=certificate_der(rotated)))
    old_key = rot.next(reviewed(world, case_of(1)), advance=False)
    new_key = rot.next(reviewed(world, case_of(1)), key="V001-rotated")
    out.append(vector("chains/valid/key-rotation",
                      "KeyRotated (signed by the old key) puts the new key in force for seq 3",
                      [push("V001", [wire(k1), wire(k2), wire(new_key)], results=ok(1, 2, 3),
                            committed=3)]))
    out.append(vector("chains/retired_key/old-key-after-rotation",
                      "after the rotation, seq 3 signed by the old key",
                      [push("V001", [wire(k1), wire(k2), wire(old_key)],
                            results=[(1, "accepted", ""), (2, "accepted", ""),
                                     (3, "refused", "retired_key")], committed=2,
                            alarms=[("retired_key", "V001")])]))
    for vid, cert in (("another-countys-ca", world.foreign_certificate),
                      ("another-nodes-certificate", world.keys["V003"].certificate)):
        bad = world.writer("V001")
        b1 = bad.next(submission(world, "V001"))
        b2 = bad.next(KeyRotated(new_certificate=certificate_der(cert)))  # type: ignore[arg-type]
        out.append(vector(f"chains/bad_rotation/{vid}",
                          f"KeyRotated naming a certificate of {vid.replace('-', ' ')}",
                          [push("V001", [wire(b1), wire(b2)],
                                results=[(1, "accepted", ""), (2, "refused", "bad_rotation")],
                                committed=1, alarms=[("forgery", "V001")])]))
    out += _replacements(world)
    return out


def replacement(world: World, *, seq: int, prev_hash: bytes, key: str = "V001-replaced",
                signer: str = "HUB") -> KeyReplaced:
    """V001's KeyReplaced for ``seq``: the new key's certificate and the county's
    authorization for that place (``signer``: who signs the authorization)."""
    new = world.keys[key]
    assert new.certificate is not None
    return KeyReplaced(new_certificate=certificate_der(new.certificate),
                       authorization=world.keys[signer].signer.sign(key_replacement_message(
                           "V001", seq, prev_hash, new.signer.key_id)),
                       hub_key_id=world.keys[signer].signer.key_id, reason="服务站电脑被盗")


def _replacements(world: World) -> list[dict[str, Any]]:
    """A node that lost its keys: the record after the last one the county held is signed by
    the new key and carries the county's authorization for exactly that place."""
    out = []
    w = world.writer("V001")
    r1 = w.next(submission(world, "V001"))
    r2 = w.next(replacement(world, seq=2, prev_hash=r1.hash), key="V001-replaced")
    old = w.next(reviewed(world, case_of(1)), advance=False)
    r3 = w.next(reviewed(world, case_of(1)), key="V001-replaced")
    out.append(vector("chains/valid/key-replacement",
                      "KeyReplaced at seq 2, signed by the new key with the hub's authorization "
                      "for (V001, 2, hash of seq 1, new key id), puts the new key in force",
                      [push("V001", [wire(r1), wire(r2), wire(r3)], results=ok(1, 2, 3),
                            committed=3)]))
    out.append(vector("chains/retired_key/lost-key-after-replacement",
                      "after the replacement, seq 3 signed by the lost key",
                      [push("V001", [wire(r1), wire(r2), wire(old)],
                            results=[(1, "accepted", ""), (2, "accepted", ""),
                                     (3, "refused", "retired_key")], committed=2,
                            alarms=[("retired_key", "V001")])]))
    for vid, what, payload in (
            ("another-place", "an authorization for seq 3, not 2",
             replacement(world, seq=3, prev_hash=r1.hash)),
            ("another-chain", "an authorization chained on another record",
             replacement(world, seq=2, prev_hash=bytes(32))),
            ("not-the-county", "an authorization signed by village V003, not the hub",
             replacement(world, seq=2, prev_hash=r1.hash, signer="V003"))):
        bad = world.writer("V001")
        b1 = bad.next(submission(world, "V001"))
        b2 = bad.next(payload, key="V001-replaced")
        out.append(vector(f"chains/bad_replacement/{vid}", f"KeyReplaced with {what}",
                          [push("V001", [wire(b1), wire(b2)],
                                results=[(1, "accepted", ""), (2, "refused", "bad_replacement")],
                                committed=1, alarms=[("forgery", "V001")])]))
    return out


def heartbeats_suite(world: World) -> list[dict[str, Any]]:
    """A node's signed statement of its log head, sent with a push (every sync starts with an
    empty push carrying one): optional, but a wrong one raises a fork alarm that holds the
    node."""
    w = world.writer("V001")
    r1 = w.next(submission(world, "V001"))
    r2 = w.next(reviewed(world, case_of(1)))
    other = world.writer("V001")
    other.next(submission(world, "V001"))
    forked = other.next(Withdrawn(case_id=case_of(1), reason="另一个版本"))
    beat = heartbeat
    out = [
        vector("heartbeats/valid/empty-log", "head_seq 0 and head_hash 32 zero bytes: the "
               "heartbeat of a node that has written nothing yet",
               [push("V001", [], heartbeat=beat(world, "V001", LogHead()), committed=0)]),
        vector("heartbeats/valid/no-heartbeat", "a push without a heartbeat is a push like "
               "any other (heartbeats are optional)",
               [push("V001", [wire(r1)], results=ok(1), committed=1)]),
        vector("heartbeats/valid/at-the-head", "after a push of two records, a heartbeat "
               "naming seq 2 and its hash",
               [push("V001", [wire(r1), wire(r2)], results=ok(1, 2), committed=2),
                push("V001", [], heartbeat=beat(world, "V001", r2.head), committed=2)]),
        vector("heartbeats/valid/ahead", "a heartbeat claiming seq 2 the county has not "
               "received: it learns the node is 2 records ahead",
               [push("V001", [], heartbeat=beat(world, "V001", r2.head), committed=0)]),
        vector("heartbeats/fork/contradicts-a-stored-record",
               "the heartbeat names a hash at seq 2 that is not the stored record's: a fork "
               "alarm, and the node's pushes are held until an operator resolves it",
               [push("V001", [wire(r1), wire(r2)], results=ok(1, 2), committed=2),
                push("V001", [], heartbeat=beat(world, "V001", forked.head), committed=2,
                     alarms=[("fork", "V001")]),
                push("V001", [wire(w.next(Concluded(case_id=case_of(1))))],
                     call_refused="held")]),
        vector("heartbeats/bad_signature/another-key", "V001's heartbeat signed by V003's key",
               [push("V001", [], heartbeat=beat(world, "V001", LogHead(), key="V003"),
                     call_refused="bad_signature")]),
        vector("heartbeats/wrong_log/another-nodes-heartbeat",
               "V001 sends a heartbeat naming V003",
               [push("V001", [], heartbeat=beat(world, "V003", LogHead()),
                     call_refused="wrong_log")]),
        vector("heartbeats/malformed_body/time-no-date", "sent_at_ms 2^62",
               [push("V001", [], heartbeat=beat(world, "V001", LogHead(), mutate=lambda m:
                                                 setattr(m, "sent_at_ms", 2**62)),
                     call_refused="malformed_body", alarms=[("tampering", "V001")])]),
    ]
    unknown = beat(world, "V001", LogHead())
    body = bytes.fromhex(unknown["body"]) + field(9, 0, varint(1))
    out.append(vector("heartbeats/unknown_field/field-9", "a heartbeat with a field this "
                      "contract does not define",
                      [push("V001", [], heartbeat=resigned(world, "V001", body),
                            call_refused="unknown_field", alarms=[("tampering", "V001")])]))
    return out


def catalogs_suite(world: World) -> list[dict[str, Any]]:
    """Catalog versions as a village pulls them: the CATALOG log, version = seq, signed by the
    catalog key; higher versions only (a rollback cannot chain)."""
    cat = world.writer("CATALOG")
    cat.head = world.catalog.head
    v2 = dataclasses.replace(world.catalog_payload, version=2, issued_at=NOW,
                             expires_at=NOW + dt.timedelta(days=365))
    good = cat.next(v2, advance=False)
    expired = cat.next(dataclasses.replace(v2, expires_at=NOW - dt.timedelta(days=1)),
                       advance=False)
    wrong_version = cat.next(dataclasses.replace(v2, version=3), advance=False)
    by_hub = world.writer("HUB", "CATALOG")
    by_hub.head = world.catalog.head
    hub_signed = by_hub.next(v2)
    rollback = world.writer("CATALOG").next(dataclasses.replace(
        world.catalog_payload, issued_at=NOW))
    skip = world.writer("CATALOG")
    skip.head = dataclasses.replace(good.head, seq=2)
    v3 = skip.next(dataclasses.replace(v2, version=3))
    in_hub_log = world.writer("HUB").next(v2)
    return [
        vector("catalogs/valid/next-version", "version 2, chained to version 1",
               [pull({"CATALOG": [good]})], receiver="V001"),
        vector("catalogs/valid/expired", "an expired catalog is taken (intake goes on, the "
               "case records the version it was pre-reviewed under, the county re-checks)",
               [pull({"CATALOG": [expired]})], receiver="V001"),
        vector("catalogs/bad_catalog/version-not-seq", "version 3 at seq 2",
               [pull({"CATALOG": [wrong_version]}, refused="bad_catalog",
                     alarms=[("tampering", "CATALOG")])], receiver="V001"),
        vector("catalogs/wrong_signer/signed-by-the-hub-key",
               "catalog version 2 signed by the hub's records key, not the catalog key",
               [pull({"CATALOG": [hub_signed]}, refused="wrong_signer",
                     alarms=[("forgery", "CATALOG")])], receiver="V001"),
        vector("catalogs/fork/rollback", "another version 1: a rollback cannot chain, it forks",
               [pull({"CATALOG": [rollback]}, refused="fork", alarms=[("fork", "CATALOG")])],
               receiver="V001"),
        vector("catalogs/gap/version-skipped", "version 3 without version 2",
               [pull({"CATALOG": [v3]}, refused="gap", alarms=[("gap", "CATALOG")])],
               receiver="V001"),
        vector("catalogs/forbidden_payload/in-the-hub-log",
               "a catalog version carried in the HUB log", [pull(
                   {"HUB": [in_hub_log]}, refused="forbidden_payload",
                   alarms=[("unauthorized", "HUB")])], receiver="V001"),
    ]


def authority_suite(world: World) -> list[dict[str, Any]]:
    """Who may say what (node/kernel/authority.py): which logs carry what, case ids, the
    origin, the deciding tier, attachments; at the county and below it."""
    a = _Authority(world)
    a.logs_and_case_ids()
    a.township_decisions()
    a.attachments_and_time()
    a.below_the_county()
    return a.out


class _Authority:
    def __init__(self, world: World) -> None:
        self.world = world
        self.out: list[dict[str, Any]] = []
        self.grant = world.writer("HUB").next(Delegation(
            township="T01", items=("MZ-002",), valid_from=NOW,
            valid_until=NOW + dt.timedelta(days=30), catalog_version=1, operator="陈工"))

    def county(self, vid: str, description: str, steps: list[dict[str, Any]]) -> None:
        self.out.append(vector(f"authority/{vid}", description, steps))

    def taken(self, node: str, number: int = 1, item: str = "MZ-001",
              ) -> tuple[Writer, dict[str, Any]]:
        """A case ``node`` takes, pushed (or relayed by its township) and received."""
        world = self.world
        w = world.writer(node)
        sub = submission(world, node, number, item=item)
        records = [w.next(sub), w.next(reviewed(world, sub.case_id))]
        return w, push(node if world.keys[node].parent == "HUB" else world.keys[node].parent,
                       [wire(r) for r in records], log_id=node,
                       results=ok(records[0].seq, records[1].seq), committed=records[1].seq)

    def decision(self, cited: bytes, *, at: dt.datetime = NOW, w: Writer | None = None,
                 case_id: str = "") -> Record:
        return (w or self.world.writer("T01")).next(Decision(
            case_id=case_id or case_of(1, "V011"), outcome=Outcome.APPROVE, reason="符合条件",
            operator="赵敏", department="T01", delegation=cited), at=at)

    def logs_and_case_ids(self) -> None:
        world, county, taken = self.world, self.county, self.taken
        case = case_of(1)
        # 1. logs
        for name, payload in [
            ("Accepted", Accepted(case_id=case, operator="刘芳", department="区民政局")),
            ("Decision", Decision(case_id=case_of(1, "V003"), outcome=Outcome.APPROVE,
                                  reason="自批", operator="村干部")),
            ("NodeRevoked", NodeRevoked(node_id="V001", from_seq=1, reason="x", operator="x")),
            ("Delegation", Delegation(township="T01", items=("MZ-002",), valid_from=NOW,
                                      valid_until=NOW, catalog_version=1, operator="x")),
            ("DecisionConfirmed", DecisionConfirmed(case_id=case, decision_log_id="T01",
                                                    decision_seq=1, decision_hash=bytes(32))),
            ("CatalogPublished", world.catalog_payload),
        ]:
            county(f"forbidden_payload/village-writes-{name}",
                   f"a village log carrying a {name} (only the county's logs may)",
                   [push("V003", [wire(world.writer("V003").next(payload))],
                         results=[void(1, "forbidden_payload")],
                         alarms=[("unauthorized", "V003")])])
        # 2. case ids
        w = world.writer("V001")
        county("valid/case-id-straddles-midnight", "a case id dated the day before its signing "
               "(CST): an intake begun before midnight", [push("V001", [wire(w.next(submission(
                   world, "V001", day="20261130")))], results=ok(1), committed=1)])
        for vid, kwargs, why in [
            ("another-county", {"county": "360113"}, "of another county"),
            ("dated-days-before", {"day": "20261120"}, "dated 11 days before it was signed"),
            ("dated-after", {"day": "20261203"}, "dated after it was signed"),
        ]:
            county(f"bad_case_id/{vid}", f"a case id {why}",
                   [push("V001", [wire(world.writer("V001").next(
                       submission(world, "V001", **kwargs)))],  # type: ignore[arg-type]
                         results=[void(1, "bad_case_id")],
                         alarms=[("unauthorized", "V001")])])
        county("bad_case_id/not-a-case-id", "a case id that is not {county}-{node}-{date}-{NNNN}",
               [push("V001", [wire(world.writer("V001").next(dataclasses.replace(
                   submission(world, "V001"), case_id="360112-V001-2026-1")))],
                     results=[void(1, "bad_case_id")], alarms=[("unauthorized", "V001")])])
        county("bad_case_id/dated-in-utc", "signed at 01:00 CST on 1 December (17:00 UTC on 30 "
               "November) and dated 29 November: the date is the signer's CST date or the day "
               "before, not a UTC date", [push("V001", [wire(world.writer("V001").next(
                   submission(world, "V001", day="20261129"),
                   at=dt.datetime(2026, 11, 30, 17, tzinfo=dt.UTC)))],
                   results=[void(1, "bad_case_id")], alarms=[("unauthorized", "V001")])])
        # 3. origin
        county("not_case_origin/case-id-names-another-node",
               "V003 submits a case whose id names V001", [push("V003", [wire(world.writer(
                   "V003").next(submission(world, "V001")))],
                   results=[void(1, "not_case_origin")],
                   alarms=[("impersonation", "V003")])])
        _w, first = taken("V001")
        county("not_case_origin/withdraws-another-villages-case",
               "V003 withdraws V001's case", [first, push("V003", [wire(world.writer("V003").next(
                   Withdrawn(case_id=case, reason="不办了")))],
                   results=[void(1, "not_case_origin")],
                   alarms=[("impersonation", "V003")])])
        w, first = taken("V001")
        county("duplicate_case/submitted-twice", "the same case id submitted again",
               [first, push("V001", [wire(w.next(submission(world, "V001")))],
                            results=[void(3, "duplicate_case")], committed=3,
                            alarms=[("unauthorized", "V001")])])
        county("unknown_case/never-submitted", "a withdrawal of a case its log never submitted",
               [push("V001", [wire(world.writer("V001").next(Withdrawn(
                   case_id=case_of(9), reason="x")))],
                     results=[void(1, "unknown_case")], alarms=[("unauthorized", "V001")])])
        # the required sequence: a case is received once its pre-review arrives
        w = world.writer("V001")
        only = w.next(submission(world, "V001"))
        county("valid/submission-without-pre-review", "CaseSubmitted alone is taken and the case "
               "received, but incomplete (nothing is known of its materials) until its "
               "PreReviewed arrives: before, an operator's accept is refused (case_incomplete)",
               [push("V001", [wire(only)], results=ok(1), committed=1),
                {"do": "case", "case_id": case, "expect": {"state": "received", "complete": False}},
                push("V001", [wire(w.next(reviewed(world, case)))], results=ok(2), committed=2),
                {"do": "case", "case_id": case, "expect": {"state": "received", "complete": True}}])

    def township_decisions(self) -> None:
        world, county, taken, decision = (self.world, self.county, self.taken,
                                          self.decision)
        grant, case = self.grant, case_of(1)
        _w, first = taken("V001")
        # 5, 6. township decisions
        v11_case = case_of(1, "V011")

        _w, v11_taken = taken("V011", item="MZ-002")
        county("valid/township-decides-its-villages-delegated-case",
               "T01 decides V011's MZ-002 case under its grant: the county confirms it",
               [county_writes(grant), v11_taken, push("T01", [wire(decision(grant.hash))],
                                                      results=ok(1), committed=1,
                                                      writes=["DecisionConfirmed"])])
        _w, v11_county_item = taken("V011", item="MZ-001")
        county("not_delegated/county-item", "T01 decides an item the catalog leaves to the county",
               [county_writes(grant), v11_county_item, push(
                   "T01", [wire(decision(grant.hash, case_id=v11_case))],
                   results=[void(1, "not_delegated")],
                   alarms=[("unauthorized_decision", "T01")], writes=["ActionRefused"])])
        other_grant = world.writer("HUB")
        t02_grant = other_grant.next(Delegation(township="T02", items=("MZ-002",), valid_from=NOW,
                                                valid_until=NOW + dt.timedelta(days=30),
                                                catalog_version=1, operator="陈工"))
        mz3_grant = other_grant.next(Delegation(township="T01", items=("MZ-003",), valid_from=NOW,
                                                valid_until=NOW + dt.timedelta(days=30),
                                                catalog_version=1, operator="陈工"))
        for vid, steps_before, cited in [
            ("cites-no-grant", [], b"\x01" * 32),
            ("cites-another-townships-grant", [county_writes(t02_grant)], t02_grant.hash),
            ("grant-for-another-item", [county_writes(t02_grant), county_writes(mz3_grant)],
             mz3_grant.hash),
        ]:
            county(f"not_delegated/{vid}", f"T01's decision on V011's MZ-002 case {vid}",
                   [*steps_before, v11_taken, push("T01", [wire(decision(cited))],
                                                   results=[void(1, "not_delegated")],
                                                   alarms=[("unauthorized_decision", "T01")],
                                                   writes=["ActionRefused"])])
        withdrawn = world.writer("HUB")
        withdrawn.head = grant.head
        end = withdrawn.next(DelegationWithdrawn(township="T01", reason="机构调整",
                                                 operator="陈工"),
                             at=NOW + dt.timedelta(hours=2))
        later = NOW + dt.timedelta(hours=4)
        county("not_delegated/backdated-after-the-grant-ended",
               "the grant was withdrawn at 12:00; at 14:00 the county receives a decision the "
               "township dated 11:00. A township's own timestamp does not count",
               [county_writes(grant), v11_taken, {"do": "clock", "at": (NOW + dt.timedelta(
                   hours=2)).isoformat()}, county_writes(end), {"do": "clock", "at":
                                                                later.isoformat()},
                push("T01", [wire(decision(grant.hash, at=NOW + dt.timedelta(hours=1)))],
                     results=[void(1, "not_delegated")],
                     alarms=[("unauthorized_decision", "T01")], writes=["ActionRefused"])])
        tw = world.writer("T01")
        seen = decision(grant.hash, w=tw)
        county("valid/seen-before-the-grant-ended",
               "the township's heartbeat claimed the decision's seq before the grant was "
               "withdrawn: the decision stands when it arrives later",
               [county_writes(grant), v11_taken,
                push("T01", [], heartbeat=heartbeat(world, "T01", seen.head), committed=0),
                {"do": "clock", "at": (NOW + dt.timedelta(hours=2)).isoformat()},
                county_writes(end), {"do": "clock", "at": later.isoformat()},
                push("T01", [wire(seen)], results=ok(1), committed=1,
                     writes=["DecisionConfirmed"])])
        _w, v001_mz2 = taken("V001", item="MZ-002")
        county("not_its_village/decides-a-county-villages-case",
               "T01 decides a case V001 (a village of the county, not of T01) took",
               [county_writes(grant), v001_mz2, push(
                   "T01", [wire(decision(grant.hash, case_id=case))],
                   results=[void(1, "not_its_village")],
                   alarms=[("unauthorized_decision", "T01")], writes=["ActionRefused"])])
        county("not_its_village/refuses-another-villages-action",
               "T01 refuses an action of V001, which is not its village",
               [first, push("T01", [wire(world.writer("T01").next(ActionRefused(
                   case_id=case, refused_log_id="V001", refused_seq=1, reason="x")))],
                   results=[void(1, "not_its_village")],
                   alarms=[("unauthorized_decision", "T01")])])
        county("case_pending/decision-before-the-case",
               "T01's decision on a case the county has not received yet: held back (not "
               "evidence, no alarm); the township relays the case first",
               [county_writes(grant), push("T01", [wire(decision(grant.hash))],
                                           results=[(1, "refused", "case_pending")])])

    def attachments_and_time(self) -> None:
        world, county, case = self.world, self.county, case_of(1)
        # 9. attachments
        scan = b"\xff\xd8 V001's scan of a citizen's id card"
        digest = hashlib.sha256(scan).digest()
        named = (MaterialRef(code="id_card", sha256=digest, size=len(scan), filename="id.jpg"),
                 *(MaterialRef(code=c) for c in MZ001 if c != "id_card"))
        county("valid/names-its-own-scan", "a submission naming a scan its own log uploaded",
               [{"do": "blob", "log_id": "V001", "sha256": hx(digest)},
                push("V001", [wire(world.writer("V001").next(submission(
                    world, "V001", materials=named)))], results=ok(1), committed=1)])
        county("blob_not_yours/another-villages-scan",
               "V003's submission names a scan V001 uploaded",
               [{"do": "blob", "log_id": "V001", "sha256": hx(digest)},
                push("V003", [wire(world.writer("V003").next(dataclasses.replace(submission(
                    world, "V003", materials=named))))],
                     results=[void(1, "blob_not_yours")],
                     alarms=[("unauthorized", "V003")])])
        county("valid/scan-never-arrived", "a submission naming a scan that never reached the "
               "county: it stands, the case lacks that material, and the county tells the desk "
               "to attach it again (a signed ActionRefused, scan_missing)", [push("V001", [wire(
                   world.writer("V001").next(submission(world, "V001", materials=named)))],
                   results=ok(1), committed=1, writes=["ActionRefused"])])
        # 10. time: flagged, never refused
        w = world.writer("V001")
        county("valid/clock-went-back", "seq 2 dated three hours before seq 1: taken, flagged",
               [push("V001", [wire(w.next(submission(world, "V001"))), wire(w.next(reviewed(
                   world, case), at=NOW - dt.timedelta(hours=3)))], results=ok(1, 2),
                   committed=2), {"do": "case", "case_id": case, "expect": {"flagged": True}}])
        w = world.writer("V001")
        county("valid/dated-1990", "a record dated 1990, long before its key was certified: "
               "taken, flagged", [push("V001", [wire(w.next(submission(world, "V001",
                                                                       day="19900101"),
                                                            at=dt.datetime(1990, 1, 1, 2,
                                                                           tzinfo=dt.UTC)))],
                                       results=ok(1), committed=1),
                                  {"do": "case", "case_id": case_of(1).replace(DAY, "19900101"),
                                   "expect": {"flagged": True}}])

    def below_the_county(self) -> None:
        world, decision, grant, out = self.world, self.decision, self.grant, self.out
        v11_case = case_of(1, "V011")
        # below the county: what a village checks of what it pulls
        village = world.writer("V011")
        sub = village.next(submission(world, "V011", item="MZ-002"))
        rev = village.next(reviewed(world, v11_case))
        t_decision = decision(grant.hash)
        confirm = world.writer("HUB")
        confirm.head = grant.head
        confirmed = confirm.next(DecisionConfirmed(case_id=v11_case, decision_log_id="T01",
                                                   decision_seq=1,
                                                   decision_hash=t_decision.hash))
        out.append(vector("authority/valid/village-takes-provisional-then-confirmed",
                          "V011 pulls its township's decision (provisional), then the county's "
                          "confirmation",
                          [own(sub, rev), pull({"HUB": [grant], "T01": [t_decision]}),
                           {"do": "case", "case_id": v11_case,
                            "expect": {"state": "approved", "provisional": True}},
                           pull({"HUB": [confirmed]}),
                           {"do": "case", "case_id": v11_case,
                            "expect": {"state": "approved", "provisional": False}}],
                          receiver="V011"))
        out.append(vector("authority/not_delegated/village-holds-no-such-grant",
                          "V011 pulls a township decision citing a grant it does not hold",
                          [own(sub, rev), pull({"T01": [decision(b"\x09" * 32)]},
                                               refused="not_delegated",
                                               alarms=[("unauthorized_decision", "T01")])],
                          receiver="V011"))
        hub_decision = world.writer("HUB").next(Decision(
            case_id=case_of(1, "V003"), outcome=Outcome.APPROVE, reason="x", operator="x"))
        out.append(vector("authority/not_my_case/decision-about-another-villages-case",
                          "V001 is sent the county's decision on V003's case",
                          [pull({"HUB": [hub_decision]}, refused="not_my_case",
                                alarms=[("unauthorized", "HUB")])], receiver="V001"))
        out.append(vector("authority/unexpected_record/townships-own-submission-sent-down",
                          "V011 is sent its township's own CaseSubmitted (records of a node's own "
                          "desk travel only up)",
                          [pull({"T01": [world.writer("T01").next(submission(world, "T01"))]},
                                refused="unexpected_record", alarms=[("unauthorized", "T01")])],
                          receiver="V011"))


SUITES: dict[str, tuple[str, Callable[[World], list[dict[str, Any]]]]] = {
    "encodings": ("One well-made record of every payload: values, canonical body, signature, "
                  "hash", encodings),
    "records": ("Records on their own: parse, canonical form, size, signature, signer, log",
                records_suite),
    "chains": ("A log in order: seq, previous hash, resends, forks, revocation, key rotation",
               chains_suite),
    "heartbeats": ("Heartbeats: the empty log, claims ahead, forks, signatures", heartbeats_suite),
    "catalogs": ("Catalog versions as a village pulls them", catalogs_suite),
    "authority": ("Who may say what, at the county and below it", authority_suite),
}


def build() -> dict[str, bytes]:
    """File name -> bytes of every vector file."""
    world = World()
    files = {"world.json": world.as_json()}
    for name, (description, make) in SUITES.items():
        files[f"{name}.json"] = {"suite": name, "description": description,
                                 "world": "world.json", "vectors": make(world)}
    return {name: (json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n"
                   ).encode() for name, data in files.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if tests/vectors differs from what this makes")
    args = parser.parse_args()
    files = build()
    if args.check:
        stale = [n for n, data in files.items()
                 if not (OUT / n).exists() or (OUT / n).read_bytes() != data]
        extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in files)
        if stale or extra:
            print(f"tests/vectors is stale ({', '.join(stale + extra)}): run "
                  "python scripts/make_vectors.py", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(files)} files to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
