"""Signed, hash-chained records: sealing, parsing and every refusal of verify_log_batch."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import typing
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources

import pytest
from cryptography import x509

from county_hub.ca import issue_certificate, make_ca
from node.kernel.catalog import parse_catalog_toml
from node.kernel.chain import BatchResult, verify_log_batch
from node.kernel.clock import FixedClock
from node.kernel.errors import ForkError, VerificationError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    NodeIdentity,
    Signer,
    new_records_key,
    verify_signature,
)
from node.kernel.payloads import (
    Applicant,
    CaseSubmitted,
    CatalogPublished,
    Decision,
    MaterialRef,
    Outcome,
    Payload,
    PreReviewed,
)
from node.kernel.records import (
    MAX_BODY_BYTES,
    ZERO_HASH,
    LogHead,
    Record,
    Verdict,
    parse_record,
    seal,
)
from node.kernel.wire import PAYLOADS as WIRE_PAYLOADS
from node.kernel.wire import decode_body, decode_heartbeat
from sync.pb import records_pb2 as pb

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
CATALOG_HASH = hashlib.sha256(b"catalog v3").digest()
EMPTY = LogHead()
FIELD_99_VARINT = b"\x98\x06\x01"  # tag (99 << 3 | 0) as a varint, then the value 1


# --- keys, certificates and a keyring ------------------------------------------------------------


def identity(node_id: str, *, tier: str = "village", purpose: str = "records",
             parent: str = "HUB") -> NodeIdentity:
    return NodeIdentity(county_code="360112", node_id=node_id, tier=tier, parent=parent,
                        purpose=purpose)


@dataclass
class Keyring:
    """The Keyring protocol over a dict: certificates by key id."""

    certs: dict[bytes, x509.Certificate] = field(default_factory=dict)

    def certificate(self, key_id: bytes) -> x509.Certificate | None:
        return self.certs.get(key_id)


@dataclass(frozen=True)
class World:
    v001: Signer
    v002: Signer
    catalog: Signer
    v001_as_catalog: Signer  # a V001 key certified for the wrong purpose
    stranger: Signer         # a key no certificate names
    keyring: Keyring
    certs: dict[str, x509.Certificate]


@pytest.fixture(scope="module")
def world() -> World:
    ca_key, ca_cert = make_ca("360112", "新建区", NOW)
    signers: dict[str, Signer] = {}
    certs: dict[str, x509.Certificate] = {}
    keyring = Keyring()

    def enrol(name: str, who: NodeIdentity) -> None:
        key = new_records_key()
        signers[name] = Signer(key)
        certs[name] = issue_certificate(ca_key=ca_key, ca_cert=ca_cert,
                                        public_key=key.public_key(), identity=who, now=NOW)
        keyring.certs[signers[name].key_id] = certs[name]

    enrol("v001", identity("V001"))
    enrol("v002", identity("V002"))
    enrol("catalog", identity(CATALOG_LOG_ID, tier="county", purpose="catalog", parent=""))
    enrol("v001_as_catalog", identity("V001", purpose="catalog"))
    return World(v001=signers["v001"], v002=signers["v002"], catalog=signers["catalog"],
                 v001_as_catalog=signers["v001_as_catalog"],
                 stranger=Signer(new_records_key()), keyring=keyring, certs=certs)


# --- payloads and logs ---------------------------------------------------------------------------


def sample_catalog_payload() -> CatalogPublished:
    text = (resources.files("bianmin") / "data" / "sample-catalog.toml").read_text("utf-8")
    return CatalogPublished(
        version=3,
        issued_at=NOW,
        expires_at=NOW + dt.timedelta(days=90),
        catalog=parse_catalog_toml(text, source="sample-catalog.toml"),
    )


def submitted(number: int = 1, *, name: str = "王秀英") -> CaseSubmitted:
    return CaseSubmitted(
        case_id=f"360112-V001-20261127-{number:04d}",
        item_code="MZ-001",
        applicant=Applicant(name=name, id_number="11010519491231002X", phone="13800000000"),
        materials=(
            MaterialRef(code="application"),
            MaterialRef(code="id_card", sha256=hashlib.sha256(b"scan").digest(), size=4,
                        filename="身份证.jpg"),
        ),
        fields=(("household_size", "3"), ("monthly_income_yuan", "850.50")),
        catalog_version=3,
        catalog_hash=CATALOG_HASH,
    )


PAYLOADS: dict[str, Callable[[], Payload]] = {
    "case_submitted": submitted,
    "pre_reviewed": lambda: PreReviewed(
        case_id="360112-V001-20261127-0001", complete=False, missing=("hukou", "income_proof"),
        catalog_version=3, catalog_hash=CATALOG_HASH),
    "decision": lambda: Decision(
        case_id="360112-V001-20261127-0001", outcome=Outcome.REJECT, reason="收入超过标准",
        operator="op-li", department="区民政局"),
    "catalog_published": sample_catalog_payload,
}


def build_log(signer: Signer, count: int, *, log_id: str = "V001",
              head: LogHead = EMPTY, first_number: int = 1) -> list[Record]:
    """``count`` chained records of one log, one minute apart."""
    clock = FixedClock(NOW)
    records = []
    for n in range(first_number, first_number + count):
        record = seal(submitted(n), log_id=log_id, head=head, signer=signer, clock=clock)
        records.append(record)
        head = record.head
        clock.advance(dt.timedelta(minutes=1))
    return records


def raw(records: Sequence[Record]) -> list[tuple[bytes, bytes]]:
    return [(r.body, r.signature) for r in records]


def stored(records: Sequence[Record]) -> Callable[[int], bytes | None]:
    """known_hash over records already stored here."""
    hashes = {r.seq: r.hash for r in records}
    return hashes.get


def nothing_stored(seq: int) -> bytes | None:
    return None


def verify(world: World, batch: Sequence[tuple[bytes, bytes]], *, log_id: str = "V001",
           head: LogHead = EMPTY,
           known_hash: Callable[[int], bytes | None] = nothing_stored,
           contiguous: bool = True) -> BatchResult:
    return verify_log_batch(batch, log_id=log_id, head=head, known_hash=known_hash,
                            keyring=world.keyring, contiguous=contiguous)


def outcomes(result: BatchResult) -> list[tuple[int, Verdict, str]]:
    return [(v.seq, v.verdict, v.reason_code) for v in result.verdicts]


def signed(signer: Signer, body: bytes) -> tuple[bytes, bytes]:
    return body, signer.sign(body)


# --- seal and parse ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_sealed_record_parses_back_to_the_same_values(world: World, kind: str) -> None:
    signer, log_id = ((world.catalog, CATALOG_LOG_ID) if kind == "catalog_published"
                      else (world.v001, "V001"))
    record = seal(PAYLOADS[kind](), log_id=log_id, head=LogHead(), signer=signer,
                  clock=FixedClock(NOW))
    parsed = parse_record(record.body, record.signature)
    assert parsed == record
    assert parsed.payload == PAYLOADS[kind]()
    assert parsed.header.recorded_at == NOW
    assert parsed.header.key_id == signer.key_id


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_every_payload_kind_is_accepted_from_its_writer(world: World, kind: str) -> None:
    signer, log_id = ((world.catalog, CATALOG_LOG_ID) if kind == "catalog_published"
                      else (world.v001, "V001"))
    record = seal(PAYLOADS[kind](), log_id=log_id, head=LogHead(), signer=signer,
                  clock=FixedClock(NOW))
    result = verify(world, raw([record]), log_id=log_id)
    assert outcomes(result) == [(1, Verdict.ACCEPTED, "")]


def test_record_hash_is_sha256_of_the_body(world: World) -> None:
    record = build_log(world.v001, 1)[0]
    assert record.hash == hashlib.sha256(record.body).digest()
    assert parse_record(record.body, record.signature).hash == record.hash


def test_signature_covers_exactly_the_body_bytes(world: World) -> None:
    record = build_log(world.v001, 1)[0]
    assert verify_signature(world.certs["v001"], record.body, record.signature)
    assert not verify_signature(world.certs["v001"], record.body + b"\x00", record.signature)


def test_first_record_has_seq_1_and_a_zero_previous_hash(world: World) -> None:
    first = build_log(world.v001, 1)[0]
    assert first.seq == 1
    assert first.header.prev_hash == ZERO_HASH == bytes(32)


def test_each_record_chains_onto_the_previous_ones_hash(world: World) -> None:
    log = build_log(world.v001, 3)
    assert [r.seq for r in log] == [1, 2, 3]
    assert log[1].header.prev_hash == log[0].hash
    assert log[2].header.prev_hash == log[1].hash
    assert log[2].head == LogHead(seq=3, hash=log[2].hash, key_id=log[2].header.key_id)


def test_signature_of_the_wrong_length_is_refused() -> None:
    record_body = b"\x08\x01"
    with pytest.raises(VerificationError) as caught:
        parse_record(record_body, b"\x00" * 63)
    assert caught.value.code == "bad_signature"


# --- verify_log_batch: accepting -----------------------------------------------------------------


def test_contiguous_chain_is_accepted(world: World) -> None:
    log = build_log(world.v001, 3)
    result = verify(world, raw(log))
    assert outcomes(result) == [(n, Verdict.ACCEPTED, "") for n in (1, 2, 3)]
    assert result.accepted == tuple(log)
    assert result.head == log[-1].head
    assert result.refused == ()
    result.raise_for()  # nothing to raise


def test_next_batch_continues_from_the_stored_head(world: World) -> None:
    log = build_log(world.v001, 5)
    result = verify(world, raw(log[3:]), head=log[2].head, known_hash=stored(log[:3]))
    assert outcomes(result) == [(4, Verdict.ACCEPTED, ""), (5, Verdict.ACCEPTED, "")]
    assert result.head == log[4].head


def test_replayed_records_are_already_had_and_change_nothing(world: World) -> None:
    log = build_log(world.v001, 3)
    result = verify(world, raw(log), head=log[-1].head, known_hash=stored(log))
    assert outcomes(result) == [(n, Verdict.ALREADY_HAD, "") for n in (1, 2, 3)]
    assert result.accepted == ()
    assert result.head == log[-1].head


def test_resent_batch_overlapping_the_head_accepts_only_the_new_records(world: World) -> None:
    log = build_log(world.v001, 5)
    result = verify(world, raw(log), head=log[2].head, known_hash=stored(log[:3]))
    assert [v.verdict for v in result.verdicts] == [Verdict.ALREADY_HAD] * 3 + [
        Verdict.ACCEPTED] * 2
    assert result.accepted == tuple(log[3:])


def test_checks_may_run_on_a_thread_pool(world: World) -> None:
    log = build_log(world.v001, 8)
    with ThreadPoolExecutor(max_workers=4) as pool:
        result = verify_log_batch(raw(log), log_id="V001", head=LogHead(),
                                  known_hash=nothing_stored, keyring=world.keyring,
                                  map_fn=pool.map)
    assert result.accepted == tuple(log)


def test_on_a_thread_pool_each_bad_signature_is_pinned_to_its_own_record(world: World) -> None:
    log = build_log(world.v001, 8)
    batch = raw(log)
    batch[5] = (batch[5][0], batch[2][1])  # record 6 carries record 3's signature
    with ThreadPoolExecutor(max_workers=3) as pool:
        result = verify_log_batch(batch, log_id="V001", head=LogHead(),
                                  known_hash=nothing_stored, keyring=world.keyring,
                                  map_fn=pool.map)
    assert outcomes(result)[4:6] == [(5, Verdict.ACCEPTED, ""),
                                     (6, Verdict.REFUSED, "bad_signature")]
    assert result.accepted == tuple(log[:5])


def test_non_contiguous_mode_accepts_seq_jumps(world: World) -> None:
    log = build_log(world.v001, 7)
    picked = [log[0], log[2], log[6]]
    result = verify(world, raw(picked), contiguous=False)
    assert outcomes(result) == [(n, Verdict.ACCEPTED, "") for n in (1, 3, 7)]
    assert result.head == log[6].head


def test_non_contiguous_mode_fills_in_an_unstored_old_record(world: World) -> None:
    """A filtered stream: a record below the head that this node does not hold was addressed
    to it later (a grant to its township); it is taken, and the head stays."""
    log = build_log(world.v001, 7)
    result = verify(world, raw([log[1]]), head=log[6].head, contiguous=False)
    assert outcomes(result) == [(2, Verdict.ACCEPTED, "")]
    assert result.head == log[6].head


def test_non_contiguous_mode_takes_a_stored_old_record_as_already_had(world: World) -> None:
    log = build_log(world.v001, 7)
    result = verify(world, raw([log[1]]), head=log[6].head, known_hash=stored(log),
                    contiguous=False)
    assert outcomes(result) == [(2, Verdict.ALREADY_HAD, "")]


def test_non_contiguous_mode_still_refuses_a_fork(world: World) -> None:
    log = build_log(world.v001, 3)
    other = build_log(world.v001, 3, first_number=50)
    result = verify(world, raw([other[1]]), head=log[2].head, known_hash=stored(log),
                    contiguous=False)
    assert outcomes(result) == [(2, Verdict.REFUSED, "fork")]


def test_same_record_twice_in_one_batch_is_not_a_fork(world: World) -> None:
    first = build_log(world.v001, 1)[0]
    result = verify(world, raw([first, first]))
    assert [v.reason_code for v in result.verdicts] == ["", ""]
    assert result.verdicts[1].verdict is Verdict.ALREADY_HAD


# --- verify_log_batch: refusing ------------------------------------------------------------------


def test_different_record_at_a_stored_seq_is_refused_as_a_fork(world: World) -> None:
    log = build_log(world.v001, 3)
    rival = build_log(world.v001, 2, first_number=90)[1]  # seq 2, different content
    assert rival.seq == 2
    assert rival.hash != log[1].hash
    result = verify(world, raw([rival, log[2]]), head=log[2].head, known_hash=stored(log))
    assert outcomes(result) == [(2, Verdict.REFUSED, "fork"),
                                (3, Verdict.REFUSED, "after_refusal")]
    assert result.accepted == ()
    assert result.head == log[2].head
    assert "fork" in result.verdicts[0].message


def test_raise_for_raises_fork_error_for_a_fork(world: World) -> None:
    log = build_log(world.v001, 2)
    rival = build_log(world.v001, 1, first_number=90)[0]
    result = verify(world, raw([rival]), head=log[1].head, known_hash=stored(log))
    with pytest.raises(ForkError) as caught:
        result.raise_for()
    assert caught.value.code == "fork"
    assert "V001#1" in str(caught.value)


def test_raise_for_raises_plain_verification_error_for_other_refusals(world: World) -> None:
    record = build_log(world.stranger, 1)[0]
    result = verify(world, raw([record]))
    with pytest.raises(VerificationError) as caught:
        result.raise_for()
    assert not isinstance(caught.value, ForkError)
    assert caught.value.code == "unknown_key"


def test_tampered_body_is_refused_as_bad_signature(world: World) -> None:
    record = build_log(world.v001, 1)[0]
    at = record.body.index(b"360112-V001-20261127-0001") + len(b"360112-V001-20261127-000")
    tampered = record.body[:at] + b"9" + record.body[at + 1:]  # case ...-0001 becomes ...-0009
    assert decode_body(tampered)[1].case_id == "360112-V001-20261127-0009"  # still parses
    result = verify(world, [(tampered, record.signature)])
    assert outcomes(result) == [(1, Verdict.REFUSED, "bad_signature")]
    assert result.accepted == ()


def test_signature_by_another_nodes_key_is_refused_as_wrong_signer(world: World) -> None:
    forged = build_log(world.v002, 1, log_id="V001")[0]  # V002 writes into V001's log
    result = verify(world, raw([forged]))
    assert outcomes(result) == [(1, Verdict.REFUSED, "wrong_signer")]
    assert "signed by V002" in result.verdicts[0].message


def test_key_certified_for_another_purpose_is_refused_as_wrong_signer(world: World) -> None:
    record = build_log(world.v001_as_catalog, 1)[0]
    result = verify(world, raw([record]))
    assert outcomes(result) == [(1, Verdict.REFUSED, "wrong_signer")]


def test_records_key_cannot_publish_the_catalog(world: World) -> None:
    record = seal(sample_catalog_payload(), log_id=CATALOG_LOG_ID, head=LogHead(),
                  signer=world.v001, clock=FixedClock(NOW))
    result = verify(world, raw([record]), log_id=CATALOG_LOG_ID)
    assert outcomes(result) == [(1, Verdict.REFUSED, "wrong_signer")]


def test_village_cannot_push_another_villages_log(world: World) -> None:
    theirs = build_log(world.v002, 1, log_id="V002")[0]
    result = verify(world, raw([theirs]), log_id="V001")
    assert outcomes(result) == [(1, Verdict.REFUSED, "wrong_log")]


def test_key_missing_from_the_keyring_is_refused_as_unknown_key(world: World) -> None:
    record = build_log(world.stranger, 1)[0]
    result = verify(world, raw([record]))
    assert outcomes(result) == [(1, Verdict.REFUSED, "unknown_key")]


def test_dropped_middle_record_is_a_gap_and_the_rest_is_refused(world: World) -> None:
    log = build_log(world.v001, 4)
    result = verify(world, raw([log[0], log[2], log[3]]))
    assert outcomes(result) == [(1, Verdict.ACCEPTED, ""),
                                (3, Verdict.REFUSED, "gap"),
                                (4, Verdict.REFUSED, "after_refusal")]
    assert result.accepted == (log[0],)
    assert result.head == log[0].head
    assert "records 2-2 are missing" in result.verdicts[1].message


@pytest.mark.parametrize("order", [(1, 0, 2), (0, 2, 1), (2, 1, 0)])
def test_reordered_records_are_refused(world: World, order: tuple[int, ...]) -> None:
    log = build_log(world.v001, 3)
    result = verify(world, raw([log[i] for i in order]))
    assert result.refused
    assert result.head.seq < 3
    assert result.refused[0].reason_code == "gap"
    assert all(v.reason_code == "after_refusal" for v in result.refused[1:])


def test_previous_hash_mismatch_is_refused_as_broken_chain(world: World) -> None:
    log = build_log(world.v001, 1)
    wrong_head = LogHead(seq=1, hash=b"\x01" * 32)
    detached = build_log(world.v001, 2, head=wrong_head, first_number=2)
    result = verify(world, raw([log[0], *detached]))
    assert outcomes(result) == [(1, Verdict.ACCEPTED, ""),
                                (2, Verdict.REFUSED, "broken_chain"),
                                (3, Verdict.REFUSED, "after_refusal")]


def test_body_that_does_not_parse_is_refused_as_malformed(world: World) -> None:
    result = verify(world, [signed(world.v001, b"\xff\xff\xff")])
    assert outcomes(result) == [(0, Verdict.REFUSED, "malformed_body")]


def test_body_of_an_unknown_format_is_refused_as_malformed(world: World) -> None:
    record = build_log(world.v001, 1)[0]
    body = pb.RecordBody()
    body.ParseFromString(record.body)
    body.format = 2
    result = verify(world, [signed(world.v001, body.SerializeToString(deterministic=True))])
    assert outcomes(result) == [(0, Verdict.REFUSED, "malformed_body")]


def test_unknown_field_before_the_known_ones_is_refused(world: World) -> None:
    record = build_log(world.v001, 1)[0]
    result = verify(world, [signed(world.v001, FIELD_99_VARINT + record.body)])
    assert outcomes(result) == [(0, Verdict.REFUSED, "unknown_field")]


def test_body_with_an_appended_unknown_field_is_refused(world: World) -> None:
    record = build_log(world.v001, 1)[0]
    result = verify(world, [signed(world.v001, record.body + FIELD_99_VARINT)])
    assert outcomes(result) == [(0, Verdict.REFUSED, "unknown_field")]


def test_oversized_body_is_refused_before_parsing(world: World) -> None:
    every_field_full = tuple((f"note_{n}", "张" * 4000)  # within each field's own bound
                             for n in range(MAX_BODY_BYTES // 12_000 + 1))
    big = seal(dataclasses.replace(submitted(), fields=every_field_full), log_id="V001",
               head=LogHead(), signer=world.v001, clock=FixedClock(NOW))
    assert len(big.body) > MAX_BODY_BYTES
    with pytest.raises(VerificationError) as caught:
        parse_record(big.body, big.signature)
    assert caught.value.code == "oversized"
    result = verify(world, raw([big]))
    assert outcomes(result) == [(0, Verdict.REFUSED, "oversized")]


def test_first_refusal_stops_the_whole_rest_of_the_batch(world: World) -> None:
    log = build_log(world.v001, 4)
    tampered_body = log[1].body.replace(b"13800000000", b"13900000000")
    batch = [*raw(log[:1]), (tampered_body, log[1].signature), *raw(log[2:])]
    result = verify(world, batch)
    assert outcomes(result) == [(1, Verdict.ACCEPTED, ""),
                                (2, Verdict.REFUSED, "bad_signature"),
                                (3, Verdict.REFUSED, "after_refusal"),
                                (4, Verdict.REFUSED, "after_refusal")]
    assert result.head == log[0].head


# --- times that cannot be dates (issue 10) ------------------------------------------------------


def _with_time(record: Record, ms: int) -> bytes:
    body = pb.RecordBody()
    body.ParseFromString(record.body)
    body.recorded_at_ms = ms
    return body.SerializeToString(deterministic=True)


@pytest.mark.parametrize("ms", [2**62, -(2**62), 2**63 - 1])
def test_a_record_time_that_is_no_date_is_refused_as_malformed(world: World, ms: int) -> None:
    record = build_log(world.v001, 1)[0]
    with pytest.raises(VerificationError) as caught:
        decode_body(_with_time(record, ms))
    assert caught.value.code == "malformed_body"
    assert "not a date" in str(caught.value)
    result = verify(world, [signed(world.v001, _with_time(record, ms))])
    assert outcomes(result) == [(0, Verdict.REFUSED, "malformed_body")]


def test_a_record_dated_1990_parses_its_date_is_for_the_authority_rules(world: World) -> None:
    record = build_log(world.v001, 1)[0]
    header, _payload = decode_body(_with_time(record, 631_152_000_000))
    assert header.recorded_at == dt.datetime(1990, 1, 1, tzinfo=dt.UTC)


def test_a_heartbeat_time_that_is_no_date_is_refused_as_malformed() -> None:
    beat = pb.Heartbeat(node_id="V001", head_seq=1, head_hash=b"x" * 32, sent_at_ms=2**62,
                        key_id=b"k" * 32).SerializeToString(deterministic=True)
    with pytest.raises(VerificationError) as caught:
        decode_heartbeat(beat)
    assert caught.value.code == "malformed_body"


def test_a_delegation_period_that_is_no_date_is_refused_as_malformed(world: World) -> None:
    body = pb.RecordBody()
    body.ParseFromString(build_log(world.v001, 1)[0].body)
    body.delegation.CopyFrom(pb.Delegation(township="T01", items=["MZ-002"],
                                           valid_from_ms=0, valid_until_ms=2**62))
    with pytest.raises(VerificationError) as caught:
        decode_body(body.SerializeToString(deterministic=True))
    assert caught.value.code == "malformed_body"


# --- the conversion table ------------------------------------------------------------------------


def test_every_payload_class_has_its_field_of_the_oneof() -> None:
    oneof = {f.name for f in pb.RecordBody.DESCRIPTOR.oneofs_by_name["payload"].fields}
    assert set(WIRE_PAYLOADS.values()) == oneof
    assert set(WIRE_PAYLOADS) == set(typing.get_args(Payload))


# --- the text a received record may hold (node.kernel.text, checked by the compiled decoders) --

def _body_with(world: World, edit: Callable[[pb.RecordBody], None],
               payload: Payload | None = None) -> bytes:
    record = seal(payload or submitted(), log_id="V001", head=EMPTY,
                  signer=world.v001, clock=FixedClock(NOW))
    body = pb.RecordBody()
    body.ParseFromString(record.body)
    edit(body)
    return body.SerializeToString()


def _name(value: str) -> Callable[[pb.RecordBody], None]:
    def edit(body: pb.RecordBody) -> None:
        body.case_submitted.applicant.name = value
    return edit


@pytest.mark.parametrize(("value", "says"), [
    ("张\x1b[2J三", "a control character (u+001b) at character 2"),
    ("张\u202e三", "right-to-left override (u+202e)"),
    ("张\n三", "a line break (u+000a)"),
    ("张" * 51, "has 51 characters, at most 50"),
])
def test_a_received_name_out_of_bounds_is_a_malformed_body_naming_the_field(
        world: World, value: str, says: str) -> None:
    with pytest.raises(VerificationError) as caught:
        decode_body(_body_with(world, _name(value)))
    assert caught.value.code == "malformed_body"
    assert "Applicant.name" in str(caught.value)
    assert says in str(caught.value).lower()


def test_a_received_reason_may_span_lines_but_a_value_in_a_list_is_checked_too(
        world: World) -> None:
    decision = PAYLOADS["decision"]()
    reason = "收入超过标准\n请补充材料"

    def multi(body: pb.RecordBody) -> None:
        body.decision.reason = reason
    _header, payload = decode_body(_body_with(world, multi, decision))
    assert isinstance(payload, Decision)
    assert payload.reason == reason

    def bad_item(body: pb.RecordBody) -> None:
        body.case_submitted.fields[0].value = "3\x00"
    with pytest.raises(VerificationError, match=r"CaseSubmitted\.fields .*U\+0000"):
        decode_body(_body_with(world, bad_item))
    _header, payload = decode_body(_body_with(world, _name("张" * 50)))  # at the bound
    assert isinstance(payload, CaseSubmitted)
    assert payload.applicant.name == "张" * 50
