"""Audit (DESIGN §3, §7): re-verify every stored record from its raw bytes, and export a case
so that anyone can check it with ``openssl`` alone, years later, without this software.

``verify_all`` runs the very checks ingest runs -- the one verifier (``node.kernel.chain``:
body, signer, signature, chain, revocation, key in force) and the authority table
(``node.kernel.authority``: who may say what) -- in their collect-every-problem mode, over
everything the hub holds, and lists every problem (STYLE §10, §21). The facts the rules need
are rebuilt from the stored records themselves where they can be (which log submitted which
case), and read from what the county keeps beside them where they cannot (enrolled nodes,
when each record arrived, how grants ended, which log uploaded which attachment).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519

from county_hub.hub import Hub
from county_hub.store import HubReader
from node.kernel.authority import AUTHORITY, REASONS, CaseInfo, GrantInfo, NodeInfo, judge_batch
from node.kernel.chain import chain_batch, check_records
from node.kernel.clock import from_ms
from node.kernel.errors import NotFoundError, UsageError, VerificationError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    HUB_NODE_ID,
    certificate_pem,
    check_issued_by,
    identity_of,
    key_id_of,
    records_key_admitter,
)
from node.kernel.payloads import ActionRefused, CaseSubmitted
from node.kernel.records import LogHead, Record, Verdict, parse_record

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
    # records an authority rule refused at receipt, standing in their log without effect and
    # answered by the county's signed refusal: as the rules say, not a problem
    without_effect: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


class _Keyring:
    def __init__(self, keys: dict[bytes, x509.Certificate]) -> None:
        self._keys = keys

    def certificate(self, key_id: bytes) -> x509.Certificate | None:
        return self._keys.get(key_id)


@dataclass(kw_only=True)
class _AuditFacts:
    """``node.kernel.authority.Facts`` rebuilt for audit: cases from the stored submissions,
    the rest from what the county keeps; ``now`` is each record's own arrival."""

    reader: HubReader
    county_code: str
    submissions: dict[str, tuple[str, int, CaseInfo]]  # case id -> first (log, seq, case)
    complete: Callable[[list[bytes]], set[bytes]]
    judging: str = ""  # the log being judged: its own submissions come in order
    seen: dict[str, CaseInfo] = field(default_factory=dict)
    now: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    receiver: str = HUB_NODE_ID
    skew_tolerance: dt.timedelta = dt.timedelta(minutes=10)
    answered: set[tuple[str, int]] = field(default_factory=set)  # refused by the county's log

    def node(self, node_id: str) -> NodeInfo | None:
        row = self.reader.node(node_id)
        return None if row is None else NodeInfo(node_id=row.node_id, tier=row.tier,
                                                 parent=row.parent)

    def prefetch(self, case_ids: Sequence[str]) -> None:
        """Audit knows every submission already (``_submissions``)."""

    def case(self, case_id: str) -> CaseInfo | None:
        if case_id in self.seen:
            return self.seen[case_id]
        first = self.submissions.get(case_id)
        if first is None or first[0] == self.judging:
            return None
        return first[2]

    def grant(self, record_hash: bytes) -> GrantInfo | None:
        row = self.reader.grant(record_hash)
        return None if row is None else row.info

    def attachments(self, log_id: str,
                    hashes: Sequence[bytes]) -> tuple[set[bytes], set[bytes]]:
        return self.complete(list(hashes)), self.reader.claimed(log_id, hashes)

    def not_before(self, key_id: bytes) -> dt.datetime | None:
        return None  # time is flagged, not a problem: audit does not look at it


def verify_all(hub: Hub) -> AuditReport:
    from county_hub.blobs import DbBlobStore  # noqa: PLC0415 -- audit only

    report = AuditReport()
    with hub.store.reading() as r:
        keys = _certificates(hub, r, report)
        log_ids = r.all_log_ids()
        stored = {log_id: list(r.iter_log(log_id)) for log_id in log_ids}
        submissions = _submissions(hub, r, stored)
        facts = _AuditFacts(reader=r, county_code=hub.config.county_code,
                            submissions=submissions,
                            complete=DbBlobStore(hub.store.db, hub.clock).complete,
                            answered=_answered(stored.get(HUB_NODE_ID, [])))
        for log_id in log_ids:
            report.logs += 1
            _verify_log(hub, r, log_id, stored[log_id], keys, facts, report)
    return report


def _certificates(hub: Hub, reader: HubReader,
                  report: AuditReport) -> dict[bytes, x509.Certificate]:
    keys: dict[bytes, x509.Certificate] = {}
    for cert in reader.all_certificates():
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


Stored = list[tuple[int, bytes, bytes, bytes, int]]  # seq, hash, body, signature, stored_at_ms


