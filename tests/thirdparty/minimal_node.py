"""A minimal bianmin node, written as a vendor would write one: from protos/ and the test
vectors, following docs/protocol.md, with nothing of bianmin's own code -- the classes protoc
generates from protos/, grpcio and cryptography only.

    python minimal_node.py --generated DIR --vectors DIR --work DIR enrol \
        --enrol HOST:PORT --sync HOST:PORT --token bm1....
    python minimal_node.py --generated DIR --vectors DIR --work DIR pull

``enrol`` checks its own verifier against the vectors, asks the hub's health with no client
certificate, enrols (pinning the county CA by the token's fingerprint, two CSRs), pulls the
catalog, sends a heartbeat, and pushes a case (CaseSubmitted, then PreReviewed). ``pull``
fetches what the county sent it and verifies the decision: signed by the HUB certificate that
came with the pull, that certificate issued by the county CA. Each prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import socket
import ssl
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

ZERO = bytes(32)
MAX_BODY = 64 * 1024
CST = dt.timezone(dt.timedelta(hours=8))
pb: Any = None  # bianmin.v1.records_pb2, generated
spb: Any = None  # bianmin.v1.sync_pb2
grpc_stubs: Any = None  # bianmin.v1.sync_pb2_grpc


class Refused(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


# -- records: parse strictly, verify -------------------------------------------------------------


def strict(message_class: Any, data: bytes) -> Any:
    """docs/protocol.md "Record bytes": unknown fields refused, canonical encoding only."""
    message = message_class()
    try:
        message.ParseFromString(data)
    except Exception as exc:  # any parse failure is the same refusal
        raise Refused("malformed_body", "does not parse") from exc
    known = message_class()
    known.CopyFrom(message)
    known.DiscardUnknownFields()
    if known.SerializeToString(deterministic=True) != message.SerializeToString(
            deterministic=True):
        raise Refused("unknown_field")
    if message.SerializeToString(deterministic=True) != data:
        raise Refused("malformed_body", "not canonical")
    return message


def valid_time(ms: int) -> bool:
    return -62135596800000 + 86_400_000 <= ms <= 253402214400000 - 86_400_000


def parse_body(body: bytes) -> Any:
    message = strict(pb.RecordBody, body)
    if message.format != 1:
        raise Refused("malformed_body", f"format {message.format}")
    kind = message.WhichOneof("payload")
    if kind is None:
        raise Refused("malformed_body", "no payload")
    if not valid_time(message.recorded_at_ms):
        raise Refused("malformed_body", "a time that is no date")
    if kind == "decision" and message.decision.outcome == pb.OUTCOME_UNSPECIFIED:
        raise Refused("malformed_body", "a decision with no outcome")
    return message


def identity(cert: x509.Certificate) -> dict[str, str]:
    """The bianmin:// URI subject alternative name: county, node, tier, parent, purpose."""
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    uri = next(u for u in san.get_values_for_type(x509.UniformResourceIdentifier)
               if u.startswith("bianmin://"))
    parts = urllib.parse.urlsplit(uri)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return {"county": parts.netloc, "node_id": parts.path[1:], **query}


def key_id(public_key: ed25519.Ed25519PublicKey) -> bytes:
    return hashlib.sha256(public_key.public_bytes_raw()).digest()


def check_record(body: bytes, signature: bytes, log_id: str,
                 keyring: dict[bytes, x509.Certificate]) -> Any:
    """A record on its own: size, parse, log, signer, signature (docs/protocol.md)."""
    if len(body) > MAX_BODY:
        raise Refused("oversized")
    if len(signature) != 64:
        raise Refused("bad_signature", "not 64 bytes")
    message = parse_body(body)
    if message.log_id != log_id:
        raise Refused("wrong_log")
    cert = keyring.get(message.key_id)
    if cert is None:
        raise Refused("unknown_key")
    who = identity(cert)
    purpose = "catalog" if log_id == "CATALOG" else "records"
    if who["node_id"] != log_id or who["purpose"] != purpose:
        raise Refused("wrong_signer")
    public_key = cert.public_key()
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    try:
        public_key.verify(signature, body)
    except InvalidSignature as exc:
        raise Refused("bad_signature") from exc
    return message


class Chain:
    """One log's place: seq from 1 without gaps, each naming the hash of the one before."""

    def __init__(self) -> None:
        self.hashes: dict[int, bytes] = {}

    @property
    def head(self) -> tuple[int, bytes]:
        if not self.hashes:
            return 0, ZERO
        seq = max(self.hashes)
        return seq, self.hashes[seq]

    def place(self, message: Any, body: bytes) -> str:
        digest = hashlib.sha256(body).digest()
        seq, head_hash = self.head
        if message.seq <= seq:
            if self.hashes.get(message.seq) == digest:
                return "already_had"
            raise Refused("fork")
        if message.seq != seq + 1:
            raise Refused("gap")
        if message.prev_hash != head_hash:
            raise Refused("broken_chain")
        self.hashes[message.seq] = digest
        return "accepted"


