"""The protocol's test vectors (tests/vectors/, docs/protocol.md "Test vectors") through the real
verifier, authority table and receive path, on the in-memory store: every vector's verdicts,
call refusals, alarms and answers are what the vector says. Also: the vectors are what
scripts/make_vectors.py makes, and every refusal reason in ``authority.REASONS`` has one."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from google.protobuf import json_format

from county_hub.ca import issue_certificate, make_ca
from county_hub.home import HubConfig, HubKeys
from county_hub.hub import Hub
from county_hub.ingest import Ingest
from county_hub.memory import MemoryHubStore
from county_hub.tier import HubTier
from node.blobs import BlobStore
from node.kernel.authority import REASONS, NodeInfo, audience_for
from node.kernel.clock import FixedClock
from node.kernel.errors import BianminError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    HUB_NODE_ID,
    NodeIdentity,
    Signer,
    certificate_pem,
    key_id_of,
    new_tls_key,
    verify_signature,
)
from node.kernel.payloads import (
    CaseSubmitted,
    Delegation,
    DelegationWithdrawn,
    NodeRevoked,
)
from node.kernel.projector import Context, Refusal, View, apply
from node.kernel.records import Record, parse_record
from node.receive import Inbound, Receiver, Refused
from node.store.memory import MemoryStore
from node.tier import NodeTier
from sync import WireRecord
from sync.pb import records_pb2

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
SUITES = ["records", "chains", "heartbeats", "catalogs", "authority"]


def load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


WORLD = load("world")
NOW = dt.datetime.fromisoformat(WORLD["now"])


def raw(record: dict[str, str]) -> tuple[bytes, bytes]:
    return bytes.fromhex(record["body"]), bytes.fromhex(record["signature"])


def cert(hex_der: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(bytes.fromhex(hex_der))


def signer(name: str) -> Signer:
    key = next(k for k in WORLD["keys"] if k["name"] == name)
    return Signer(ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key["ed25519_seed"])))


def certified() -> list[x509.Certificate]:
    return [cert(k["certificate"]) for k in WORLD["keys"] if k["certificate"]]


def vectors(suite: str) -> list[dict[str, Any]]:
    return load(suite)["vectors"]  # type: ignore[no-any-return]


def all_vectors() -> list[Any]:
    return [pytest.param(v, id=v["id"]) for suite in SUITES for v in vectors(suite)]


# -- a receiver built from world.json --------------------------------------------------------------


class _MemoryIngest(Ingest):
    """The hub's real push handling (who is calling, who may push which log, the push size, the
    receive path, heartbeats) over the in-memory store; what needs the database (attachments,
    the verify threads) is left out."""

    def __init__(self, hub: Hub, receiver: Receiver) -> None:  # no super(): no database
        self.hub = hub
        self.receiver = receiver


class Harness:
    def __init__(self, receiver: str, tmp: Path) -> None:
        self.name = receiver
        self.clock = FixedClock(NOW)
        self.ca = cert(WORLD["ca_certificate"])
        self.catalog = parse_record(*raw(WORLD["catalog_record"]))
        self.nodes = {n["node_id"]: n for n in WORLD["nodes"]}
        self.blobs_held: set[bytes] = set()
        self._tls: dict[str, bytes] = {}
        if receiver == HUB_NODE_ID:
            self._county(tmp)
        else:
            self._node(receiver, tmp)

    def _county(self, tmp: Path) -> None:
        unused_ca_key = ec.generate_private_key(ec.SECP256R1())  # the vectors never issue
        tls_key = new_tls_key()
        keys = HubKeys(ca_key=unused_ca_key, ca_cert=self.ca, records=signer("HUB"),
                       records_cert=cert(_key("HUB")["certificate"]), catalog=signer("CATALOG"),
                       catalog_cert=cert(_key("CATALOG")["certificate"]), tls_key=tls_key,
                       tls_cert=self.ca)
        self.store: Any = MemoryHubStore(self.clock)
        self.hub = Hub(home=tmp, config=HubConfig.model_validate(
            {"county_code": WORLD["county_code"], "county_name": "新建区",
             "clock_skew_threshold_s": WORLD["clock_skew_tolerance_s"]}),
            keys=keys, store=self.store, clock=self.clock)  # type: ignore[arg-type]
        self.receiver = Receiver(self.store, HubTier(self.hub, self._complete), ca=self.ca,
                                 clock=self.clock)
        self.ingest = _MemoryIngest(self.hub, self.receiver)
        with self.store.transaction() as tx:
            for c in certified():
                tx.add_certificate(c)
            for n in WORLD["nodes"]:
                tx.add_node(node_id=n["node_id"], tier=n["tier"], name=n["node_id"],
                            parent=n["parent"])
            tx.append([self.catalog])

    def _node(self, node_id: str, tmp: Path) -> None:
        me = self.nodes[node_id]
        self.store = MemoryStore(self.clock)
        self.tier = NodeTier(node_id=node_id, tier=me["tier"], county_code=WORLD["county_code"],
                             upstream=me["parent"], signer=signer(node_id), clock=self.clock,
                             blobs=BlobStore(tmp / "blobs"),
                             peers={n: NodeInfo(node_id=n, tier="village", parent=node_id)
                                    for n, v in self.nodes.items() if v["parent"] == node_id})
        self.receiver = Receiver(self.store, self.tier, ca=self.ca, clock=self.clock)
        with self.store.transaction() as tx:
            for c in certified():
                tx.add_certificate(c)
            tx.append([self.catalog])

    def _complete(self, hashes: list[bytes]) -> set[bytes]:
        return {h for h in hashes if h in self.blobs_held}

    def tls_pem(self, node_id: str) -> bytes:
        """A TLS certificate naming ``node_id``, as the TLS layer would have verified it (the
        handler reads only the identity in it)."""
        if node_id not in self._tls:
            key = new_tls_key()
            ca_key, ca_cert = make_ca(WORLD["county_code"], "test", NOW)
            n = self.nodes[node_id]
            self._tls[node_id] = certificate_pem(issue_certificate(
                ca_key=ca_key, ca_cert=ca_cert, public_key=key.public_key(), now=NOW,
                identity=NodeIdentity(county_code=WORLD["county_code"], node_id=node_id,
                                      tier=n["tier"], parent=n["parent"], purpose="tls")))
        return self._tls[node_id]

    # -- what the store shows -------------------------------------------------------------------

    def alarms(self) -> list[tuple[str, str]]:
        with self.store.reading() as r:
            return [(a.kind, a.node_id) for a in r.open_alarms(include_resolved=True)]

    def hub_payloads(self, after: int) -> list[str]:
        with self.store.reading() as r:
            rows = r.raw_after(HUB_NODE_ID, after, 1000)
        return [type(parse_record(b, s).payload).__name__ for _q, b, s in rows]

    def hub_head(self) -> int:
        with self.store.reading() as r:
            return int(r.head(HUB_NODE_ID).seq)

    # -- the steps ------------------------------------------------------------------------------

    def run(self, step: dict[str, Any]) -> None:
        getattr(self, f"do_{step['do']}")(step)

    def do_push(self, step: dict[str, Any]) -> None:
        expect = step["expect"]
        before, head = self.alarms(), self.hub_head()
        records = [WireRecord(body=b, signature=s) for b, s in map(raw, step["records"])]
        beat = step.get("heartbeat")
        heartbeat = WireRecord(body=raw(beat)[0], signature=raw(beat)[1]) if beat else None
        refused: BianminError | None = None
        try:
            result = self.ingest.push(self.tls_pem(step["peer"]), step["log_id"], records,
                                      heartbeat, [bytes.fromhex(c) for c in
                                                  step.get("certificates", [])])
        except BianminError as exc:
            refused = exc
        if refused is not None:
            assert "call_refused" in expect, f"call refused: {refused.code}: {refused}"
            assert refused.code == expect["call_refused"], str(refused)
        else:
            assert "call_refused" not in expect, f"not refused: {result}"
            got = [{"seq": o.seq, "verdict": o.status, "reason": o.reason_code}
                   for o in result.outcomes]
            assert got == expect["results"], [o.message for o in result.outcomes]
            assert result.committed_seq == expect["committed_seq"]
        assert sorted(self.alarms()[len(before):]) == sorted(
            (a["kind"], a["node"]) for a in expect["alarms"])
        if "county_writes" in expect:
            assert self.hub_payloads(head) == expect["county_writes"]

    def do_pull(self, step: dict[str, Any]) -> None:
        expect = step["expect"]
        before = self.alarms()
        inbounds = [Inbound(peer="HUB", log_id=log["log_id"],
                            raw=[raw(r) for r in log["records"]],
                            contiguous=log["log_id"] == CATALOG_LOG_ID)
                    for log in step["logs"]]
        refused: Refused | None = None
        try:
            self.receiver.take_whole(inbounds, certificates=[
                bytes.fromhex(c) for c in step.get("certificates", [])])
        except Refused as exc:
            refused = exc
        if refused is not None:
            assert refused.code == expect.get("refused"), str(refused)
        else:
            assert expect.get("taken"), "taken, but the vector says refused"
        assert sorted(self.alarms()[len(before):]) == sorted(
            (a["kind"], a["node"]) for a in expect["alarms"])

    def do_own(self, step: dict[str, Any]) -> None:
        """Records this node's own desk wrote: stored and projected, as the desk does."""
        with self.store.transaction() as tx:
            for pair in step["records"]:
                record = parse_record(*raw(pair))
                tx.append([record])
                payload = record.payload
                item = (self.catalog.payload.catalog.item(payload.item_code)  # type: ignore[union-attr]
                        if isinstance(payload, CaseSubmitted) else None)
                change = apply(tx.cases.get(getattr(payload, "case_id", "")), record,
                               Context(view=View.ORIGIN, now=tx.now, receiver=self.name,
                                       item=item))
                if change is not None and not isinstance(change, Refusal):
                    tx.cases.apply([change])

    def do_county_writes(self, step: dict[str, Any]) -> None:
        """A record of the county's own log, with what writing it does beside
        (``county_hub.delegation``, ``county_hub.actions.revoke``)."""
        record: Record = parse_record(*raw(step["record"]))
        payload = record.payload
        with self.store.transaction() as tx:
            if isinstance(payload, Delegation | DelegationWithdrawn):
                node = tx.node(payload.township)
                tx.end_grants(payload.township, seen_seq=max(
                    tx.head(payload.township).seq, node.claimed_seq if node else 0))
            tx.append([record], audience=lambda r: audience_for(r.payload, HUB_NODE_ID))
            if isinstance(payload, Delegation):
                tx.add_grant(township=payload.township, record_hash=record.hash,
                             items=payload.items, valid_from=payload.valid_from,
                             valid_until=payload.valid_until,
                             catalog_version=payload.catalog_version)
            if isinstance(payload, NodeRevoked):
                tx.add_revocation(payload, tx.now)

    def do_blob(self, step: dict[str, Any]) -> None:
        digest = bytes.fromhex(step["sha256"])
        self.blobs_held.add(digest)
        with self.store.transaction() as tx:
            tx.claim(step["log_id"], [digest])

    def do_clock(self, step: dict[str, Any]) -> None:
        self.clock.advance(dt.datetime.fromisoformat(step["at"]) - self.clock.now())

    def do_case(self, step: dict[str, Any]) -> None:
        with self.store.reading() as r:
            case = r.cases.get(step["case_id"])
        assert case is not None
        expect = step["expect"]
        if "state" in expect:
            assert case.state.value == expect["state"]
        if "complete" in expect:
            assert case.complete == expect["complete"]
        if "flagged" in expect:
            assert bool(case.flags) == expect["flagged"]
        if "provisional" in expect:
            assert (case.pending is not None) == expect["provisional"]


