"""Identity and keys (DESIGN §4): who a node is, and the keys that prove it.

Every node holds two keys, both made on the node and certified by the county CA:

* an Ed25519 key that signs records (purpose ``records``), and
* an ECDSA P-256 key for mutual TLS (purpose ``tls``), because gRPC's TLS stack refuses
  Ed25519 certificates in the handshake.

The hub holds a third signing key, the catalog key (purpose ``catalog``, log ``CATALOG``).
A certificate names its holder in two subject alternative names: the node id as a DNS name (so
a client can check the upstream with ``grpc.ssl_target_name_override``) and a URI that carries
the whole identity: ``bianmin://360112/V001?tier=village&parent=HUB&purpose=records``.

This module is pure: it turns keys and certificates into values and checks them. Issuing
certificates is the CA's job (``county_hub``); storing keys is the home folder's (``node.home``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from node.kernel.errors import UsageError, VerificationError

__all__ = [
    "CATALOG_LOG_ID",
    "HUB_NODE_ID",
    "PURPOSES",
    "TIERS",
    "NodeIdentity",
    "Signer",
    "certificate_der",
    "certificate_pem",
    "check_issued_by",
    "check_node_id",
    "fingerprint",
    "identity_of",
    "key_id_of",
    "key_replacement_message",
    "load_certificate",
    "make_csr",
    "new_records_key",
    "new_tls_key",
    "private_key_pem",
    "records_key_admitter",
    "rotation_message",
    "verify_signature",
]

TIERS = ("village", "township", "county")
PURPOSES = ("records", "tls", "catalog")
HUB_NODE_ID = "HUB"
CATALOG_LOG_ID = "CATALOG"
_NODE_ID = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
_COUNTY_CODE = re.compile(r"^[0-9]{6}$")
_URI_SCHEME = "bianmin"


def check_node_id(node_id: str) -> str:
    """A node id is 2-16 upper-case letters and digits, starting with a letter (e.g. ``V001``);
    it appears in case ids, so it may not contain the ``-`` separator."""
    if not _NODE_ID.match(node_id):
        raise UsageError(
            f"node id {node_id!r} is not valid: use 2-16 upper-case letters and digits "
            "starting with a letter, e.g. V001 or T01",
        )
    return node_id


@dataclass(frozen=True, kw_only=True)
class NodeIdentity:
    """What a certificate says about its holder."""

    county_code: str
    node_id: str
    tier: str
    parent: str  # the node id of the upstream this node was enrolled under ("" for the hub)
    purpose: str

    def __post_init__(self) -> None:
        if not _COUNTY_CODE.match(self.county_code):
            raise UsageError(f"county code {self.county_code!r} is not a 6-digit code")
        if self.node_id != CATALOG_LOG_ID:
            check_node_id(self.node_id)
        if self.tier not in TIERS:
            raise UsageError(f"tier {self.tier!r} is not one of {', '.join(TIERS)}")
        if self.purpose not in PURPOSES:
            raise UsageError(f"purpose {self.purpose!r} is not one of {', '.join(PURPOSES)}")

    def uri(self) -> str:
        query = urllib.parse.urlencode(
            {"tier": self.tier, "parent": self.parent, "purpose": self.purpose},
        )
        return f"{_URI_SCHEME}://{self.county_code}/{self.node_id}?{query}"

    @classmethod
    def from_uri(cls, uri: str) -> NodeIdentity:
        parts = urllib.parse.urlsplit(uri)
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        if parts.scheme != _URI_SCHEME or not parts.path.startswith("/"):
            raise VerificationError(f"certificate identity {uri!r} is not a bianmin identity")
        try:
            return cls(
                county_code=parts.netloc,
                node_id=parts.path[1:],
                tier=query["tier"],
                parent=query.get("parent", ""),
                purpose=query["purpose"],
            )
        except (KeyError, UsageError) as exc:
            raise VerificationError(f"certificate identity {uri!r} is malformed: {exc}") from exc

    def with_purpose(self, purpose: str) -> NodeIdentity:
        return NodeIdentity(
            county_code=self.county_code,
            node_id=self.node_id,
            tier=self.tier,
            parent=self.parent,
            purpose=purpose,
        )


@functools.lru_cache(maxsize=4096)
def identity_of(cert: x509.Certificate) -> NodeIdentity:
    """The identity a certificate names, from its bianmin URI subject alternative name.
    Remembered per certificate: ingest asks it for every record, and parsing the extension
    costs a quarter of a signature check."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise VerificationError("certificate has no subject alternative name") from exc
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier)
            if u.startswith(f"{_URI_SCHEME}://")]
    if len(uris) != 1:
        raise VerificationError("certificate must name exactly one bianmin identity")
    return NodeIdentity.from_uri(uris[0])