# -- the vectors, through this node's own verifier -----------------------------------------------

RECORD_LEVEL = {"malformed_body", "unknown_field", "oversized", "bad_signature", "unknown_key",
                "wrong_signer", "wrong_log"}
CHAIN_LEVEL = {"gap", "broken_chain", "fork", "after_refusal"}


def run_vectors(vectors: Path) -> dict[str, int]:
    world = json.loads((vectors / "world.json").read_text(encoding="utf-8"))
    keyring = {}
    for k in world["keys"]:
        if k["certificate"]:
            cert = x509.load_der_x509_certificate(bytes.fromhex(k["certificate"]))
            keyring[bytes.fromhex(k["key_id"])] = cert
    seeds = {k["name"]: bytes.fromhex(k["ed25519_seed"]) for k in world["keys"]}
    counts = {"encodings": 0, "records": 0, "chains": 0}
    from google.protobuf import json_format  # noqa: PLC0415 -- the generated code's runtime
    for v in json.loads((vectors / "encodings.json").read_text(encoding="utf-8"))["vectors"]:
        cls = pb.Heartbeat if v.get("message") == "bianmin.v1.Heartbeat" else pb.RecordBody
        body = bytes.fromhex(v["body"])
        assert json_format.ParseDict(v["values"], cls()).SerializeToString(
            deterministic=True) == body, v["id"]
        key = ed25519.Ed25519PrivateKey.from_private_bytes(seeds[v["key"]])
        assert key.sign(body).hex() == v["signature"], v["id"]
        assert "hash" not in v or hashlib.sha256(body).hexdigest() == v["hash"], v["id"]
        counts["encodings"] += 1
    for suite in ("records", "chains"):
        data = json.loads((vectors / f"{suite}.json").read_text(encoding="utf-8"))
        for v in data["vectors"]:
            if v["receiver"] != "HUB" or not all(
                    s["do"] == "push" and "results" in s["expect"]
                    and s["log_id"] == s["peer"] and "heartbeat" not in s
                    and {r["reason"] for r in s["expect"]["results"]} <= (
                        RECORD_LEVEL | CHAIN_LEVEL | {""})
                    for s in v["steps"]):
                continue  # needs more than a record verifier and a chain (authority, keys)
            chain = Chain()
            for step in v["steps"]:
                got, broken = [], False
                for r in step["records"]:
                    body, sig = bytes.fromhex(r["body"]), bytes.fromhex(r["signature"])
                    if broken:
                        got.append("after_refusal")
                        continue
                    try:
                        got.append(chain.place(check_record(body, sig, step["log_id"],
                                                            keyring), body))
                    except Refused as exc:
                        got.append(exc.code)
                        broken = True
                want = [r["reason"] or r["verdict"] for r in step["expect"]["results"]]
                assert got == want, (v["id"], got, want)
            counts[suite] += 1
    return counts


# -- enrolment ---------------------------------------------------------------------------------


def pinned_ca(address: str, fingerprint: str) -> x509.Certificate:
    """The county CA from the enrolment server's TLS chain, trusted only if sha256 of its DER
    is the token's fingerprint."""
    host, _sep, port = address.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw) as tls:
        getter = getattr(tls, "get_unverified_chain", None) or \
            tls._sslobj.get_unverified_chain  # type: ignore[attr-defined]  # Python < 3.13
        chain = [c if isinstance(c, bytes) else c.public_bytes(
            ssl._ssl.ENCODING_DER) for c in getter()]  # type: ignore[attr-defined]
    for der in chain:
        if hashlib.sha256(der).hexdigest() == fingerprint:
            return x509.load_der_x509_certificate(der)
    raise SystemExit("the enrolment server does not present the CA the token names")


def health_without_certificate(address: str, ca_pem: bytes) -> int:
    """grpc.health.v1.Health/Check on the enrolment port, with no client certificate. The
    request (service "") is empty; the reply's field 1 is the status (1: SERVING)."""
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem),
                             options=[("grpc.ssl_target_name_override", "HUB")]) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        reply: bytes = check(b"", timeout=10)
    return reply[1] if reply[:1] == b"\x08" else 0


def csr(key: Any, name: str) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def mutual_channel(sync: str, state: dict[str, Any]) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=state["ca_pem"].encode(), private_key=state["tls_key"].encode(),
        certificate_chain=state["tls_cert"].encode())
    return grpc.secure_channel(sync, credentials,
                               options=[("grpc.ssl_target_name_override", "HUB")])


