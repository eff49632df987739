"""Audit (DESIGN §3, §7): re-verify every stored record from its raw bytes, and export a case
so that anyone can check it with ``openssl`` alone, years later, without this software.

``verify_all`` returns a report listing every problem, not only the first (STYLE §10).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Connection, select

from county_hub.hub import Hub
from node.kernel.errors import NotFoundError, UsageError, VerificationError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    certificate_pem,
    check_issued_by,
    identity_of,
    key_id_of,
    verify_signature,
)
from node.kernel.payloads import KeyRotated
from node.kernel.records import ZERO_HASH, parse_record

__all__ = ["AuditReport", "Problem", "export_case", "verify_all"]


@dataclass(frozen=True, kw_only=True)
class Problem:
    log_id: str
    seq: int
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.log_id}#{self.seq}" if self.seq else self.log_id
        return f"{where}: {self.message} [{self.code}]"


@dataclass(kw_only=True)
class AuditReport:
    records: int = 0
    logs: int = 0
    certificates: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def verify_all(hub: Hub) -> AuditReport:
    report = AuditReport()
    logs = hub.store.logs
    with hub.store.db.read() as conn:
        keys = _certificates(hub, conn, report)
        log_ids = sorted({r[0] for r in conn.execute(select(logs.records.c.log_id).distinct())}
                         | set(logs.all_log_ids(conn)))
        for log_id in log_ids:
            report.logs += 1
            _verify_log(hub, conn, log_id, keys, report)
    return report


def _certificates(hub: Hub, conn: Connection, report: AuditReport) -> dict[bytes, x509.Certificate]:
    keys: dict[bytes, x509.Certificate] = {}
    for cert in hub.store.logs.all_certificates(conn):
        report.certificates += 1
        try:
            check_issued_by(cert, hub.keys.ca_cert, None)
            public_key = cert.public_key()
            if not isinstance(public_key, ed25519.Ed25519PublicKey):
                raise VerificationError("a signing certificate without an Ed25519 key")
            keys[key_id_of(public_key)] = cert
        except VerificationError as exc:
            report.problems.append(Problem(log_id=cert.subject.rfc4514_string(), seq=0,
                                           code="bad_certificate", message=str(exc)))
    return keys


def _verify_log(hub: Hub, conn: Connection, log_id: str, keys: dict[bytes, x509.Certificate],
                report: AuditReport) -> None:
    logs = hub.store.logs
    revoked_from = logs.revoked_from(conn, log_id)
    expected_seq, prev_hash, key_in_force = 1, ZERO_HASH, b""
    purpose = "catalog" if log_id == CATALOG_LOG_ID else "records"

    def problem(seq: int, code: str, message: str) -> None:
        report.problems.append(Problem(log_id=log_id, seq=seq, code=code, message=message))

    for seq, stored_hash, body, signature in logs.iter_log(conn, log_id):
        report.records += 1
        if seq != expected_seq:
            problem(seq, "gap", f"records {expected_seq}-{seq - 1} are missing")
        if hashlib.sha256(body).digest() != stored_hash:
            problem(seq, "hash_mismatch", "the stored hash is not the sha256 of the stored body")
        try:
            record = parse_record(body, signature)
        except VerificationError as exc:
            problem(seq, exc.code, str(exc))
            expected_seq, prev_hash = seq + 1, hashlib.sha256(body).digest()
            continue
        if record.log_id != log_id or record.seq != seq:
            problem(seq, "misfiled", f"the body says {record}, stored as {log_id}#{seq}")
        if record.header.prev_hash != prev_hash:
            problem(seq, "broken_chain", "previous hash does not match the record before it")
        cert = keys.get(record.header.key_id)
        if cert is None:
            problem(seq, "unknown_key", "signed by a key no valid certificate names")
        else:
            who = identity_of(cert)
            if who.node_id != log_id or who.purpose != purpose:
                problem(seq, "wrong_signer", f"signed by {who.node_id}'s {who.purpose} key")
            elif not verify_signature(cert, body, signature):
                problem(seq, "bad_signature", "the signature does not match the body")
        if key_in_force and record.header.key_id != key_in_force:
            problem(seq, "retired_key", "signed by a key that was rotated away")
        if revoked_from is not None and seq >= revoked_from:
            problem(seq, "revoked", f"signed after {log_id} was revoked (from seq "
                                    f"{revoked_from})")
        key_in_force = record.head.key_id if isinstance(record.payload, KeyRotated) else (
            key_in_force or record.header.key_id)
        expected_seq, prev_hash = seq + 1, record.hash
    head = logs.head(conn, log_id)
    if head.seq and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        problem(head.seq, "head_mismatch", f"the log head says seq {head.seq}, but the stored "
                                           f"records end at {expected_seq - 1}")


VERIFY_MD = """# Verifying case {case_id}