def _submissions(hub: Hub, reader: HubReader,
                 stored: dict[str, Stored]) -> dict[str, tuple[str, int, CaseInfo]]:
    """Which log first submitted each case, from the stored submissions themselves."""
    found: dict[str, tuple[str, int, CaseInfo]] = {}
    for log_id, rows in stored.items():
        if log_id in (HUB_NODE_ID, CATALOG_LOG_ID):
            continue
        for seq, _hash, body, signature, _at in rows:
            try:
                payload = parse_record(body, signature).payload
            except VerificationError:
                continue
            if isinstance(payload, CaseSubmitted) and payload.case_id not in found:
                decided_by = "county"
                try:
                    item = hub.catalog_version(reader, payload.catalog_version).catalog.item(
                        payload.item_code)
                    decided_by = item.decided_by if item else "county"
                except NotFoundError:
                    pass
                found[payload.case_id] = (log_id, seq, CaseInfo(
                    case_id=payload.case_id, origin=log_id, item_code=payload.item_code,
                    decided_by=decided_by))
    return found


def _answered(rows: Stored) -> set[tuple[str, int]]:
    """The records the county's own log answered with a signed refusal (its signatures are
    audited with the rest of that log)."""
    found: set[tuple[str, int]] = set()
    for _seq, _hash, body, signature, _at in rows:
        try:
            payload = parse_record(body, signature).payload
        except VerificationError:
            continue
        if isinstance(payload, ActionRefused):
            found.add((payload.refused_log_id, payload.refused_seq))
    return found


def _verify_log(hub: Hub, reader: HubReader, log_id: str, rows: Stored,
                keys: dict[bytes, x509.Certificate], facts: _AuditFacts,
                report: AuditReport) -> None:
    def problem(seq: int, code: str, message: str) -> None:
        report.problems.append(Problem(log_id=log_id, seq=seq, code=code, message=message))

    expected = 1
    for seq, stored_hash, body, _sig, _at in rows:
        report.records += 1
        if seq != expected:
            problem(seq, "gap", f"records {expected}-{seq - 1} are missing")
        if hashlib.sha256(body).digest() != stored_hash:
            problem(seq, "hash_mismatch", "the stored hash is not the sha256 of the stored body")
        expected = seq + 1
    raw = [(body, sig) for _s, _h, body, sig, _a in rows]
    checked = check_records(raw, log_id=log_id, keyring=_Keyring(keys))
    placed = chain_batch(checked, log_id=log_id, head=LogHead(), known_hash=lambda _s: None,
                         revoked_from=reader.revoked_from(log_id),
                         admit_key=records_key_admitter(hub.keys.ca_cert, log_id, None),
                         keyring=_Keyring(keys), collect=True)
    for verdict, (seq, *_rest) in zip(placed.verdicts, rows, strict=True):
        if verdict.verdict is Verdict.REFUSED:
            problem(seq, verdict.reason_code, verdict.message)
    _judge_log(log_id, placed.verdicts, rows, facts, problem, report)
    head = reader.head(log_id)
    last_seq = rows[-1][0] if rows else 0
    last_hash = rows[-1][1] if rows else b""
    if head.seq and (head.seq != last_seq or head.hash != last_hash):
        problem(head.seq, "head_mismatch", f"the log head says seq {head.seq}, but the stored "
                                           f"records end at {last_seq}")


def _judge_log(log_id: str, verdicts: Sequence[object], rows: Stored, facts: _AuditFacts,
               problem: Callable[[int, str, str], None], report: AuditReport) -> None:
    """The authority rules over the log's records, each as of its own arrival."""
    facts.judging = log_id
    facts.seen = {}
    previous = None
    for verdict, (_seq, _h, _b, _s, stored_at) in zip(verdicts, rows, strict=True):
        record = getattr(verdict, "record", None)
        if not isinstance(record, Record):
            continue
        facts.now = from_ms(stored_at)
        judgement = judge_batch([record], facts, previous_time=previous,
                                items=_items(facts, record))[0]
        previous = record.header.recorded_at
        if (not judgement.allowed and judgement.code in AUTHORITY
                and (log_id, record.seq) in facts.answered):
            report.without_effect += 1
        elif not judgement.allowed and REASONS.get(judgement.code) is not None:
            problem(record.seq, judgement.code, judgement.message)
        payload = record.payload
        if isinstance(payload, CaseSubmitted) and judgement.allowed:
            facts.seen[payload.case_id] = CaseInfo(
                case_id=payload.case_id, origin=log_id, item_code=payload.item_code,
                decided_by=_items(facts, record).get(payload.item_code, "county"))


def _items(facts: _AuditFacts, record: Record) -> dict[str, str]:
    payload = record.payload
    if isinstance(payload, CaseSubmitted):
        first = facts.submissions.get(payload.case_id)
        if first is not None:
            return {payload.item_code: first[2].decided_by}
    return {}


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
    with hub.store.reading() as r:
        if r.cases.get(case_id) is None:
            raise NotFoundError(f"case {case_id} is not at the hub; has its node synced? "
                                "('bianmin hub cases' lists what the hub holds)")
        history = r.case_history(case_id)
        if not history:
            raise NotFoundError(f"case {case_id} has no records at the hub")
        certs = {rec.header.key_id: r.certificate(rec.header.key_id) for rec in history}
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