# -- writing records ---------------------------------------------------------------------------


def sealed(key: ed25519.Ed25519PrivateKey, *, log_id: str, seq: int, prev: bytes,
           **payload: Any) -> tuple[bytes, bytes]:
    body = pb.RecordBody(format=1, log_id=log_id, seq=seq, prev_hash=prev,
                         recorded_at_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000),
                         key_id=key_id(key.public_key()), **payload)
    data = body.SerializeToString(deterministic=True)
    return data, key.sign(data)


def heartbeat(key: ed25519.Ed25519PrivateKey, node_id: str, seq: int, head: bytes) -> Any:
    body = pb.Heartbeat(node_id=node_id, head_seq=seq, head_hash=head, key_id=key_id(
        key.public_key()), sent_at_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    data = body.SerializeToString(deterministic=True)
    return pb.SignedRecord(body=data, signature=key.sign(data))


def resident_id(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights,
                                                                   strict=True)) % 11]


def pull_all(stub: Any, cursors: dict[str, int],
             ) -> tuple[list[Any], list[bytes], dict[str, int]]:
    records, certs = [], []
    request = spb.PullRequest(cursors=[spb.LogCursor(log_id=k, after_seq=v)
                                       for k, v in cursors.items()])
    for reply in stub.Pull(request, timeout=30):
        records.extend(reply.records)
        certs.extend(reply.certificates)
        cursors.update({c.log_id: c.after_seq for c in reply.cursors})
    return records, certs, cursors


def keyring_of(ders: list[bytes], ca: x509.Certificate) -> dict[bytes, x509.Certificate]:
    """Signer certificates that came with a pull or with enrolment, each issued by the CA."""
    out = {}
    for der in ders:
        cert = x509.load_der_x509_certificate(der)
        cert.verify_directly_issued_by(ca)
        public_key = cert.public_key()
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            out[key_id(public_key)] = cert
    return out


def enrol(args: argparse.Namespace) -> dict[str, Any]:
    prefix, _secret, fingerprint = args.token.split(".")
    assert prefix == "bm1"
    assert len(fingerprint) == 64
    ca = pinned_ca(args.enrol, fingerprint)
    serving = health_without_certificate(args.enrol, pem(ca))
    records_key = ed25519.Ed25519PrivateKey.generate()
    tls_key = ec.generate_private_key(ec.SECP256R1())
    with grpc.secure_channel(args.enrol, grpc.ssl_channel_credentials(pem(ca)),
                             options=[("grpc.ssl_target_name_override", "HUB")]) as channel:
        reply = grpc_stubs.EnrolmentStub(channel).Enrol(spb.EnrolRequest(
            token=args.token, records_csr=csr(records_key, "NODE"),
            tls_csr=csr(tls_key, "NODE")), timeout=30)
    assert reply.ca_certificate == ca.public_bytes(serialization.Encoding.DER)
    records_cert = x509.load_der_x509_certificate(reply.records_certificate)
    tls_cert = x509.load_der_x509_certificate(reply.tls_certificate)
    for cert in (records_cert, tls_cert):
        cert.verify_directly_issued_by(ca)
    assert records_cert.public_key() == records_key.public_key()
    me = identity(records_cert)
    node_id, county = me["node_id"], me["county"]
    state: dict[str, Any] = {
        "node_id": node_id, "county": county, "ca_pem": pem(ca).decode(),
        "records_key": key_pem(records_key).decode(), "tls_key": key_pem(tls_key).decode(),
        "tls_cert": pem(tls_cert).decode(), "records_cert": reply.records_certificate.hex(),
        "upstream": [d.hex() for d in reply.upstream_certificates]}
    with mutual_channel(args.sync, state) as channel:
        stub = grpc_stubs.SyncStub(channel)
        records, certs, cursors = pull_all(stub, {})
        keyring = keyring_of([*reply.upstream_certificates, *certs], ca)
        catalog, version = Chain(), 0
        for r in records:
            message = check_record(r.body, r.signature, parse_body(r.body).log_id, keyring)
            if message.log_id == "CATALOG":
                catalog.place(message, r.body)
                assert message.catalog_published.version == message.seq
                version = message.seq
        catalog_hash = catalog.hashes[version]
        hello = stub.Push(spb.PushRequest(log_id=node_id, heartbeat=heartbeat(
            records_key, node_id, 0, ZERO)), timeout=30)
        day = dt.datetime.now(CST).strftime("%Y%m%d")
        case_id = f"{county}-{node_id}-{day}-0001"
        first = sealed(records_key, log_id=node_id, seq=1, prev=ZERO,
                       case_submitted=pb.CaseSubmitted(
                           case_id=case_id, item_code="MZ-001",
                           applicant=pb.Applicant(name="李桂兰",
                                                  id_number=resident_id("36011219600101102")),
                           materials=[pb.Material(code=c) for c in (
                               "application", "id_card", "hukou", "income_proof",
                               "assets_statement")],
                           fields=[pb.FieldValue(name="household_size", value="2"),
                                   pb.FieldValue(name="monthly_income_yuan", value="900")],
                           catalog_version=version, catalog_hash=catalog_hash))
        second = sealed(records_key, log_id=node_id, seq=2,
                        prev=hashlib.sha256(first[0]).digest(),
                        pre_reviewed=pb.PreReviewed(case_id=case_id, complete=True,
                                                    catalog_version=version,
                                                    catalog_hash=catalog_hash))
        pushed = stub.Push(spb.PushRequest(
            log_id=node_id,
            records=[pb.SignedRecord(body=b, signature=s) for b, s in (first, second)],
            heartbeat=heartbeat(records_key, node_id, 2, hashlib.sha256(second[0]).digest()),
            certificates=[reply.records_certificate]), timeout=30)
        try:
            stub.Push(spb.PushRequest(log_id=node_id, records=[
                pb.SignedRecord(body=b"\x08\x01", signature=bytes(64))] * 5001), timeout=30)
            refused_code = ""
        except grpc.RpcError as exc:
            refused_code = dict(exc.trailing_metadata() or ()).get(  # type: ignore[attr-defined]
                "bianmin-reason", "")
            refused_status = exc.code().name  # type: ignore[attr-defined]
    state["cursors"] = cursors
    state["case_id"] = case_id
    (Path(args.work) / "state.json").write_text(json.dumps(state), encoding="utf-8")
    return {"node_id": node_id, "case_id": case_id, "health": serving,
            "catalog_version": version, "hello_committed": hello.committed_seq,
            "results": [[r.seq, r.status, r.reason_code] for r in pushed.results],
            "committed": pushed.committed_seq, "refused_code": refused_code,
            "refused_status": refused_status}