These files let anyone check, with OpenSSL 3 alone, that each record below was signed by the
node named in its certificate, and that the county CA certified that node. Run the commands
from this folder.

1. The county CA: compare its fingerprint with the one the county publishes.

```sh
openssl x509 -in ca.pem -noout -fingerprint -sha256
```

2. Each signer certificate was issued by the county CA:

```sh
{cert_checks}
```

3. Each record's signature is the signer's Ed25519 signature over exactly the body bytes, and
   its hash is the sha256 of the body (the hash later records of the same log chain onto):

```sh
{record_checks}
```

`records.json` lists every record: its log, seq, hash, previous hash, signer and what it says.
Every record of a log names the hash of the one before it (`prev_hash`); this export holds only
the records of this case, so `hub audit verify` checks the unbroken chains at the county.
"""


def export_case(hub: Hub, case_id: str, out: Path) -> list[dict[str, object]]:
    """Write the case's records, signer certificates, the CA and ``VERIFY.md`` into ``out``."""
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"--out {out} is not empty; give a new folder", code="not_empty")
    with hub.store.db.read() as conn:
        hub.store.get_case(conn, case_id)
        history = hub.store.logs.case_history(conn, case_id)
        if not history:
            raise NotFoundError(f"case {case_id} has no records at the hub")
        certs = {r.header.key_id: hub.store.logs.certificate(conn, r.header.key_id)
                 for r in history}
    (out / "certs").mkdir(parents=True, exist_ok=True)
    (out / "ca.pem").write_bytes(certificate_pem(hub.keys.ca_cert))
    names: dict[bytes, str] = {}
    for key_id, cert in certs.items():
        if cert is None:
            continue
        name = f"certs/{identity_of(cert).node_id}-{key_id.hex()[:8]}"
        (out / f"{name}.pem").write_bytes(certificate_pem(cert))
        names[key_id] = name
    manifest = []
    record_checks = []
    for n, record in enumerate(history, start=1):
        stem = f"{n:03d}"
        (out / f"{stem}-body.bin").write_bytes(record.body)
        (out / f"{stem}-sig.bin").write_bytes(record.signature)
        signer = names.get(record.header.key_id, "")
        manifest.append({
            "n": n, "log_id": record.log_id, "seq": record.seq, "hash": record.hash.hex(),
            "prev_hash": record.header.prev_hash.hex(), "signer": f"{signer}.pem",
            "recorded_at": record.header.recorded_at.isoformat(),
            "payload": type(record.payload).__name__,
        })
        record_checks += [
            f"openssl pkeyutl -verify -pubin -inkey {signer}.pub.pem -rawin "
            f"-in {stem}-body.bin -sigfile {stem}-sig.bin",
            f"test \"$(openssl dgst -sha256 -r {stem}-body.bin | cut -c1-64)\" = "
            f"{record.hash.hex()} && echo '{stem}: hash OK'",
        ]
    cert_checks = []
    for name in sorted(set(names.values())):
        cert_checks += [f"openssl verify -CAfile ca.pem {name}.pem",
                        f"openssl x509 -in {name}.pem -noout -pubkey > {name}.pub.pem"]
    (out / "records.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False),
                                      encoding="utf-8")
    (out / "VERIFY.md").write_text(VERIFY_MD.format(case_id=case_id,
                                                    cert_checks="\n".join(cert_checks),
                                                    record_checks="\n".join(record_checks)),
                                   encoding="utf-8")
    return manifest
