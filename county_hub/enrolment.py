"""Enrolment (DESIGN §4): one-time tokens made by an operator, exchanged for certificates.

``hub token`` stores only the sha256 of the token's secret. The token a node is given reads
``bm1.<secret>.<CA fingerprint>``: the fingerprint lets the node pin the county CA before it
trusts the server it enrols with. The node makes its keys itself and sends CSRs; the CA
certifies the identity the *token* names, so a CSR cannot ask for more.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from cryptography import x509

from county_hub.ca import check_csr, issue_certificate
from county_hub.hub import Hub
from county_hub.store import HubTransaction
from node.enrolment import TOKEN_PREFIX, parse_token
from node.kernel.errors import PeerError, UsageError
from node.kernel.identity import (
    HUB_NODE_ID,
    TIERS,
    NodeIdentity,
    certificate_der,
    check_node_id,
    fingerprint,
    key_replacement_message,
)
from node.kernel.records import REPLACEMENT_PENDING, LogHead
from node.kernel.text import text_problem
from sync import EnrolReply, EnrolRequest, KeyReplacementGrant

__all__ = ["IssuedToken", "enrol", "issue_token"]

DEFAULT_TOKEN_TTL = dt.timedelta(days=7)


class EnrolmentRefused(PeerError):
    code = "enrolment_refused"


@dataclass(frozen=True, kw_only=True)
class IssuedToken:
    token: str
    node_id: str
    tier: str
    name: str
    parent: str
    expires_at: dt.datetime
    ca_fingerprint: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(hub: Hub, *, node_id: str, tier: str = "", name: str = "", parent: str = "",
                ttl: dt.timedelta = DEFAULT_TOKEN_TTL, replace_keys: str = "") -> IssuedToken:
    """A one-time token that enrols ``node_id``; with ``replace_keys`` (the reason: "box
    stolen"), a token for a node already enrolled whose keys were lost, which re-enrols it
    under new keys: its log continues after the last record the county holds."""
    check_node_id(node_id)
    if replace_keys:
        return _replacement_token(hub, node_id=node_id, reason=replace_keys, ttl=ttl)
    if tier not in TIERS or tier == "county":
        raise UsageError(f"tier {tier!r}: enrol a village or a township", code="bad_tier")
    if node_id in (HUB_NODE_ID,):
        raise UsageError(f"node id {node_id} is reserved for the hub", code="reserved_node_id")
    parent = parent or HUB_NODE_ID
    now = hub.clock.now()
    secret = _secret()
    with hub.store.transaction() as tx:
        if tx.node(node_id) is not None:
            raise UsageError(f"node {node_id} is already enrolled", code="already_enrolled")
        if parent != HUB_NODE_ID:
            up = tx.node(parent)
            if up is None or up.tier != "township":
                raise UsageError(f"parent {parent} is not an enrolled township",
                                 code="bad_parent")
        tx.add_token(token_hash=_hash(secret), node_id=node_id, tier=tier,
                     name=name or node_id, parent=parent, expires_at=now + ttl)
    ca_fp = fingerprint(hub.keys.ca_cert)
    return IssuedToken(token=f"{TOKEN_PREFIX}.{secret}.{ca_fp}", node_id=node_id, tier=tier,
                       name=name or node_id, parent=parent, expires_at=now + ttl,
                       ca_fingerprint=ca_fp)


def _replacement_token(hub: Hub, *, node_id: str, reason: str,
                       ttl: dt.timedelta) -> IssuedToken:
    reason = reason.strip()
    problem = text_problem(reason, max_length=200)
    if problem is not None:
        raise UsageError(f"the reason {problem}", code="bad_text")
    if not reason:
        raise UsageError("say why the keys are replaced (--replace-keys REASON: 'box stolen')",
                         code="reason_required")
    now = hub.clock.now()
    secret = _secret()
    with hub.store.transaction() as tx:
        node = tx.node(node_id)
        if node is None:
            raise UsageError(f"node {node_id} is not enrolled: a key-replacement token is for "
                             "a node that lost its keys; enrol a new node without "
                             "--replace-keys", code="not_enrolled")
        if tx.revocation(node_id) is not None:
            raise UsageError(f"node {node_id} is revoked; a revoked node is not re-enrolled",
                             code="revoked")
        tx.add_token(token_hash=_hash(secret), node_id=node_id, tier=node.tier,
                     name=node.name, parent=node.parent, expires_at=now + ttl,
                     replaces_keys=True, reason=reason)
        tx.add_trail(kind="KeyReplacementToken", node_id=node_id, detail=reason)
    ca_fp = fingerprint(hub.keys.ca_cert)
    return IssuedToken(token=f"{TOKEN_PREFIX}.{secret}.{ca_fp}", node_id=node_id,
                       tier=node.tier, name=node.name, parent=node.parent,
                       expires_at=now + ttl, ca_fingerprint=ca_fp)


def _secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode().lower().rstrip("=")


def enrol(hub: Hub, request: EnrolRequest) -> EnrolReply:
    """Check the token and the CSRs, certify the keys, mark the token used -- atomically."""
    secret, ca_fp = parse_token(request.token)
    if ca_fp != fingerprint(hub.keys.ca_cert):
        raise EnrolmentRefused("this token was made by another county's hub (its CA "
                               "fingerprint differs); ask this county for a token",
                               code="token_unknown")
    records_csr = _csr(request.records_csr, "records")
    tls_csr = _csr(request.tls_csr, "tls")
    now = hub.clock.now()
    token_hash = _hash(secret)
    with hub.store.transaction() as tx:
        row = tx.token(token_hash)
        if row is None:
            raise EnrolmentRefused("enrolment token is not known to this hub; ask the county "
                                   "for a new one", code="token_unknown")
        if row.used_at is not None:
            raise EnrolmentRefused(f"enrolment token for {row.node_id} was already used at "
                                   f"{row.used_at.isoformat()}; a token works once -- ask the "
                                   "county for a new one", code="token_used")
        if row.expires_at < now:
            raise EnrolmentRefused(f"enrolment token for {row.node_id} expired at "
                                   f"{row.expires_at.isoformat()}; ask the county for a new one",
                                   code="token_expired")
        if request.node_id and request.node_id != row.node_id:
            raise EnrolmentRefused(f"this token was issued for node {row.node_id}, not "
                                   f"{request.node_id}", code="node_mismatch")
        if row.replaces_keys and not request.replace_keys:
            raise EnrolmentRefused(
                f"this token replaces the lost keys of {row.node_id}, which is already "
                "enrolled: use it with 'bianmin node recover --token' on the new box",
                code="replacement_token")
        if request.replace_keys and not row.replaces_keys:
            raise EnrolmentRefused(f"this token enrols a new node ({row.node_id}), it replaces "
                                   "no keys: use it with 'bianmin node init'",
                                   code="not_a_replacement")
        if row.replaces_keys:
            if tx.node(row.node_id) is None or tx.revocation(row.node_id) is not None:
                raise EnrolmentRefused(f"node {row.node_id} is no longer enrolled here (revoked "
                                       "since the token was made)", code="token_unknown")
        elif tx.node(row.node_id) is not None:
            raise EnrolmentRefused(f"node {row.node_id} is already enrolled",
                                   code="already_enrolled")
        certs = {}
        for purpose, csr in (("records", records_csr), ("tls", tls_csr)):
            identity = NodeIdentity(county_code=hub.config.county_code, node_id=row.node_id,
                                    tier=row.tier, parent=row.parent, purpose=purpose)
            certs[purpose] = issue_certificate(
                ca_key=hub.keys.ca_key, ca_cert=hub.keys.ca_cert,
                public_key=csr.public_key(),  # type: ignore[arg-type]  # checked by check_csr
                identity=identity, now=now)
        if not tx.use_token(token_hash):
            raise EnrolmentRefused("enrolment token was used by another request just now",
                                   code="token_used")
        grant = None
        key_id: bytes | None
        if row.replaces_keys:
            tx.set_tls_fingerprint(row.node_id, fingerprint(certs["tls"]))
            key_id = tx.add_certificate(certs["records"])
            grant = _replace_keys(hub, tx, row.node_id, key_id or b"", row.reason)
        else:
            tx.add_node(node_id=row.node_id, tier=row.tier, name=row.name, parent=row.parent,
                        tls_fingerprint=fingerprint(certs["tls"]))
            key_id = tx.add_certificate(certs["records"])
            # the enrolled key is the one in force for the node's first record (DESIGN §4)
            tx.set_head(row.node_id, LogHead(key_id=key_id or b""))
    return EnrolReply(
        records_certificate=certificate_der(certs["records"]),
        tls_certificate=certificate_der(certs["tls"]),
        ca_certificate=certificate_der(hub.keys.ca_cert),
        upstream_certificates=(certificate_der(hub.keys.records_cert),
                               certificate_der(hub.keys.catalog_cert)),
        county_code=hub.config.county_code,
        tier=row.tier,
        upstream_node_id=row.parent,  # a village under a township syncs with the township
        name=row.name,
        key_replacement=grant,
    )


def _replace_keys(hub: Hub, tx: HubTransaction, node_id: str, key_id: bytes,
                  reason: str) -> KeyReplacementGrant:
    """The county's leave for ``node_id`` to continue its log under ``key_id`` right after the
    last record the county holds; until its ``KeyReplaced`` comes, no other record is
    accepted on the log (``REPLACEMENT_PENDING``): the lost key signs nothing more here."""
    head = tx.lock_head(node_id)
    seq = head.seq + 1
    authorization = hub.keys.records.sign(
        key_replacement_message(node_id, seq, head.hash, key_id))
    tx.set_head(node_id, LogHead(seq=head.seq, hash=head.hash, key_id=REPLACEMENT_PENDING))
    tx.add_trail(kind="KeyReplaced", node_id=node_id,
                 detail=f"new records key {key_id.hex()[:16]} from {node_id}#{seq}: {reason}")
    return KeyReplacementGrant(after_seq=head.seq, prev_hash=head.hash,
                               authorization=authorization,
                               hub_key_id=hub.keys.records.key_id, reason=reason)


def _csr(der: bytes, purpose: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_der_x509_csr(der)
    except ValueError as exc:
        raise UsageError(f"{purpose} CSR is not a DER certificate signing request",
                         code="bad_csr") from exc
    check_csr(csr, purpose)
    return csr