def new_records_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def new_tls_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rotation_message(node_id: str, records_csr: bytes) -> bytes:
    """What a node's current records key signs to ask for a new one (``RotateKeyRequest``'s
    ``authorization``): so that a township forwarding the request cannot rotate its village's
    key on its own."""
    return (b"bianmin rotate-key v1\0" + node_id.encode() + b"\0"
            + hashlib.sha256(records_csr).digest())


def key_replacement_message(log_id: str, seq: int, prev_hash: bytes, key_id: bytes) -> bytes:
    """What the hub's records key signs to let a node that lost its keys continue its log
    under ``key_id`` at exactly ``log_id#seq`` (chained on ``prev_hash``): ``KeyReplaced``'s
    ``authorization`` (issue 12)."""
    return (b"bianmin key-replacement v1\0" + log_id.encode() + b"\0"
            + seq.to_bytes(8, "big") + prev_hash + key_id)


def key_id_of(public_key: ed25519.Ed25519PublicKey) -> bytes:
    """sha256 of the raw 32-byte Ed25519 public key: how a record names its signing key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()


class Signer:
    """Signs record bodies with a node's Ed25519 key."""

    def __init__(self, private_key: ed25519.Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id_of(private_key.public_key())

    def sign(self, body: bytes) -> bytes:
        return self._key.sign(body)


def verify_signature(cert: x509.Certificate, body: bytes, signature: bytes) -> bool:
    """True if ``signature`` is the certificate's Ed25519 key's signature over ``body``.

    Checked with libsodium (PyNaCl), which does it in half the time of OpenSSL here (see
    docs/benchmarks.md) and is strict: it refuses non-canonical signatures and small-order
    keys. Every tier checks with it, so all of them agree on which records are well signed.
    """
    public_key = cert.public_key()
    if not isinstance(public_key, ed25519.Ed25519PublicKey):
        return False
    try:
        _verifier(public_key.public_bytes_raw()).verify(body, signature)
    except (BadSignatureError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _verifier(raw_public_key: bytes) -> VerifyKey:
    return VerifyKey(raw_public_key)


def make_csr(
    private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    common_name: str,
) -> x509.CertificateSigningRequest:
    """A CSR proving possession of ``private_key``. The CA certifies the identity the
    enrolment token names, not what a CSR asks for, so the CSR carries only a common name."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]),
    )
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private_key, algorithm)


def check_issued_by(cert: x509.Certificate, ca: x509.Certificate,
                    at: dt.datetime | None) -> None:
    """Raise ``VerificationError`` unless ``ca`` signed ``cert`` and, when ``at`` is given,
    both are valid at ``at`` (an audit years later checks the signature only)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise VerificationError(
            f"certificate of {cert.subject.rfc4514_string()} is not issued by the county CA",
        ) from exc
    if at is None:
        return
    for which in (cert, ca):
        if not which.not_valid_before_utc <= at <= which.not_valid_after_utc:
            raise VerificationError(
                f"certificate of {which.subject.rfc4514_string()} is not valid at "
                f"{at.isoformat()} (valid {which.not_valid_before_utc.isoformat()} to "
                f"{which.not_valid_after_utc.isoformat()})",
            )


def records_key_admitter(ca: x509.Certificate, node_id: str,
                         at: dt.datetime | None) -> Callable[[bytes], bytes]:
    """The check of a certificate a ``KeyRotated`` or ``KeyReplaced`` record of ``node_id``'s
    log names: a records certificate (Ed25519) the county CA issued to that node (valid at
    ``at``; None: the signature only, as a replay of old records checks). Returns its key id."""

    def admit(der: bytes) -> bytes:
        cert = load_certificate(der)
        check_issued_by(cert, ca, at)
        who = identity_of(cert)
        public_key = cert.public_key()
        if (who.node_id != node_id or who.purpose != "records"
                or not isinstance(public_key, ed25519.Ed25519PublicKey)):
            raise VerificationError(f"the new certificate is not a records certificate of "
                                    f"{node_id}")
        return key_id_of(public_key)

    return admit


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise VerificationError(f"not a readable certificate: {exc}") from exc


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def certificate_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def fingerprint(cert: x509.Certificate) -> str:
    """sha256 of the DER certificate, hex: what an enrolment token pins."""
    return cert.fingerprint(hashes.SHA256()).hex()


def private_key_pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