def pull(args: argparse.Namespace) -> dict[str, Any]:
    state = json.loads((Path(args.work) / "state.json").read_text(encoding="utf-8"))
    ca = x509.load_pem_x509_certificate(state["ca_pem"].encode())
    with mutual_channel(args.sync, state) as channel:
        records, certs, cursors = pull_all(grpc_stubs.SyncStub(channel), state["cursors"])
    # the HUB certificate that came with this pull, checked against the county CA
    keyring = keyring_of(certs, ca)
    hub_seqs, decision = [], None
    for r in records:
        message = check_record(r.body, r.signature, parse_body(r.body).log_id, keyring)
        if message.log_id != "HUB":
            continue
        # HUB arrives filtered (only what is addressed to this node): seqs ascend with gaps,
        # and the chain cannot be checked here -- each record stands on its signature
        assert not hub_seqs or message.seq > hub_seqs[-1]
        hub_seqs.append(message.seq)
        if message.WhichOneof("payload") == "decision" and \
                message.decision.case_id == state["case_id"]:
            decision = message.decision
    assert decision is not None, "no decision for the case"
    signer = next(c for c in keyring.values() if identity(c)["node_id"] == "HUB")
    return {"decision": pb.Outcome.Name(decision.outcome), "reason": decision.reason,
            "verification_code": decision.verification_code, "hub_seqs": hub_seqs,
            "signed_by": identity(signer), "cursors": cursors}


def main() -> None:
    global pb, spb, grpc_stubs  # the generated modules, found at run time
    parser = argparse.ArgumentParser()
    parser.add_argument("--generated", required=True)
    parser.add_argument("--vectors", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--sync")
    sub = parser.add_subparsers(dest="phase", required=True)
    enrol_args = sub.add_parser("enrol")
    enrol_args.add_argument("--enrol", required=True)
    enrol_args.add_argument("--token", required=True)
    sub.add_parser("pull")
    args = parser.parse_args()
    # only the generated code: never bianmin's own packages (an editable install's finder
    # would find them after the path)
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, args.generated)
    from bianmin.v1 import records_pb2, sync_pb2, sync_pb2_grpc  # noqa: PLC0415
    pb, spb, grpc_stubs = records_pb2, sync_pb2, sync_pb2_grpc
    out = run_vectors(Path(args.vectors)) if args.phase == "enrol" else {}
    out = {"vectors": out} | (enrol(args) if args.phase == "enrol" else pull(args))
    ours = sorted(m for m in sys.modules if m.split(".")[0] in (
        "node", "sync", "county_hub", "township_agent"))
    out["project_modules"] = ours
    out["bianmin_from"] = str(Path(sys.modules["bianmin"].__file__ or "").parent)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