def _key(name: str) -> dict[str, Any]:
    return next(k for k in WORLD["keys"] if k["name"] == name)  # type: ignore[no-any-return]


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", all_vectors())
def test_the_receive_path_gives_every_vectors_verdict(vector: dict[str, Any],
                                                      tmp_path: Path) -> None:
    harness = Harness(vector["receiver"], tmp_path)
    for step in vector["steps"]:
        harness.run(step)


@pytest.mark.parametrize("vector", [pytest.param(v, id=v["id"])
                                    for v in vectors("encodings")])
def test_every_encoding_vector_is_canonical_signed_and_hashed(vector: dict[str, Any]) -> None:
    body, signature = raw(vector)
    message_type = (records_pb2.Heartbeat if vector.get("message") == "bianmin.v1.Heartbeat"
                    else records_pb2.RecordBody)
    encoded = json_format.ParseDict(vector["values"], message_type())
    assert encoded.SerializeToString(deterministic=True) == body
    key = signer(vector["key"])
    assert key.sign(body) == signature
    certificate = cert(_key(vector["key"])["certificate"])
    assert verify_signature(certificate, body, signature)
    if "hash" in vector:
        record = parse_record(body, signature)
        assert record.hash.hex() == vector["hash"]
        assert record.header.key_id == key_id_of(
            certificate.public_key())  # type: ignore[arg-type]


def test_every_refusal_reason_has_a_vector() -> None:
    seen = set()
    for suite in SUITES:
        for v in vectors(suite):
            for step in v["steps"]:
                expect = step.get("expect", {})
                seen.update(r["reason"] for r in expect.get("results", []) if r["reason"])
                seen.update(expect[k] for k in ("call_refused", "refused") if k in expect)
    assert set(REASONS) - seen == set()


def test_every_payload_has_an_encoding_vector() -> None:
    names = {v["id"].split("/")[1].removesuffix("-township").removesuffix("-empty-log")
             for v in vectors("encodings")}
    oneof = records_pb2.RecordBody.DESCRIPTOR.oneofs_by_name["payload"]
    assert {f.message_type.name for f in oneof.fields} | {"Heartbeat"} == names


def test_the_vectors_are_what_the_script_makes() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_vectors.py"),
                           "--check"], capture_output=True, text=True, timeout=120,
                          check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr

