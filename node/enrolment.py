"""Enrolling a node (DESIGN §4), the node's side: make keys here, send CSRs with the token.

The token reads ``bm1.<secret>.<CA fingerprint>``. The node first reads the county CA from the
enrolment server's TLS chain and keeps it only if it matches the fingerprint; then it enrols
over TLS verified against that CA, checks that what comes back is issued by it and certifies
the keys it made, and only then writes its home folder -- all at once, by renaming a scratch
folder, so a failed enrolment leaves nothing half made.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from node.errmap import from_sync_error
from node.home import NodeConfig, write_certificate, write_private_key
from node.kernel.clock import Clock
from node.kernel.errors import ConfigError, UsageError, VerificationError
from node.kernel.identity import (
    HUB_NODE_ID,
    certificate_pem,
    check_issued_by,
    check_node_id,
    identity_of,
    load_certificate,
    make_csr,
    new_records_key,
    new_tls_key,
)
from node.recovery import CATCHING_UP, save_grant
from node.store.db import Database, sqlite_url
from node.store.sql import NodeStore
from sync import EnrolRequest, KeyReplacementGrant, SyncError
from sync.client import enrol
from sync.tls import fetch_pinned_ca, parse_address

__all__ = ["NODE_MIGRATIONS", "TOKEN_PREFIX", "default_enrol_address", "init_node",
           "parse_token"]

TOKEN_PREFIX = "bm1"  # noqa: S105 -- a format tag, not a secret
NODE_MIGRATIONS = "node:migrations"


def parse_token(token: str) -> tuple[str, str]:
    """``(secret, ca_fingerprint)`` of an enrolment token, or ``UsageError``."""
    parts = token.strip().split(".")
    if (len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or len(parts[2]) != 64
            or any(c not in "0123456789abcdef" for c in parts[2].lower())):
        raise UsageError("that is not an enrolment token: tokens look like bm1.<secret>.<64 "
                         "hex digits>, as printed by 'bianmin hub token'", code="bad_token")
    return parts[1], parts[2].lower()


def default_enrol_address(upstream: str) -> str:
    """By convention the enrolment port is the sync port plus one."""
    host, port = parse_address(upstream)
    return f"{host}:{port + 1}"


def init_node(home: Path, *, upstream: str, token: str, clock: Clock,
              enrol_address: str | None = None, node_id: str | None = None,
              fallback: str | None = None, replacing: bool = False) -> NodeConfig:
    """Enrol a node into an empty ``home``. ``replacing``: the token is a key-replacement
    token (``hub token --replace-keys``) for a node that lost its keys; the home then also
    keeps the county's leave to continue the log (``KEY_REPLACEMENT``), used by the first sync
    once the log is fetched back (``node.recovery``)."""
    if (home / "node.toml").exists():
        raise UsageError(f"{home} already holds an enrolled node", code="already_initialized")
    if home.exists() and any(home.iterdir()):
        raise UsageError(f"{home} exists and is not empty; choose a new --home",
                         code="already_initialized")
    if node_id is not None:
        check_node_id(node_id)
    try:
        parse_address(upstream)
    except ValueError as exc:
        raise UsageError(f"--upstream {upstream!r} is not HOST:PORT") from exc
    _secret, ca_fp = parse_token(token)
    enrol_at = enrol_address or default_enrol_address(upstream)
    enrolled = _enrol(enrol_at, token, ca_fp, node_id, clock, replacing=replacing)
    who = identity_of(enrolled.records_cert)
    if replacing != (enrolled.grant is not None):  # the hub checks it before it changes a thing
        raise VerificationError("the hub's answer does not match the kind of token sent")
    if fallback:
        try:
            parse_address(fallback)
        except ValueError as exc:
            raise UsageError(f"--fallback {fallback!r} is not HOST:PORT") from exc
    config = NodeConfig.model_validate({
        "node_id": who.node_id, "tier": who.tier, "county_code": who.county_code,
        "name": enrolled.name, "upstream": upstream,
        "upstream_node_id": enrolled.upstream_node_id, "fallback": fallback or "",
        "fallback_node_id": HUB_NODE_ID if fallback else "", "enrol": enrol_at})
    _write_home(home, config, enrolled, clock)
    return config


@dataclass(frozen=True, kw_only=True)
class _Enrolled:
    records_key: ed25519.Ed25519PrivateKey
    tls_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    records_cert: x509.Certificate
    tls_cert: x509.Certificate
    upstream_certs: tuple[x509.Certificate, ...]
    name: str
    upstream_node_id: str
    grant: KeyReplacementGrant | None = None


def _enrol(enrol_at: str, token: str, ca_fp: str, node_id: str | None,
           clock: Clock, *, replacing: bool = False) -> _Enrolled:
    """Pin the CA, send CSRs, and check that what comes back certifies our keys."""
    records_key, tls_key = new_records_key(), new_tls_key()
    der = serialization.Encoding.DER
    try:
        ca = load_certificate(fetch_pinned_ca(enrol_at, ca_fp))
        reply = enrol(
            enrol_at,
            EnrolRequest(token=token.strip(), node_id=node_id or "",
                         records_csr=make_csr(records_key, node_id or "NODE").public_bytes(der),
                         tls_csr=make_csr(tls_key, node_id or "NODE").public_bytes(der),
                         replace_keys=replacing),
            ca_pem=certificate_pem(ca), expected_node_id=HUB_NODE_ID,
        )
    except SyncError as exc:
        raise from_sync_error(exc) from exc
    now = clock.now()
    records_cert = load_certificate(reply.records_certificate)
    tls_cert = load_certificate(reply.tls_certificate)
    upstream_certs = tuple(load_certificate(d) for d in reply.upstream_certificates)
    if load_certificate(reply.ca_certificate) != ca:
        raise VerificationError("the hub answered with a different CA than the one pinned")
    for cert in (records_cert, tls_cert, *upstream_certs):
        check_issued_by(cert, ca, now)
    if (records_cert.public_key() != records_key.public_key()
            or tls_cert.public_key() != tls_key.public_key()):
        raise VerificationError("the certificates returned do not certify this node's keys")
    return _Enrolled(records_key=records_key, tls_key=tls_key, ca=ca,
                     records_cert=records_cert, tls_cert=tls_cert,
                     upstream_certs=upstream_certs, name=reply.name,
                     upstream_node_id=reply.upstream_node_id, grant=reply.key_replacement)


def _write_home(home: Path, config: NodeConfig, enrolled: _Enrolled, clock: Clock) -> None:
    home.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{home.name}.init-", dir=home.parent))
    try:
        write_private_key(scratch / "keys" / "records.key", enrolled.records_key)
        write_private_key(scratch / "keys" / "tls.key", enrolled.tls_key)
        write_certificate(scratch / "certs" / "ca.pem", enrolled.ca)
        write_certificate(scratch / "certs" / "records.pem", enrolled.records_cert)
        write_certificate(scratch / "certs" / "tls.pem", enrolled.tls_cert)
        db = Database(sqlite_url(scratch / "node.db"), migrations=NODE_MIGRATIONS)
        try:
            db.upgrade()
            with NodeStore(db, clock).transaction() as tx:
                for cert in (enrolled.records_cert, *enrolled.upstream_certs):
                    tx.add_certificate(cert)
                if enrolled.grant is not None:  # its log comes back first (node.recovery)
                    tx.set_mark(CATCHING_UP, 1)
        finally:
            db.close()
        if enrolled.grant is not None:
            save_grant(scratch, enrolled.grant)
        config.save(scratch)
        if home.exists():
            home.rmdir()
        os.replace(scratch, home)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def check_home(home: Path) -> None:
    if not (home / "node.toml").exists():
        raise ConfigError(f"{home} is not a node home: run 'bianmin node init --home {home} "
                          "--upstream HOST:PORT --token TOKEN' first")
